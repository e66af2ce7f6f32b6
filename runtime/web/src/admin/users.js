// The accounts (GET /admin/users) with their slice: suspend and resume act on the slice;
// terminate destroys it (the account's data), after a confirmation; the account then has no
// workspace (GET /admin/users lists live slices only).
import { html } from '../html.js';
import { Link } from '../router.js';
import { formatDate, useTitle } from '../ui.js';
import { Freshness, LoadState, SliceActions, StateBadge, useLoad } from './common.js';

export function Users() {
  useTitle('Users');
  const load = useLoad('/admin/users');
  const items = load.data ? load.data.items : [];
  return html`<section class="page users">
    <div class="page-head"><h1>Users</h1><${Freshness} load=${load} /></div>
    <${LoadState} load=${load} what="the users" />
    ${load.data && html`<div class="table-wrap"><table class="table">
      <caption class="sr-only">Accounts and their slices</caption>
      <thead><tr><th scope="col">E-mail</th><th scope="col">Role</th><th scope="col">Account</th><th scope="col">Since</th>
        <th scope="col">Slice</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
      <tbody>${items.map((u) => html`<tr key=${u.id} data-user=${u.email}>
        <td>${u.email}</td>
        <td>${u.role}</td>
        <td>${u.status}</td>
        <td>${formatDate(u.created_at)}</td>
        <td>${u.slice_id ? html`<${Link} href=${`/app/admin/slices/${u.slice_id}`}>Slice ${u.slice_id}</${Link}>
          ${' '}<${StateBadge} state=${u.slice_state} />` : html`<span class="muted" data-slice="none">${u.role === 'admin' ? '—' : 'no workspace'}</span>`}</td>
        <td class="row-actions">${u.slice_id && html`<${SliceActions} small slice=${{ id: u.slice_id, state: u.slice_state }}
          who=${u.email} destroyLabel="Terminate" onDone=${() => load.reload()} />`}</td>
      </tr>`)}</tbody>
    </table></div>`}
  </section>`;
}
