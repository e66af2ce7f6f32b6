// Contacts: search, create, edit, delete (confirmed), tags, and a CSV import that names its bad rows.
import { useEffect, useState } from 'preact/hooks';
import { api, post } from '../api.js';
import { useEvent } from '../events.js';
import { html } from '../html.js';
import { Sentinel, usePaged } from '../paged.js';
import { Badge, Button, Field, FormError, toast, useForm, useTitle } from '../ui.js';

const tagList = (s) => s.split(',').map((t) => t.trim()).filter(Boolean);

function ContactForm({ contact, onDone }) {
  const f = useForm({ name: contact ? contact.name : '', phone: contact ? contact.phone : '', tags: contact ? contact.tags.join(', ') : '' });
  const onSubmit = f.submit(async (v) => {
    const body = { name: v.name, phone: v.phone, tags: tagList(v.tags) };
    if (contact) {
      await api('PATCH', `/api/contacts/${contact.id}`, body);
      toast('Contact saved');
    } else {
      await post('/api/contacts', body);
      toast('Contact added');
    }
    onDone();
  });
  return html`<form class="card contact-form" onSubmit=${onSubmit} aria-label=${contact ? `Edit ${contact.name}` : 'New contact'} novalidate>
    <h2>${contact ? `Edit ${contact.name}` : 'New contact'}</h2>
    <${FormError} error=${f.errors._form} />
    <div class="row">
      <${Field} label="Name" autocomplete="off" required ...${f.bind('name')} />
      <${Field} label="Phone number" type="tel" placeholder="+14155550123" hint="International format, with the country code."
        required ...${f.bind('phone')} />
      <${Field} label="Tags" placeholder="vip, newsletter" hint="Separated by commas." ...${f.bind('tags')} />
    </div>
    <div class="actions">
      <${Button} type="submit" busy=${f.busy}>${contact ? 'Save' : 'Add contact'}</${Button}>
      <${Button} type="button" kind="ghost" onClick=${onDone}>Cancel</${Button}>
    </div>
  </form>`;
}

function ImportCsv({ onDone }) {
  const [file, setFile] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const onSubmit = async (e) => {
    e.preventDefault();
    if (!file) {
      setError('choose a CSV file first');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const r = await api('POST', '/api/contacts/import', file, 'text/csv');
      toast(`Imported: ${r.created} added, ${r.skipped} already there`);
      onDone();
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="card" onSubmit=${onSubmit} aria-label="Import contacts">
    <h2>Import contacts from CSV</h2>
    <div class=${`field${error ? ' has-error' : ''}`}>
      <label for="import-file">CSV file</label>
      <input id="import-file" type="file" accept=".csv,text/csv" aria-describedby="import-hint${error ? ' import-err' : ''}"
        aria-invalid=${error ? 'true' : undefined} onChange=${(e) => setFile(e.currentTarget.files[0] || null)} />
      <p class="hint" id="import-hint">A header row <code>name,phone,tags</code>; tags separated by <code>|</code>.
        A bad row refuses the whole file, naming its line.</p>
      ${error && html`<pre class="error" id="import-err" role="alert">${error}</pre>`}
    </div>
    <div class="actions">
      <${Button} type="submit" busy=${busy}>Import</${Button}>
      <${Button} type="button" kind="ghost" onClick=${onDone}>Cancel</${Button}>
    </div>
  </form>`;
}

function Row({ c, onEdit }) {
  const [confirming, setConfirming] = useState(false);
  const remove = async () => {
    try {
      await api('DELETE', `/api/contacts/${c.id}`);
      toast(`${c.name} deleted`);
    } catch (e) {
      toast(e.message, 'error');
    }
  };
  return html`<tr>
    <td>${c.name}</td>
    <td class="mono">${c.phone}</td>
    <td>${c.tags.map((t) => html`<${Badge} key=${t}>${t}</${Badge}> `)}</td>
    <td class="row-actions">
      ${confirming
        ? html`<span role="alert">Delete ${c.name} and their messages?</span>
            <${Button} kind="danger" onClick=${remove}>Yes, delete</${Button}>
            <${Button} kind="ghost" onClick=${() => setConfirming(false)}>Keep</${Button}>`
        : html`<${Button} kind="ghost" onClick=${() => onEdit(c)} aria-label=${`Edit ${c.name}`}>Edit</${Button}>
            <${Button} kind="ghost" onClick=${() => setConfirming(true)} aria-label=${`Delete ${c.name}`}>Delete</${Button}>`}
    </td>
  </tr>`;
}

export function Contacts() {
  useTitle('Contacts');
  const [q, setQ] = useState('');
  const [debounced, setDebounced] = useState('');
  const [panel, setPanel] = useState(null); // null | 'new' | 'import' | contact
  useEffect(() => {
    const t = setTimeout(() => setDebounced(q.trim()), 250);
    return () => clearTimeout(t);
  }, [q]);
  const list = usePaged('/api/contacts', { q: debounced });
  useEvent('contact.created', (c) => !debounced && list.setItems((items) => (items.some((x) => x.id === c.id) ? items : [...items, c])));
  useEvent('contact.updated', (c) => list.setItems((items) => items.map((x) => (x.id === c.id ? c : x))));
  useEvent('contact.deleted', ({ id }) => list.setItems((items) => items.filter((x) => x.id !== id)));
  // An import (here or in another tab) announces itself once, not per contact: read the list again.
  useEvent('contacts.imported', () => list.reload());
  const done = () => {
    setPanel(null);
    list.reload();
  };
  return html`<section class="page">
    <div class="page-head">
      <h1>Contacts</h1>
      <div class="actions">
        <${Button} onClick=${() => setPanel('new')}>New contact</${Button}>
        <${Button} kind="secondary" onClick=${() => setPanel('import')}>Import CSV</${Button}>
      </div>
    </div>
    ${panel === 'new' && html`<${ContactForm} onDone=${done} />`}
    ${panel === 'import' && html`<${ImportCsv} onDone=${done} />`}
    ${panel && typeof panel === 'object' && html`<${ContactForm} key=${panel.id} contact=${panel} onDone=${done} />`}
    <form role="search" class="search" onSubmit=${(e) => e.preventDefault()}>
      <label for="contact-q" class="sr-only">Search contacts</label>
      <input id="contact-q" type="search" placeholder="Search by name, number or tag" value=${q}
        onInput=${(e) => setQ(e.currentTarget.value)} />
    </form>
    ${list.error && html`<div class="alert alert-error" role="alert">${list.error}</div>`}
    <div class="table-wrap">
      <table class="table">
        <thead><tr><th scope="col">Name</th><th scope="col">Phone</th><th scope="col">Tags</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>${list.items.map((c) => html`<${Row} key=${c.id} c=${c} onEdit=${setPanel} />`)}</tbody>
      </table>
    </div>
    ${!list.loading && list.items.length === 0 && html`<p class="empty">${debounced ? 'No contact matches.' : 'No contacts yet: add one or import a CSV.'}</p>`}
    ${list.next && html`<${Sentinel} onVisible=${list.loadMore} /><${Button} kind="ghost" busy=${list.loading} onClick=${list.loadMore}>Load more</${Button}>`}
  </section>`;
}
