// Cursor-paged lists (docs/api.md: ?cursor= and next_cursor) with infinite scroll.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, query } from './api.js';
import { html } from './html.js';

/// Loads pages of a list endpoint: items, the cursor, loadMore(), reload(), setItems(f).
const seen = (items) => new Set(items.map((i) => i.id));

export function usePaged(path, params) {
  const [state, setState] = useState({ items: [], next: null, loading: true, error: null });
  const key = path + query(params);
  const seq = useRef(0);
  const load = async (cursor) => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const page = await get(path + query({ ...params, cursor, limit: 50 }));
      if (mine !== seq.current) {
        return;
      }
      setState((s) => ({
        items: cursor ? [...s.items, ...page.items.filter((i) => !seen(s.items).has(i.id))] : page.items,
        next: page.next_cursor,
        loading: false,
        error: null,
      }));
    } catch (e) {
      if (mine === seq.current) {
        setState((s) => ({ ...s, loading: false, error: e.message }));
      }
    }
  };
  useEffect(() => {
    load(null);
  }, [key]);
  return {
    ...state,
    loadMore: () => state.next && !state.loading && load(state.next),
    reload: () => load(null),
    setItems: (f) => setState((s) => ({ ...s, items: f(s.items) })),
  };
}

/// Calls `onVisible` whenever the sentinel scrolls into view: infinite scroll without polling.
export function Sentinel({ onVisible }) {
  const ref = useRef(null);
  const cb = useRef(onVisible);
  cb.current = onVisible;
  useEffect(() => {
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && cb.current());
    io.observe(ref.current);
    return () => io.disconnect();
  }, []);
  return html`<div ref=${ref} class="sentinel" aria-hidden="true"></div>`;
}
