// The slice grid (GET /admin/slices: one cell per live slice, green / yellow / red with its state,
// WhatsApp state, memory against its limit and restarts) and one slice's page (its details, memory
// timeline from GET /admin/telemetry/slices/{id}, suspend / resume / destroy).
import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { Link } from '../router.js';
import { useTitle } from '../ui.js';
import { TimeChart } from './chart.js';
import { Freshness, LoadState, RangePicker, SliceActions, StateBadge, bytes, gridColour, kGridWords, useLoad } from './common.js';

/// user id → email, from GET /admin/users (the slice list carries only the id).
function useOwners() {
  const users = useLoad('/admin/users');
  const owners = {};
  for (const u of (users.data && users.data.items) || []) {
    owners[u.id] = u.email;
  }
  return owners;
}

const memoryText = (s) => (s.memory_limit_bytes
  ? `${bytes(s.memory_bytes)} of ${bytes(s.memory_limit_bytes)}` : bytes(s.memory_bytes));

function Cell({ slice: s, owner }) {
  const colour = gridColour(s);
  return html`<li class=${`cell cell-${colour}`} data-slice=${s.id} data-grid=${colour} data-state=${s.state}>
    <${Link} href=${`/app/admin/slices/${s.id}`}>
      <span class="cell-head"><strong>Slice ${s.id}</strong><span class="cell-word">${kGridWords[colour]}</span></span>
      <span class="cell-owner">${owner || (s.state === 'available' ? 'warm, unassigned' : '—')}</span>
      <span class="cell-facts">
        <span><${StateBadge} state=${s.state} /> ${s.health}</span>
        <span>WhatsApp ${s.wa_state || '—'}</span>
        <span>Memory ${memoryText(s)}</span>
        <span>Restarts ${s.restarts ?? 0}</span>
      </span>
    </${Link}>
  </li>`;
}

export function SliceGrid() {
  useTitle('Slices');
  const load = useLoad('/admin/slices', 30000);
  const owners = useOwners();
  const items = load.data ? load.data.items.filter((s) => s.state !== 'destroyed') : [];
  return html`<section class="page slices">
    <div class="page-head"><h1>Slices</h1><${Freshness} load=${load} /></div>
    <p class="muted legend">
      <span><span class="dot dot-green" aria-hidden="true"></span> OK</span>
      <span><span class="dot dot-yellow" aria-hidden="true"></span> Warning: an open warning alert, memory over 80 % of the limit, or restarting</span>
      <span><span class="dot dot-red" aria-hidden="true"></span> Down or critical: process down, crash loop, WhatsApp disconnected, or a critical alert</span>
    </p>
    <${LoadState} load=${load} what="the slices" />
    ${load.data && (items.length
      ? html`<ul class="grid" aria-label="Slices">${items.map((s) => html`<${Cell} key=${s.id} slice=${s} owner=${owners[s.user_id]} />`)}</ul>`
      : html`<p class="empty">No slices yet.</p>`)}
  </section>`;
}

export function SliceDetail({ id }) {
  useTitle(`Slice ${id}`);
  const load = useLoad(`/admin/slices/${id}`, 30000);
  const owners = useOwners();
  const [range, setRange] = useState('24h');
  const series = useLoad(`/admin/telemetry/slices/${id}?range=${range}`);
  const s = load.data;
  const owner = s && owners[s.user_id];
  const colour = s && gridColour(s);
  return html`<section class="page slice-detail">
    <p><${Link} href="/app/admin/slices">← All slices</${Link}></p>
    <div class="page-head"><h1>Slice ${id}${owner ? ` · ${owner}` : ''}</h1><${Freshness} load=${load} /></div>
    <${LoadState} load=${load} what=${`slice ${id}`} />
    ${s && html`<div class="card stack">
      <p class=${`cell-line cell-${colour}`} data-grid=${colour}><span class=${`dot dot-${colour}`} aria-hidden="true"></span>
        ${kGridWords[colour]}</p>
      <dl class="facts">
        <div><dt>State</dt><dd data-fact="state"><${StateBadge} state=${s.state} /></dd></div>
        <div><dt>Health</dt><dd>${s.health}</dd></div>
        <div><dt>WhatsApp</dt><dd>${s.wa_state || '—'}</dd></div>
        <div><dt>Memory</dt><dd>${memoryText(s)}</dd></div>
        <div><dt>Storage</dt><dd>${s.storage_quota_bytes ? `${bytes(s.storage_bytes)} of ${bytes(s.storage_quota_bytes)}` : bytes(s.storage_bytes)}</dd></div>
        <div><dt>Restarts</dt><dd>${s.restarts ?? 0}</dd></div>
        <div><dt>Process</dt><dd>${s.pid || '—'}</dd></div>
        <div><dt>Channel</dt><dd>${s.channel || 'default'}</dd></div>
      </dl>
      ${s.last_error && html`<p class="alert alert-warning">Last error: ${s.last_error}</p>`}
      <${SliceActions} slice=${s} who=${owner || `Slice ${s.id}`} onDone=${() => load.reload()} />
    </div>`}
    <div class="page-head"><h2>Memory over time</h2><${RangePicker} value=${range} onChange=${setRange} /></div>
    <${LoadState} load=${series} what="the slice's telemetry" />
    ${series.data && html`<div class="charts">
      <${TimeChart} title="Memory" points=${series.data.points} format=${bytes}
        series=${[{ key: 'rss_bytes', label: 'RSS' }, { key: 'pss_bytes', label: 'PSS' }, { key: 'swap_bytes', label: 'Swap' }]} />
      <${TimeChart} title="CPU" points=${series.data.points} format=${(v) => `${Math.round(v)} %`}
        series=${[{ key: 'cpu_percent', label: 'CPU' }]} />
    </div>`}
  </section>`;
}
