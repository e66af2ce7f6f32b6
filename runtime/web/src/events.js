// The one live connection to the tenant's slice: a single EventSource on /api/events shared by
// every screen (docs/api.md lists the events). Screens subscribe by event name; nothing polls.
import { useEffect, useRef, useState } from 'preact/hooks';

const kEvents = [
  'contact.created', 'contact.updated', 'contact.deleted', 'contacts.imported', 'message.created', 'message.status',
  'conversation.updated', 'broadcast.created', 'broadcast.progress', 'channel.state',
];

const handlers = new Map(kEvents.map((e) => [e, new Set()]));
const stateListeners = new Set();
let source = null;
let state = 'closed';
let retryTimer = null;
let retryMs = 0;

function setState(s) {
  state = s;
  stateListeners.forEach((l) => l(s));
}

/// Opens the stream (once); the browser reconnects by itself after a drop (`retry: 2000`), and
/// this after an HTTP error, which the browser does not retry.
export function openEvents() {
  if (source) {
    return;
  }
  setState('connecting');
  source = new EventSource('/api/events');
  source.onopen = () => {
    retryMs = 0;
    setState('live');
  };
  source.onerror = () => {
    if (source && source.readyState === EventSource.CLOSED) {
      // The browser gives up after an HTTP error, e.g. the gateway's 503 while a workspace that was
      // just paid for starts, or a restart: try again, backing off up to a minute.
      source.close();
      source = null;
      retryMs = Math.min(60000, retryMs ? retryMs * 2 : 2000);
      retryTimer = setTimeout(() => {
        retryTimer = null;
        openEvents();
      }, retryMs);
    }
    setState('connecting');
  };
  for (const name of kEvents) {
    source.addEventListener(name, (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      handlers.get(name).forEach((h) => h(data));
    });
  }
}

/// Closes the stream (sign-out): the next tenant in this tab must not see this one's events.
export function closeEvents() {
  clearTimeout(retryTimer);
  retryTimer = null;
  retryMs = 0;
  if (source) {
    source.close();
    source = null;
  }
  setState('closed');
}

/// Calls `handler(data)` for each `name` event while the component is mounted; the latest
/// handler is used, so it may close over fresh state.
export function useEvent(name, handler) {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => {
    const h = (data) => ref.current(data);
    handlers.get(name).add(h);
    return () => handlers.get(name).delete(h);
  }, [name]);
}

/// 'connecting' | 'live' | 'closed'.
export function useEventsState() {
  const [s, set] = useState(state);
  useEffect(() => {
    stateListeners.add(set);
    set(state);
    return () => stateListeners.delete(set);
  }, []);
  return s;
}
