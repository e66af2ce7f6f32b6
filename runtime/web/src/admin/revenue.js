// Revenue (GET /admin/revenue) when billing is on; with billing off (no Stripe key, /auth/me's
// billing.enabled false) a note instead: the endpoint then has nothing real to count.
import { html } from '../html.js';
import { money, useTitle } from '../ui.js';
import { LoadState, useLoad } from './common.js';

function Report() {
  const load = useLoad('/admin/revenue');
  const r = load.data;
  if (!r) {
    return html`<${LoadState} load=${load} what="the revenue" />`;
  }
  const subs = r.subscriptions || {};
  return html`<div class="stack">
    <div class="cards">
      <div class="card"><h2>Monthly recurring revenue</h2><p class="big" data-fact="mrr">${money(r.mrr_cents, r.currency)}</p></div>
      <div class="card"><h2>Subscriptions</h2><dl class="facts">
        ${Object.entries(subs).map(([k, v]) => html`<div key=${k}><dt>${k.replace('_', ' ')}</dt><dd>${v}</dd></div>`)}
      </dl></div>
      <div class="card"><h2>Failed payments</h2><p class="big">${r.failed_payments_30d}</p><p class="hint">in the last 30 days</p></div>
    </div>
    <div class="table-wrap"><table class="table">
      <caption>Churn by month</caption>
      <thead><tr><th scope="col">Month</th><th scope="col">Active at start</th><th scope="col">Canceled</th><th scope="col">Rate</th></tr></thead>
      <tbody>${(r.churn || []).map((c) => html`<tr key=${c.month}><td>${c.month}</td><td>${c.active_at_start}</td>
        <td>${c.canceled}</td><td>${(Number(c.rate) * 100).toFixed(1)} %</td></tr>`)}</tbody>
    </table></div>
  </div>`;
}

export function Revenue({ session }) {
  useTitle('Revenue');
  const on = Boolean(session.billing && session.billing.enabled);
  return html`<section class="page revenue">
    <div class="page-head"><h1>Revenue</h1></div>
    ${on ? html`<${Report} />` : html`<div class="alert alert-info" data-billing="off">Billing is off on this deployment
      (no Stripe key is configured): workspaces are free, so there is no revenue to show.
      docs/operations.md, "Billing", says how to turn it on.</div>`}
  </section>`;
}
