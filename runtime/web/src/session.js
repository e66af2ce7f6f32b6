// Who is signed in (GET /auth/me), shared by every screen; sign-in and sign-out update it.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, post } from './api.js';
import { closeEvents } from './events.js';

let me; // undefined: not asked yet; null: signed out; else {user, slice, billing}
const listeners = new Set();

function set(value) {
  me = value;
  listeners.forEach((l) => l(me));
}

window.addEventListener('crm:signed-out', () => me && signedOut());

/// Asks the server who we are; 401 means signed out.
export async function refreshSession() {
  try {
    set(await get('/auth/me'));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      set(null);
    } else {
      throw e;
    }
  }
  return me;
}

/// Records the body of a successful register or login.
export const signedIn = (body) => set(body);

/// Forgets the session locally (after logout, logout-all, delete-account or a 401).
export function signedOut() {
  closeEvents();
  set(null);
}

export async function logout() {
  try {
    await post('/auth/logout');
  } finally {
    signedOut();
  }
}

/// True when the account has no workspace because billing waits for its first payment (or a
/// canceled one's data was deleted): the billing screen is where such a tenant goes.
export const awaitsPayment = (s) => Boolean(s && !s.slice && s.billing && s.billing.enabled);

/// The session: undefined while loading, null when signed out, else {user, slice, billing}.
export function useSession() {
  const [value, setValue] = useState(me);
  useEffect(() => {
    listeners.add(setValue);
    if (me === undefined) {
      refreshSession().catch(() => set(null));
    }
    return () => listeners.delete(setValue);
  }, []);
  return value;
}
