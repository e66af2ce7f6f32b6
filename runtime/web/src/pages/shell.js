// The signed-in frame: navigation, the WhatsApp connection state and the live-events state, and
// the channel store the connect and settings screens share.
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import { openEvents, useEvent, useEventsState } from '../events.js';
import { html } from '../html.js';
import { Link, navigate, useRoute } from '../router.js';
import { logout } from '../session.js';
import { Badge } from '../ui.js';

// The channel as GET /api/channel describes it, re-read on every channel.state event.
let channel = null;
const channelListeners = new Set();

/// Re-reads GET /api/channel and tells every screen showing it.
export async function reloadChannel() {
  channel = await get('/api/channel');
  channelListeners.forEach((l) => l(channel));
  return channel;
}

/// The channel (null until loaded), live.
export function useChannel() {
  const [value, set] = useState(channel);
  useEffect(() => {
    channelListeners.add(set);
    reloadChannel().catch(() => {});
    return () => channelListeners.delete(set);
  }, []);
  return value;
}

const kStateKinds = { connected: 'success', disconnected: 'warning', unpaired: 'warning', unconfigured: 'danger' };

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

export function Shell({ session, children }) {
  const { path } = useRoute();
  const live = useEventsState();
  const c = useChannel();
  useEffect(() => openEvents(), []);
  useEvent('channel.state', () => reloadChannel().catch(() => {}));
  const onLogout = async () => {
    await logout().catch(() => {});
    navigate('/login');
  };
  return html`<div class="shell">
    <a class="skip" href="#main">Skip to content</a>
    <header class="appbar">
      <${Link} href="/app/inbox" class="brand">crm<span>.</span></${Link}>
      <div class="status">
        <${ChannelBadge} channel=${c} />
        <span class=${`live live-${live}`} title="Live updates">${live === 'live' ? 'Live' : 'Reconnecting…'}</span>
        <span class="who">${session.user.email}</span>
        <button class="btn btn-ghost btn-small" onClick=${onLogout}>Sign out</button>
      </div>
    </header>
    <nav class="sidenav" aria-label="Workspace">
      ${kNav.map(([href, label]) => html`<${Link} href=${href}
        aria-current=${path === href || path.startsWith(`${href}/`) ? 'page' : undefined}>${label}</${Link}>`)}
    </nav>
    <main id="main" class="content" tabindex="-1">${children}</main>
  </div>`;
}
