// The web app's entry: routes (History API) to the public screens and, behind a session, to the
// workspace shell or, for an administrator, the admin screens under /app/admin (a separate chunk
// loaded on those routes only). docs/architecture.md ("The web app") says where a new screen goes.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { navigate, useRoute } from './router.js';
import { awaitsPayment, useSession } from './session.js';
import { Toasts } from './ui.js';
import { ForgotPassword, Landing, Login, NotFound, Pricing, ResetPassword, Signup } from './pages/public.js';
import { Shell } from './pages/shell.js';
import { Connect } from './pages/connect.js';
import { Inbox } from './pages/inbox.js';
import { Contacts } from './pages/contacts.js';
import { Broadcasts } from './pages/broadcasts.js';
import { Settings } from './pages/settings.js';
import { Billing, SubscribeFirst } from './pages/billing.js';
import { Forbidden } from './pages/forbidden.js';

const kPublic = {
  '/': Landing,
  '/pricing': Pricing,
  '/signup': Signup,
  '/login': Login,
  '/forgot-password': ForgotPassword,
  '/reset-password': ResetPassword,
};

// Workspace screens by the first path segment after /app/ (the inbox also has /app/inbox/<id>).
const kApp = {
  connect: Connect, inbox: Inbox, contacts: Contacts, broadcasts: Broadcasts, settings: Settings, billing: Billing,
};
// The screens that work before the workspace exists (billing on, not paid yet).
const kWithoutWorkspace = new Set(['billing', 'settings']);

function Redirect({ to }) {
  useEffect(() => navigate(to, true), [to]);
  return null;
}

// The admin screens and uPlot: fetched only when an administrator opens /app/admin, so a
// tenant's pages never load them (build.mjs checks both first loads against the budget).
let adminModule = null;
function AdminScreens({ session, path }) {
  const [mod, setMod] = useState(adminModule);
  const [failed, setFailed] = useState(null);
  useEffect(() => {
    if (!mod) {
      import('./admin/index.js').then((m) => setMod((adminModule = m)), (e) => setFailed(e.message));
    }
  }, []);
  if (failed) {
    return html`<div class="alert alert-error" role="alert">The admin screens did not load (${failed}): reload the page.</div>`;
  }
  return mod ? html`<${mod.AdminApp} session=${session} path=${path} />`
    : html`<div class="loading" aria-busy="true">Loading…</div>`;
}

const isAdmin = (session) => Boolean(session && session.user && session.user.role === 'admin');

function App() {
  const { path, search } = useRoute();
  const session = useSession();
  if (kPublic[path]) {
    const Page = kPublic[path];
    return html`<${Page} />`;
  }
  const admin = /^\/app\/admin(?:\/[a-z0-9]+)*\/?$/.test(path);
  const m = /^\/app(?:\/([a-z]+)(?:\/\d+)?)?\/?$/.exec(path);
  if (!m && !admin) {
    return html`<${NotFound} />`;
  }
  if (session === undefined) {
    return html`<div class="loading" aria-busy="true">Loading…</div>`;
  }
  if (session === null) {
    return html`<${Redirect} to=${`/login?next=${encodeURIComponent(path + (search.toString() ? `?${search}` : ''))}`} />`;
  }
  if (admin) {
    return isAdmin(session) ? html`<${AdminScreens} session=${session} path=${path} />` : html`<${Forbidden} />`;
  }
  // An administrator has no workspace: the workspace's screens have nothing to show them.
  if (isAdmin(session)) {
    return html`<${Redirect} to="/app/admin" />`;
  }
  const unpaid = awaitsPayment(session);
  // A tenant who has not paid yet lands on billing rather than an inbox that cannot load.
  if (!kApp[m[1]] || (unpaid && m[1] === 'inbox')) {
    return html`<${Redirect} to=${unpaid ? '/app/billing' : '/app/inbox'} />`;
  }
  const Page = unpaid && !kWithoutWorkspace.has(m[1]) ? SubscribeFirst : kApp[m[1]];
  return html`<${Shell} session=${session}><${Page} session=${session} /></${Shell}>`;
}

render(html`<${App} /><${Toasts} />`, document.getElementById('app'));
