// The admin screens under /app/admin (the gateway keeps /admin/* for the JSON API): overview,
// slice grid and slice pages, alert log, users, revenue. A separate chunk, with uPlot and its own
// stylesheet, that main.js loads only for an administrator on these routes.
/* global CRM_ADMIN_CSS */
import { useEffect, useState } from 'preact/hooks';
import { html } from '../html.js';
import { Link, navigate } from '../router.js';
import { logout } from '../session.js';
import { Alerts } from './alerts.js';
import { Overview } from './overview.js';
import { Revenue } from './revenue.js';
import { SliceDetail, SliceGrid } from './slices.js';
import { Users } from './users.js';

// build.mjs compiles the hashed name of src/admin/admin.css in as CRM_ADMIN_CSS; a <link> added
// from script is within the CSP (style-src 'self'), unlike an inline style.
const stylesheet = new Promise((resolve) => {
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = CRM_ADMIN_CSS;
  link.onload = resolve;
  link.onerror = resolve; // unstyled beats blank
  document.head.appendChild(link);
});

const kNav = [
  ['/app/admin', 'Overview'],
  ['/app/admin/slices', 'Slices'],
  ['/app/admin/alerts', 'Alerts'],
  ['/app/admin/users', 'Users'],
  ['/app/admin/revenue', 'Revenue'],
];

function Screen({ path, session }) {
  const rest = path.replace(/^\/app\/admin\/?/, '').replace(/\/$/, '');
  const slice = /^slices\/(\d+)$/.exec(rest);
  if (slice) {
    return html`<${SliceDetail} key=${slice[1]} id=${slice[1]} />`;
  }
  const screens = { '': Overview, slices: SliceGrid, alerts: Alerts, users: Users, revenue: Revenue };
  const Page = screens[rest];
  return Page ? html`<${Page} session=${session} />`
    : html`<section class="page"><h1>Not found</h1><p>No admin screen at ${path}.</p></section>`;
}

/// The admin frame and the screen for `path` (a /app/admin route); `session` is an admin's.
export function AdminApp({ session, path }) {
  const [styled, setStyled] = useState(false);
  useEffect(() => {
    stylesheet.then(() => setStyled(true));
  }, []);
  if (!styled) {
    return html`<div class="loading" aria-busy="true">Loading…</div>`;
  }
  const current = (href) => (href === '/app/admin' ? path.replace(/\/$/, '') === href : path.startsWith(href));
  const onLogout = async () => {
    await logout().catch(() => {});
    navigate('/login');
  };
  return html`<div class="shell admin">
    <a class="skip" href="#main">Skip to content</a>
    <header class="appbar">
      <${Link} href="/app/admin" class="brand">crm<span>.</span> <small>admin</small></${Link}>
      <div class="status">
        <span class="who">${session.user.email}</span>
        <button class="btn btn-ghost btn-small" onClick=${onLogout}>Sign out</button>
      </div>
    </header>
    <nav class="sidenav" aria-label="Administration">
      ${kNav.map(([href, label]) => html`<${Link} key=${href} href=${href}
        aria-current=${current(href) ? 'page' : undefined}>${label}</${Link}>`)}
    </nav>
    <main id="main" class="content" tabindex="-1"><${Screen} path=${path} session=${session} /></main>
  </div>`;
}
