// A small History-API router: the gateway answers every extension-less non-API path with
// index.html, so real paths (no hash) work on reload and when shared.
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';

const listeners = new Set();

function current() {
  return { path: location.pathname, search: new URLSearchParams(location.search) };
}

/// Goes to `to` (a path with an optional query) without a reload; `replace` keeps history short.
export function navigate(to, replace = false) {
  if (to === location.pathname + location.search) {
    return;
  }
  history[replace ? 'replaceState' : 'pushState'](null, '', to);
  listeners.forEach((l) => l(current()));
  window.scrollTo(0, 0);
}

window.addEventListener('popstate', () => listeners.forEach((l) => l(current())));

/// The current { path, search }, re-rendering on every navigation.
export function useRoute() {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    listeners.add(setRoute);
    return () => listeners.delete(setRoute);
  }, []);
  return route;
}

/// An <a> that navigates in place for plain left clicks and keeps every other click (new tab…).
export function Link({ href, children, ...rest }) {
  const onClick = (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) {
      return;
    }
    e.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${onClick} ...${rest}>${children}</a>`;
}
