// Broadcasts: the list with live progress, creation from a CSV, pasted numbers or a tag, and
// pause / resume / cancel. A full queue (429) is shown with the server's explanation.
import { useState } from 'preact/hooks';
import { api, post, query } from '../api.js';
import { useEvent } from '../events.js';
import { html } from '../html.js';
import { Sentinel, usePaged } from '../paged.js';
import { Link } from '../router.js';
import { Badge, Button, Field, FormError, Progress, fileError, formatTime, toast, useForm, useTitle } from '../ui.js';

const kStatus = { running: 'primary', paused: 'warning', completed: 'success', cancelled: 'neutral' };

function NewBroadcast({ onDone }) {
  const f = useForm({ name: '', text: '', source: 'csv', recipients: '', tag: '', file: '' });
  const [file, setFile] = useState(null);
  const onSubmit = f.submit(async (v) => {
    try {
      if (v.source === 'csv') {
        if (!file) {
          throw Object.assign(new Error('choose a CSV file with one number per line or a phone column'), { field: 'file' });
        }
        await api('POST', `/api/broadcasts${query({ name: v.name, text: v.text })}`, file, 'text/csv');
      } else if (v.source === 'paste') {
        const recipients = v.recipients.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
        await post('/api/broadcasts', { name: v.name, text: v.text, recipients });
      } else {
        await post('/api/broadcasts', { name: v.name, text: v.text, tag: v.tag.trim() });
      }
    } catch (e) {
      // A CSV's bad rows ("line 17: phone: …") and a full queue belong to the recipients.
      if (e.status === 429 || /^line \d+/.test(e.message)) {
        fileError({ message: e.message, field: v.source === 'csv' ? 'file' : 'recipients' }, ['file', 'recipients'], f.setErrors);
        return;
      }
      throw e;
    }
    toast('Broadcast queued');
    onDone();
  });
  // Errors on "recipients" show under whichever recipients input is on screen.
  const recipientsError = f.errors.recipients || f.errors.file;
  return html`<form class="card" onSubmit=${onSubmit} aria-label="New broadcast" novalidate>
    <h2>New broadcast</h2>
    <${FormError} error=${f.errors._form} />
    <div class="row">
      <${Field} label="Name" placeholder="Spring sale" required ...${f.bind('name')} />
    </div>
    <${Field} label="Message" as="textarea" rows="3" required ...${f.bind('text')} />
    <fieldset class="choice">
      <legend>Recipients</legend>
      ${[['csv', 'CSV file'], ['paste', 'Pasted numbers'], ['tag', 'Contacts with a tag']].map(([value, label]) =>
        html`<label key=${value}><input type="radio" name="source" value=${value} checked=${f.values.source === value}
          onChange=${() => f.setValues((o) => ({ ...o, source: value }))} /> ${label}</label>`)}
    </fieldset>
    ${f.values.source === 'csv' && html`<div class=${`field${recipientsError ? ' has-error' : ''}`}>
      <label for="bc-file">CSV file of numbers</label>
      <input id="bc-file" type="file" accept=".csv,text/csv" aria-invalid=${recipientsError ? 'true' : undefined}
        aria-describedby=${recipientsError ? 'bc-file-err bc-file-hint' : 'bc-file-hint'} onChange=${(e) => setFile(e.currentTarget.files[0] || null)} />
      <p class="hint" id="bc-file-hint">One number per line, or a header row with a <code>phone</code> column.</p>
      ${recipientsError && html`<pre class="error" id="bc-file-err" role="alert">${recipientsError}</pre>`}
    </div>`}
    ${f.values.source === 'paste' && html`<${Field} label="Phone numbers" as="textarea" rows="4" placeholder="+14155550123, +14155550124"
      hint="Separated by commas, spaces or new lines." ...${f.bind('recipients')} error=${recipientsError} />`}
    ${f.values.source === 'tag' && html`<${Field} label="Tag" placeholder="vip" ...${f.bind('tag')} />`}
    <div class="actions">
      <${Button} type="submit" busy=${f.busy}>Send broadcast</${Button}>
      <${Button} type="button" kind="ghost" onClick=${onDone}>Cancel</${Button}>
    </div>
  </form>`;
}

function BroadcastCard({ b }) {
  const [busy, setBusy] = useState(false);
  const act = (verb) => async () => {
    setBusy(true);
    try {
      await post(`/api/broadcasts/${b.id}/${verb}`);
    } catch (e) {
      toast(e.message, 'error');
    } finally {
      setBusy(false);
    }
  };
  const done = b.sent + b.failed + b.cancelled;
  return html`<article class="card broadcast" aria-label=${`Broadcast ${b.name}`} data-broadcast=${b.id}>
    <header>
      <h2>${b.name}</h2>
      <${Badge} kind=${kStatus[b.status] || 'neutral'}>${b.status}</${Badge}>
      <span class="muted">${b.total.toLocaleString()} recipients · ${formatTime(b.created_at)}</span>
      <span class="spacer"></span>
      ${b.status === 'running' && html`<${Button} kind="secondary" busy=${busy} onClick=${act('pause')}>Pause</${Button}>`}
      ${b.status === 'paused' && html`<${Button} kind="secondary" busy=${busy} onClick=${act('resume')}>Resume</${Button}>`}
      ${(b.status === 'running' || b.status === 'paused') && html`<${Button} kind="ghost" busy=${busy} onClick=${act('cancel')}>Cancel</${Button}>`}
    </header>
    <${Progress} label="Processed" value=${done} max=${b.total} />
    <${Progress} label="Delivered" value=${b.delivered} max=${b.total} kind="success" />
    <${Progress} label="Read" value=${b.read} max=${b.total} kind="read" />
    <p class="counts muted">
      Queued ${b.queued.toLocaleString()} · sent ${b.sent.toLocaleString()} · failed ${b.failed.toLocaleString()}
      ${b.cancelled > 0 ? ` · cancelled ${b.cancelled.toLocaleString()}` : ''}
    </p>
    ${b.held_reason && html`<p class="alert alert-warning" role="status" data-held>
      ${`${b.held_reason.charAt(0).toUpperCase()}${b.held_reason.slice(1)}. `}<${Link} href="/app/connect">Open the connect page</${Link}>
    </p>`}
  </article>`;
}

export function Broadcasts() {
  useTitle('Broadcasts');
  const [creating, setCreating] = useState(false);
  const list = usePaged('/api/broadcasts', {});
  const upsert = (b) => list.setItems((items) => (items.some((x) => x.id === b.id) ? items.map((x) => (x.id === b.id ? b : x)) : [b, ...items]));
  useEvent('broadcast.created', upsert);
  useEvent('broadcast.progress', upsert);
  return html`<section class="page">
    <div class="page-head">
      <h1>Broadcasts</h1>
      <${Button} onClick=${() => setCreating(true)}>New broadcast</${Button}>
    </div>
    ${creating && html`<${NewBroadcast} onDone=${() => setCreating(false)} />`}
    ${list.error && html`<div class="alert alert-error" role="alert">${list.error}</div>`}
    <div class="stack">${list.items.map((b) => html`<${BroadcastCard} key=${b.id} b=${b} />`)}</div>
    ${!list.loading && list.items.length === 0 && html`<p class="empty">No broadcasts yet.</p>`}
    ${list.next && html`<${Sentinel} onVisible=${list.loadMore} /><${Button} kind="ghost" busy=${list.loading} onClick=${list.loadMore}>Load more</${Button}>`}
  </section>`;
}
