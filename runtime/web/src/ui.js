// The small design system every screen uses: buttons, labelled inputs with inline errors,
// forms that put the server's message next to the field it names, toasts, progress bars, badges.
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';

let nextId = 0;
const useId = () => useState(() => `f${++nextId}`)[0];

/// A labelled input (or textarea / select via `as`). `error` shows under it and is announced.
export function Field({ label, name, error, hint, as = 'input', children, ...rest }) {
  const id = useId();
  const described = [error ? `${id}-err` : null, hint ? `${id}-hint` : null].filter(Boolean).join(' ');
  const Tag = as;
  return html`<div class=${`field${error ? ' has-error' : ''}`}>
    <label for=${id}>${label}</label>
    <${Tag} id=${id} name=${name} aria-invalid=${error ? 'true' : undefined}
      aria-describedby=${described || undefined} ...${rest}>${children}</${Tag}>
    ${hint && html`<p class="hint" id=${`${id}-hint`}>${hint}</p>`}
    ${error && html`<p class="error" id=${`${id}-err`} role="alert">${error}</p>`}
  </div>`;
}

/// Form state: values, per-field errors from the server (`field` → message; `_form` for the
/// rest), and a busy flag. `submit(fn)` runs fn(values) and files its ApiError where it belongs.
export function useForm(initial) {
  const [values, setValues] = useState(initial);
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  const bind = (name) => ({
    name,
    value: values[name],
    error: errors[name],
    onInput: (e) => {
      const v = e.currentTarget.type === 'checkbox' ? e.currentTarget.checked : e.currentTarget.value;
      setValues((old) => ({ ...old, [name]: v }));
    },
  });
  const submit = (fn) => async (e) => {
    if (e) {
      e.preventDefault();
    }
    setBusy(true);
    setErrors({});
    try {
      await fn(values);
    } catch (err) {
      fileError(err, Object.keys(initial), setErrors);
    } finally {
      setBusy(false);
    }
  };
  return { values, setValues, errors, setErrors, busy, bind, submit };
}

/// Puts an error next to its field when the form has one by that name (the API names fields in
/// `field`, or as a `name:`/`recipients[3]:` prefix of the message), else at the form's top.
export function fileError(err, fields, setErrors) {
  const message = err && err.message ? err.message : String(err);
  let field = err && err.field ? err.field.replace(/\[.*$/, '') : null;
  if (!field) {
    const m = /^([a-z_]+)[\[:]/.exec(message);
    field = m ? m[1] : null;
  }
  setErrors(field && fields.includes(field) ? { [field]: message } : { _form: message });
}

/// The form-level error (one not tied to a field), announced to screen readers.
export function FormError({ error }) {
  return error ? html`<div class="alert alert-error" role="alert">${error}</div>` : null;
}

export function Button({ kind = 'primary', busy, children, ...rest }) {
  return html`<button class=${`btn btn-${kind}`} disabled=${busy || rest.disabled} aria-busy=${busy ? 'true' : undefined}
    ...${rest}>${children}</button>`;
}

export function Badge({ kind = 'neutral', children, ...rest }) {
  return html`<span class=${`badge badge-${kind}`} ...${rest}>${children}</span>`;
}

/// A labelled progress bar (value out of max), with the percentage as text too; `text` replaces
/// the value's default wording ("1.2 GiB of 4 GiB").
export function Progress({ value, max, label, kind = 'primary', text }) {
  const pct = max > 0 ? Math.min(100, Math.round((value * 100) / max)) : 0;
  return html`<div class="progress-row">
    <span class="progress-label">${label}</span>
    <div class=${`progress progress-${kind}`} role="progressbar" aria-label=${label} aria-valuemin="0"
      aria-valuemax=${max} aria-valuenow=${value}><span style=${{ width: `${pct}%` }}></span></div>
    <span class="progress-value">${text || value.toLocaleString()} · ${pct} %</span>
  </div>`;
}

// Toasts: short confirmations and errors not tied to a form, in one live region.
const toastListeners = new Set();
let toasts = [];
let toastId = 0;

/// Shows `message` for a few seconds (errors stay until dismissed).
export function toast(message, kind = 'info') {
  const t = { id: ++toastId, message, kind };
  toasts = [...toasts, t].slice(-3); // the newest three: a burst of actions must not bury the page
  toastListeners.forEach((l) => l(toasts));
  if (kind !== 'error') {
    setTimeout(() => dismiss(t.id), 4000);
  }
}

function dismiss(id) {
  toasts = toasts.filter((t) => t.id !== id);
  toastListeners.forEach((l) => l(toasts));
}

export function Toasts() {
  const [list, setList] = useState(toasts);
  useEffect(() => {
    toastListeners.add(setList);
    return () => toastListeners.delete(setList);
  }, []);
  return html`<div class="toasts" role="status" aria-live="polite">
    ${list.map((t) => html`<div key=${t.id} class=${`toast toast-${t.kind}`}>
      <span>${t.message}</span>
      <button class="toast-close" aria-label="Dismiss" onClick=${() => dismiss(t.id)}>×</button>
    </div>`)}
  </div>`;
}

/// "14:03" today, "3 Mar 14:03" otherwise.
export function formatTime(iso) {
  if (!iso) {
    return '';
  }
  const d = new Date(iso);
  const now = new Date();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toDateString() === now.toDateString()
    ? time
    : `${d.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${time}`;
}

/// "December 7, 2026": a day the tenant must act by (grace end, deletion), never a bare ISO string.
export function formatDate(iso) {
  return iso ? new Date(iso).toLocaleDateString('en', { day: 'numeric', month: 'long', year: 'numeric' }) : '';
}

/// Sets the document title for the screen.
export function useTitle(title) {
  useEffect(() => {
    document.title = `${title} · crm`;
  }, [title]);
}

export function money(cents, currency) {
  return new Intl.NumberFormat('en', { style: 'currency', currency, minimumFractionDigits: cents % 100 ? 2 : 0 })
    .format(cents / 100);
}
