// The alert log (GET /admin/alerts): open alerts, or all of them, newest first.
import { html } from '../html.js';
import { Link, useRoute } from '../router.js';
import { Badge, formatTime, useTitle } from '../ui.js';
import { Freshness, LoadState, useLoad } from './common.js';

// "slice:7" links to the slice's page; "server" stays text.
function Subject({ subject }) {
  const m = /^slice:(\d+)$/.exec(subject);
  return m ? html`<${Link} href=${`/app/admin/slices/${m[1]}`}>Slice ${m[1]}</${Link}>` : subject;
}

export function Alerts() {
  useTitle('Alerts');
  const { search } = useRoute();
  const state = search.get('state') === 'all' ? 'all' : 'open';
  const load = useLoad(`/admin/alerts?state=${state}&limit=200`, 30000);
  const items = load.data ? load.data.items : [];
  return html`<section class="page alerts">
    <div class="page-head"><h1>Alerts</h1><${Freshness} load=${load} /></div>
    <nav class="tabs" aria-label="Which alerts">
      <${Link} href="/app/admin/alerts" aria-current=${state === 'open' ? 'page' : undefined}>Open</${Link}>
      <${Link} href="/app/admin/alerts?state=all" aria-current=${state === 'all' ? 'page' : undefined}>All</${Link}>
    </nav>
    <${LoadState} load=${load} what="the alerts" />
    ${load.data && (items.length ? html`<div class="table-wrap"><table class="table">
      <caption class="sr-only">${state === 'open' ? 'Open alerts' : 'All alerts'}, newest first</caption>
      <thead><tr><th scope="col">Severity</th><th scope="col">Subject</th><th scope="col">Kind</th>
        <th scope="col">Message</th><th scope="col">Opened</th><th scope="col">Resolved</th></tr></thead>
      <tbody>${items.map((a) => html`<tr key=${a.id} data-alert=${a.kind} data-subject=${a.subject}>
        <td><${Badge} kind=${a.severity === 'critical' ? 'danger' : 'warning'}>${a.severity}</${Badge}></td>
        <td><${Subject} subject=${a.subject} /></td>
        <td><code>${a.kind}</code></td>
        <td>${a.message}</td>
        <td>${formatTime(a.opened_at)}</td>
        <td>${a.resolved_at ? formatTime(a.resolved_at) : html`<${Badge} kind="danger">open</${Badge}>`}</td>
      </tr>`)}</tbody>
    </table></div>` : html`<p class="empty">${state === 'open' ? 'No open alerts: everything is fine.' : 'No alerts yet.'}</p>`)}
  </section>`;
}
