// The deployment at a glance (GET /admin/overview): server RAM, swap, CPU and disk, the slices by
// state and grid colour, open alerts, capacity used against the maximum, and the server charts
// (RAM vs swap, swap-in rate) over 24 h / 7 d / 30 d.
import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { Link } from '../router.js';
import { Badge, Progress, formatTime, useTitle } from '../ui.js';
import { TimeChart } from './chart.js';
import { Freshness, LoadState, RangePicker, bytes, kGridWords, percent, useLoad } from './common.js';

function Meter({ label, used, total }) {
  return used === null || used === undefined || !total
    ? html`<div class="progress-row"><span class="progress-label">${label}</span><span></span>
        <span class="progress-value">${bytes(used)}</span></div>`
    : html`<${Progress} label=${label} value=${used} max=${total} text=${`${bytes(used)} of ${bytes(total)}`} />`;
}

function Server({ server }) {
  if (!server || !server.ts) {
    return html`<p class="muted">No server telemetry yet: the monitor records it every minute.</p>`;
  }
  return html`<div class="stack meters">
    <${Meter} label="RAM" used=${server.ram_used_bytes} total=${server.ram_total_bytes} />
    <${Meter} label="Swap" used=${server.swap_used_bytes} total=${server.swap_total_bytes} />
    <${Meter} label="Disk" used=${server.disk_used_bytes} total=${server.disk_total_bytes} />
    <dl class="facts">
      <div><dt>CPU</dt><dd data-fact="cpu">${percent(server.cpu_percent)}</dd></div>
      <div><dt>Load (1 min)</dt><dd>${server.load1 ?? '—'}</dd></div>
      <div><dt>Swap-ins</dt><dd>${server.swapin_pages_per_s ?? '—'} pages/s</dd></div>
      <div><dt>PostgreSQL connections</dt><dd>${server.pg_connections ?? '—'}</dd></div>
    </dl>
    <p class="hint">Measured ${formatTime(server.ts)}.</p>
  </div>`;
}

function Slices({ slices }) {
  const health = slices.by_health || {};
  return html`<div class="stack">
    <p class="big"><strong data-fact="slices-total">${slices.total}</strong> slices</p>
    <ul class="counts-list">
      ${['green', 'yellow', 'red'].map((c) => html`<li key=${c}><span class=${`dot dot-${c}`} aria-hidden="true"></span>
        ${kGridWords[c]}: <strong data-health=${c}>${health[c] || 0}</strong></li>`)}
    </ul>
    <p class="muted">${Object.entries(slices.by_state || {}).map(([k, v]) => `${k} ${v}`).join(' · ')}</p>
    <${Link} href="/app/admin/slices">Open the slice grid</${Link}>
  </div>`;
}

function Capacity({ capacity, server }) {
  const ram = server && server.ram_total_bytes;
  return html`<div class="stack">
    ${capacity.slices_max
      ? html`<${Progress} label="Slices" value=${capacity.slices_used} max=${capacity.slices_max}
          text=${`${capacity.slices_used} of ${capacity.slices_max}`} />`
      : html`<p>${capacity.slices_used} slices in use; no measurement to project a maximum yet.</p>`}
    ${capacity.slices_max ? html`<p data-fill>${capacity.fills_on
      ? `At the recent growth the server is full around ${capacity.fills_on} (${capacity.binding === 'disk' ? 'disk' : 'RAM'} first).`
      : capacity.history_days < 1
        ? `A fill date needs a day of samples (${Math.round(capacity.history_days * 24)} h so far).`
        : 'Slices are not growing: no fill date.'}</p>` : null}
    ${ram ? html`<${Meter} label="Limits" used=${capacity.memory_limit_bytes_total} total=${ram} />`
      : html`<p>Memory limits: ${bytes(capacity.memory_limit_bytes_total)} in all.</p>`}
    <p class="hint">The maximum fills RAM and disk to 70 % at the slices' measured footprint
      (<code>crmctl capacity --live</code>). "Limits" is the sum of the slices' memory limits against the server's RAM.</p>
  </div>`;
}

export function Overview() {
  useTitle('Overview');
  const load = useLoad('/admin/overview', 30000);
  const [range, setRange] = useState('24h');
  const series = useLoad(`/admin/telemetry/server?range=${range}`);
  const o = load.data;
  const points = series.data ? series.data.points : null;
  return html`<section class="page overview">
    <div class="page-head"><h1>Overview</h1><${Freshness} load=${load} /></div>
    <${LoadState} load=${load} what="the overview" />
    ${o && html`<div class="cards">
      <div class="card"><h2>Server</h2><${Server} server=${o.server} /></div>
      <div class="card"><h2>Slices</h2><${Slices} slices=${o.slices} /></div>
      <div class="card"><h2>Alerts</h2>
        <p class="big"><strong data-fact="alerts-open">${o.alerts_open}</strong> open
          ${o.alerts_open > 0 && html` <${Badge} kind="danger">needs attention</${Badge}>`}</p>
        <${Link} href="/app/admin/alerts">Open the alert log</${Link}></div>
      <div class="card"><h2>Capacity</h2><${Capacity} capacity=${o.capacity} server=${o.server} /></div>
    </div>`}
    <div class="page-head"><h2>Server over time</h2><${RangePicker} value=${range} onChange=${setRange} /></div>
    <${LoadState} load=${series} what="the server's telemetry" />
    ${points && html`<div class="charts">
      <${TimeChart} title="RAM vs swap" points=${points} format=${bytes}
        series=${[{ key: 'ram_used_bytes', label: 'RAM used' }, { key: 'swap_used_bytes', label: 'Swap used' },
          { key: 'ram_total_bytes', label: 'RAM total' }]} />
      <${TimeChart} title="Swap-in rate" points=${points} format=${(v) => `${Math.round(v)}/s`}
        series=${[{ key: 'swapin_pages_per_s', label: 'Pages swapped in' }]} />
      <${TimeChart} title="CPU" points=${points} format=${(v) => `${Math.round(v)} %`}
        series=${[{ key: 'cpu_percent', label: 'CPU' }]} />
    </div>`}
  </section>`;
}
