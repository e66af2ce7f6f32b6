// What the admin screens share: loading an endpoint with refresh, byte and percent formatting,
// the grid colour of a slice, the confirmation dialog and the slice actions (suspend, resume,
// destroy) the grid, the slice page and the users page all offer.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { html } from '../html.js';
import { Badge, Button, FormError, toast } from '../ui.js';

/// GET `path` now, again whenever `path` changes, on `reload()`, and every `everyMs` (0: never).
/// The gateway has no event stream for administrators (streams belong to slices), so the
/// dashboard re-reads; a slow answer never overwrites a newer one.
export function useLoad(path, everyMs = 0) {
  const [state, setState] = useState({ data: null, error: null, at: null });
  const seq = useRef(0);
  const reload = () => {
    const mine = ++seq.current;
    return get(path).then(
      (data) => mine === seq.current && setState({ data, error: null, at: new Date() }),
      (error) => mine === seq.current && setState((old) => ({ ...old, error })),
    );
  };
  useEffect(() => {
    setState({ data: null, error: null, at: null });
    reload();
    if (everyMs > 0) {
      const t = setInterval(reload, everyMs);
      return () => clearInterval(t);
    }
    return undefined;
  }, [path]);
  return { ...state, reload };
}

/// The error of a load, or a "Loading…" line while there is no data yet.
export function LoadState({ load, what }) {
  if (load.error) {
    return html`<div class="alert alert-error" role="alert">Could not load ${what}: ${load.error.message}</div>`;
  }
  return load.data ? null : html`<div class="loading" aria-busy="true">Loading ${what}…</div>`;
}

/// "Updated 14:03:12" and a Refresh button.
export function Freshness({ load }) {
  return html`<div class="freshness">
    <span class="muted">${load.at ? `Updated ${load.at.toLocaleTimeString()}` : ''}</span>
    <${Button} kind="secondary" class="btn btn-secondary btn-small" onClick=${() => load.reload()}>Refresh</${Button}>
  </div>`;
}

/// "1.5 GiB"; "—" for null (no measurement, e.g. a memory limit by rlimit).
export function bytes(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) {
    return '—';
  }
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n);
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(i === 0 || v >= 100 ? 0 : 1)} ${units[i]}`;
}

export const percent = (v) => (v === null || v === undefined ? '—' : `${Number(v).toFixed(0)} %`);

/// The slice's grid colour: the monitor's `grid` when the gateway sends it, else the same rule
/// (docs/api.md) from what GET /admin/slices always has, without the alerts and WhatsApp state.
export function gridColour(s) {
  if (s.grid) {
    return s.grid;
  }
  if (['crashloop', 'stopped'].includes(s.health) && s.state === 'assigned') {
    return 'red';
  }
  const high = s.memory_bytes && s.memory_limit_bytes && s.memory_bytes > 0.8 * s.memory_limit_bytes;
  return high || s.health === 'restarting' ? 'yellow' : 'green';
}

export const kGridWords = { green: 'OK', yellow: 'Warning', red: 'Down or critical' };
const kStateKinds = { assigned: 'success', available: 'neutral', suspended: 'warning', destroying: 'danger', destroyed: 'danger' };

export const StateBadge = ({ state }) => html`<${Badge} kind=${kStateKinds[state] || 'neutral'}>${state}</${Badge}>`;

/// A modal confirmation (the native <dialog>: focus kept inside, Escape cancels). `onConfirm`
/// may reject; its message is shown in the dialog, which stays open.
export function Confirm({ title, children, confirmLabel, kind = 'danger', onConfirm, onClose }) {
  const ref = useRef(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => {
    ref.current.showModal();
  }, []);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (e) {
      setError(e.message);
      setBusy(false);
    }
  };
  return html`<dialog ref=${ref} class="confirm card" aria-labelledby="confirm-title" onCancel=${(e) => { e.preventDefault(); onClose(); }}>
    <h2 id="confirm-title">${title}</h2>
    <div class="stack">${children}</div>
    <${FormError} error=${error} />
    <div class="actions">
      <${Button} kind=${kind} busy=${busy} onClick=${confirm}>${confirmLabel}</${Button}>
      <${Button} kind="secondary" onClick=${onClose} disabled=${busy}>Cancel</${Button}>
    </div>
  </dialog>`;
}

const kActions = {
  suspend: {
    label: 'Suspend', done: 'suspended', kind: 'secondary', when: (s) => s.state === 'assigned',
    say: (who) => html`<p>${who}'s slice process stops: the tenant's API answers 423 and nothing is sent or
      received. The data is kept; Resume brings it back.</p>`,
  },
  resume: {
    label: 'Resume', done: 'resumed', kind: 'primary', when: (s) => s.state === 'suspended',
    say: (who) => html`<p>${who}'s slice process starts again and the workspace answers as before.</p>`,
  },
  destroy: {
    label: 'Destroy', done: 'destroyed', kind: 'danger', when: (s) => !['destroying', 'destroyed'].includes(s.state),
    say: (who) => html`<p><strong>This cannot be undone.</strong> ${who}'s slice process, database schema, role and
      files are removed: every contact, conversation and broadcast is gone.</p>`,
  },
};

/// The lifecycle buttons a slice allows now, each behind a confirmation. `who` names the
/// tenant ("ana@example.com" or "Slice 7"); `destroyLabel` is "Terminate" on the users page.
export function SliceActions({ slice, who, onDone, destroyLabel = 'Destroy', small = false }) {
  const [asking, setAsking] = useState(null);
  const run = async (action) => {
    await post(`/admin/slices/${slice.id}/${action}`, action === 'resume' ? undefined : { reason: 'admin dashboard' });
    toast(`Slice ${slice.id}: ${kActions[action].done}`, 'success');
    onDone();
  };
  const label = (a) => (a === 'destroy' ? destroyLabel : kActions[a].label);
  const shown = Object.keys(kActions).filter((a) => kActions[a].when(slice));
  return html`<span class="actions slice-actions">
    ${shown.map((a) => html`<${Button} key=${a} kind=${kActions[a].kind} class=${`btn btn-${kActions[a].kind}${small ? ' btn-small' : ''}`}
      aria-label=${`${label(a)} ${who}`} onClick=${() => setAsking(a)}>${label(a)}</${Button}>`)}
    ${asking && html`<${Confirm} title=${`${label(asking)} ${who}?`} confirmLabel=${`${label(asking)} slice ${slice.id}`}
      kind=${asking === 'resume' ? 'primary' : 'danger'} onConfirm=${() => run(asking)} onClose=${() => setAsking(null)}>
      ${kActions[asking].say(who)}
    </${Confirm}>`}
  </span>`;
}

/// 24 h / 7 d / 30 d, as a group of toggle buttons.
export function RangePicker({ value, onChange }) {
  return html`<div class="range" role="group" aria-label="Time range">
    ${['24h', '7d', '30d'].map((r) => html`<button key=${r} type="button" class="btn btn-secondary btn-small"
      aria-pressed=${r === value ? 'true' : 'false'} onClick=${() => onChange(r)}>${r.replace(/(\d+)/, '$1 ')}</button>`)}
  </div>`;
}
