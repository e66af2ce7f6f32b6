// Billing: the plan, the subscription in words, Subscribe (Stripe Checkout) and Manage billing
// (Stripe's customer portal), and the return from Checkout until the workspace exists
// (docs/api.md, "Billing"). Also the note other screens show while there is no workspace yet.
import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { html } from '../html.js';
import { Link, navigate, useRoute } from '../router.js';
import { refreshSession } from '../session.js';
import { Badge, Button, FormError, formatDate, toast, useTitle } from '../ui.js';
import { PlanPrice } from './public.js';

// Stripe's webhook assigns the slice, usually seconds after Checkout. Before it has a slice the
// tenant has no event stream, so the page re-reads /auth/me until the workspace runs; the wait
// is bounded so a lost webhook ends in a message, not an endless spinner.
const kWaitStepMs = 1500;
const kWaitMaxMs = 3 * 60 * 1000;

const ready = (me) => Boolean(me && me.slice && me.slice.state === 'assigned' && me.billing
  && (me.billing.status === 'active' || me.billing.status === 'trialing'));

// The subscription in words: a badge, a sentence, and what the tenant can do about it.
function describe(s, hasSlice) {
  const end = formatDate(s.current_period_end);
  switch (s.status) {
    case 'trialing':
      return { kind: 'success', label: 'Free trial', text: `Your free trial ends on ${formatDate(s.trial_ends_at)}.` };
    case 'active':
      return {
        kind: 'success',
        label: 'Active',
        text: !end ? 'Your subscription is active.'
          : s.cancel_at_period_end ? `Paid until ${end}; it will not renew.` : `Active: renews on ${end}.`,
      };
    case 'past_due':
      return {
        kind: 'warning',
        label: 'Payment failed',
        text: `Your last payment failed. Pay by ${formatDate(s.grace_ends_at)} or the workspace is paused: `
          + 'update your card under Manage billing.',
      };
    case 'suspended':
      return {
        kind: 'danger',
        label: 'Paused',
        text: 'Your workspace is paused: nothing is sent or received. Pay to resume; your data is kept.',
      };
    case 'canceled': {
      const gone = !hasSlice || (s.data_deleted_at && new Date(s.data_deleted_at) <= new Date());
      return {
        kind: 'danger',
        label: 'Canceled',
        text: gone
          ? `Your subscription is canceled and the workspace's data was deleted${s.data_deleted_at ? ` on ${formatDate(s.data_deleted_at)}` : ''}. Subscribe to start a new workspace.`
          : `Your subscription is canceled. Your data is deleted on ${formatDate(s.data_deleted_at)}: download it now, or subscribe again to keep this workspace.`,
      };
    }
    default:
      return {
        kind: 'neutral',
        label: 'Not subscribed',
        text: 'Subscribe to create your workspace: it is ready a few seconds after the payment.',
      };
  }
}

// Re-reads /auth/me after Checkout until the workspace runs and its API answers; then opens it (a
// new workspace) or re-reads the status (one that was paused). 'waiting' | 'done' | 'slow'.
function useWorkspaceWait(active, hadSlice, onReady) {
  const [state, setState] = useState(active ? 'waiting' : 'done');
  useEffect(() => {
    if (!active) {
      return undefined;
    }
    let stopped = false;
    let timer = null;
    const started = Date.now();
    const tick = async () => {
      const me = await refreshSession().catch(() => undefined);
      if (stopped || me === null) {
        return;
      }
      // The slice is there once /auth/me names it; the API follows within seconds (the gateway
      // answers 503 "being prepared" until then), so the workspace opens when it answers.
      if (ready(me) && (await get('/api/status').then(() => true, () => false))) {
        if (!stopped) {
          setState('done');
          onReady(hadSlice);
        }
        return;
      }
      if (Date.now() - started > kWaitMaxMs) {
        setState('slow');
        return;
      }
      timer = setTimeout(tick, kWaitStepMs);
    };
    tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [active]);
  return state;
}

export function Billing({ session }) {
  useTitle('Billing');
  const { search } = useRoute();
  const checkout = search.get('checkout');
  const [status, setStatus] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(null);
  const load = () => get('/billing/status').then(setStatus, (e) => setLoadError(e.message));
  useEffect(() => {
    load();
  }, []);
  const wait = useWorkspaceWait(checkout === 'success', Boolean(session.slice), (hadSlice) => {
    if (hadSlice) {
      load();
      toast('Payment received: your workspace is running', 'success');
    } else {
      toast('Your workspace is ready', 'success');
      navigate('/app/inbox');
    }
  });

  // Both buttons leave for a Stripe page: the URL comes from our server, never from the query.
  const goTo = (name, path) => async () => {
    setBusy(name);
    setError(null);
    try {
      const { url } = await post(path);
      window.location.assign(url);
    } catch (e) {
      setError(e.message);
      setBusy(null);
    }
  };

  if (loadError) {
    return html`<section class="page billing"><h1>Billing</h1><${FormError} error=${loadError} /></section>`;
  }
  if (!status) {
    return html`<section class="page billing"><h1>Billing</h1><p aria-busy="true">Loading…</p></section>`;
  }
  if (!status.enabled) {
    return html`<section class="page billing">
      <h1>Billing</h1>
      <div class="card"><p data-testid="billing-disabled">Your workspace is free in this deployment: there is nothing to pay.</p></div>
    </section>`;
  }
  const hasSlice = Boolean(session.slice);
  const d = describe(status, hasSlice);
  const canSubscribe = status.status === 'none' || status.status === 'canceled';
  const canManage = status.status !== 'none';
  const exportable = status.status === 'canceled' && hasSlice;
  return html`<section class="page billing">
    <h1>Billing</h1>
    ${checkout === 'success' && wait !== 'slow' && html`<div class="alert alert-success" role="status">
      <strong>Payment received — your workspace is being prepared.</strong>
      ${wait === 'waiting' && html` <span aria-busy="true">This page opens it as soon as it is ready.</span>`}
    </div>`}
    ${checkout === 'success' && wait === 'slow' && html`<div class="alert alert-warning" role="status">
      Payment received, but the workspace is taking longer than usual. Nothing is lost: reload this page in a
      few minutes, or write to support if it stays like this.</div>`}
    ${checkout === 'cancel' && html`<div class="alert alert-info" role="status">
      Checkout was canceled and nothing was charged. Subscribe whenever you are ready.</div>`}
    <div class="card plan">
      <${PlanPrice} plan=${status.plan} />
      <p class="subscription" data-billing-status=${status.status}>
        <${Badge} kind=${d.kind}>${d.label}</${Badge}> ${d.text}</p>
      <${FormError} error=${error} />
      <div class="actions">
        ${canSubscribe && html`<${Button} busy=${busy === 'subscribe'} disabled=${busy !== null}
          onClick=${goTo('subscribe', '/billing/create-checkout')}>Subscribe</${Button}>`}
        ${canManage && html`<${Button} kind=${canSubscribe ? 'secondary' : 'primary'} busy=${busy === 'portal'}
          disabled=${busy !== null} onClick=${goTo('portal', '/billing/portal')}>Manage billing</${Button}>`}
        ${exportable && html`<a class="btn btn-secondary" href="/api/export" download>Download my data</a>`}
      </div>
      <p class="hint">Payments are handled by Stripe. Manage billing opens Stripe's page for your card, invoices
        and cancelling.</p>
    </div>
  </section>`;
}

/// What a workspace screen shows while there is no workspace yet (billing on, not paid).
export function SubscribeFirst() {
  useTitle('Subscribe first');
  return html`<section class="page">
    <div class="card">
      <h1>Subscribe first</h1>
      <p>Your workspace is created as soon as your subscription is paid. Then this page is ready for you.</p>
      <${Link} href="/app/billing" class="btn btn-primary">Go to billing</${Link}>
    </div>
  </section>`;
}
