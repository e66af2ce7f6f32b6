// The signed-in frame: navigation, the WhatsApp connection state and the live-events state, the
// billing banner, and the channel store the connect and settings screens share.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get } from '../api.js';
import { openEvents, useEvent, useEventsState } from '../events.js';
import { html } from '../html.js';
import { Link, navigate, useRoute } from '../router.js';
import { logout, refreshSession } from '../session.js';
import { Badge, formatDate } from '../ui.js';

// The channel as GET /api/channel describes it, re-read on every channel.state event.
let channel = null;
const channelListeners = new Set();

/// Re-reads GET /api/channel and tells every screen showing it.
export async function reloadChannel() {
  channel = await get('/api/channel');
  channelListeners.forEach((l) => l(channel));
  return channel;
}

/// The channel (null until loaded), live. `enabled` false (no workspace yet) asks nothing.
export function useChannel(enabled = true) {
  const [value, set] = useState(channel);
  useEffect(() => {
    channelListeners.add(set);
    if (enabled) {
      reloadChannel().catch(() => {});
    }
    return () => channelListeners.delete(set);
  }, [enabled]);
  return value;
}

const kStateKinds = {
  connected: 'success',
  disconnected: 'warning',
  unpaired: 'warning',
  unconfigured: 'danger',
  failed: 'danger',
  banned: 'danger',
};

export function ChannelBadge({ channel: c }) {
  if (!c) {
    return html`<${Badge}>checking…</${Badge}>`;
  }
  return html`<${Badge} kind=${kStateKinds[c.state] || 'neutral'} data-channel-state=${c.state}>
    WhatsApp ${c.state}${c.phone && c.state === 'connected' ? ` · ${c.phone}` : ''}</${Badge}>`;
}

const kNav = [
  ['/app/inbox', 'Inbox'],
  ['/app/contacts', 'Contacts'],
  ['/app/broadcasts', 'Broadcasts'],
  ['/app/connect', 'Connect'],
  ['/app/settings', 'Settings'],
];
const kBillingNav = ['/app/billing', 'Billing'];

// Why the workspace needs the tenant's attention (from /auth/me's "billing"), on every screen but
// the billing one, which says it at length. The deletion date is only in GET /billing/status.
function BillingBanner({ billing, path }) {
  const status = billing && billing.enabled ? billing.status : null;
  const [deletion, setDeletion] = useState(null);
  useEffect(() => {
    if (status === 'canceled') {
      get('/billing/status').then((s) => setDeletion(s.data_deleted_at), () => {});
    }
  }, [status]);
  if (path === '/app/billing' || !['past_due', 'suspended', 'canceled'].includes(status)) {
    return null;
  }
  const kind = status === 'past_due' ? 'warning' : 'danger';
  return html`<div class=${`banner banner-${kind}`} role="status" data-billing-banner=${status}>
    ${status === 'past_due' && html`<span>Your last payment failed. Pay by${' '}<strong>${formatDate(billing.grace_ends_at)}</strong> or the workspace is paused.</span>
      <${Link} href="/app/billing">Update payment</${Link}>`}
    ${status === 'suspended' && html`<span>Your workspace is paused: nothing is sent or received. Pay to resume;
      your data is kept.</span> <${Link} href="/app/billing">Go to billing</${Link}>`}
    ${status === 'canceled' && html`<span>Your subscription is canceled.${deletion
      ? html` Your data is deleted on <strong>${formatDate(deletion)}</strong>.` : ''}</span>
      <a href="/api/export" download>Download my data</a> <${Link} href="/app/billing">Subscribe again</${Link}>`}
  </div>`;
}

export function Shell({ session, children }) {
  const { path } = useRoute();
  const live = useEventsState();
  const hasSlice = Boolean(session.slice);
  const billingOn = Boolean(session.billing && session.billing.enabled);
  const c = useChannel(hasSlice);
  // No workspace, no stream: the gateway answers 503 until the slice exists.
  useEffect(() => {
    if (hasSlice) {
      openEvents();
    }
  }, [hasSlice]);
  useEvent('channel.state', () => reloadChannel().catch(() => {}));
  // A stream that (re)connects may have missed a channel.state: a workspace that just started,
  // or a restart.
  useEffect(() => {
    if (live === 'live') {
      reloadChannel().catch(() => {});
    }
  }, [live]);
  // Billing changes arrive by Stripe's webhook at the gateway, not on the slice's stream: re-read
  // /auth/me on each move between screens so the banner is never more than one click stale.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
    } else if (billingOn) {
      refreshSession().catch(() => {});
    }
  }, [path]);
  const nav = billingOn ? [...kNav, kBillingNav] : kNav;
  const onLogout = async () => {
    await logout().catch(() => {});
    navigate('/login');
  };
  return html`<div class="shell">
    <a class="skip" href="#main">Skip to content</a>
    <header class="appbar">
      <${Link} href="/app/inbox" class="brand">crm<span>.</span></${Link}>
      <div class="status">
        ${hasSlice && html`<${ChannelBadge} channel=${c} />
        <span class=${`live live-${live}`} title="Live updates">${live === 'live' ? 'Live' : 'Reconnecting…'}</span>`}
        <span class="who">${session.user.email}</span>
        <button class="btn btn-ghost btn-small" onClick=${onLogout}>Sign out</button>
      </div>
    </header>
    <nav class="sidenav" aria-label="Workspace">
      ${nav.map(([href, label]) => html`<${Link} href=${href}
        aria-current=${path === href || path.startsWith(`${href}/`) ? 'page' : undefined}>${label}</${Link}>`)}
    </nav>
    <main id="main" class="content" tabindex="-1">
      <${BillingBanner} billing=${session.billing} path=${path} />
      ${children}
    </main>
  </div>`;
}
