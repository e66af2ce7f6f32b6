// The public screens: landing, pricing, sign-up, sign-in, forgot and reset password.
import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { html } from '../html.js';
import { Link, navigate, useRoute } from '../router.js';
import { refreshSession, signedIn } from '../session.js';
import { Button, Field, FormError, money, useForm, useTitle } from '../ui.js';

export function PublicLayout({ children }) {
  return html`<div class="public">
    <header class="topbar">
      <${Link} href="/" class="brand">crm<span>.</span></${Link}>
      <nav aria-label="Main">
        <${Link} href="/pricing">Pricing</${Link}>
        <${Link} href="/login">Sign in</${Link}>
        <${Link} href="/signup" class="btn btn-primary btn-small">Start free</${Link}>
      </nav>
    </header>
    <main id="main">${children}</main>
    <footer class="footer">WhatsApp conversations and broadcasts for small businesses.</footer>
  </div>`;
}

export function Landing() {
  useTitle('WhatsApp CRM');
  return html`<${PublicLayout}>
    <section class="hero">
      <h1>Every WhatsApp conversation with your customers, in one place.</h1>
      <p class="lead">For businesses that talk to customers on WhatsApp: a shared inbox, your contacts
        with tags, and broadcasts to thousands that you can watch arrive — sent, delivered, read.</p>
      <div class="actions">
        <${Link} href="/signup" class="btn btn-primary btn-large">Create your workspace</${Link}>
        <${Link} href="/pricing" class="btn btn-secondary btn-large">See pricing</${Link}>
      </div>
    </section>
    <section class="features" aria-label="What it does">
      <article class="card"><h2>Connect in a minute</h2>
        <p>Scan a QR code with the business phone. The connection state stays on screen.</p></article>
      <article class="card"><h2>One inbox</h2>
        <p>Replies arrive live, with unread counts, search and delivery ticks on every message.</p></article>
      <article class="card"><h2>Contacts and tags</h2>
        <p>Import a CSV, tag your customers, and find anyone by name, number or tag.</p></article>
      <article class="card"><h2>Broadcasts that report back</h2>
        <p>Send to a tag, a pasted list or a CSV of 100,000 numbers; pause, resume, and watch progress.</p></article>
    </section>
  </${PublicLayout}>`;
}

/// The plan as GET /billing/plan describes it: name, monthly price, and the launch offer when
/// there is one (the regular price struck through). Pricing and billing show the same thing.
export function PlanPrice({ plan }) {
  const discounted = plan.launch_discount_percent > 0;
  return html`<h2>${plan.name}</h2>
    <p class="price">
      ${discounted && html`<del aria-label=${`regular price ${money(plan.monthly_cents, plan.currency)}`}>
        ${money(plan.monthly_cents, plan.currency)}</del> `}
      <strong>${money(discounted ? plan.launch_monthly_cents : plan.monthly_cents, plan.currency)}</strong>
      <span class="per">/ month</span>
    </p>
    ${discounted && html`<p><span class="badge badge-success">Launch offer: ${plan.launch_discount_percent} % off</span></p>`}`;
}

export function Pricing() {
  useTitle('Pricing');
  const [plan, setPlan] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    get('/billing/plan').then(setPlan, (e) => setError(e.message));
  }, []);
  return html`<${PublicLayout}>
    <section class="narrow">
      <h1>Pricing</h1>
      <p class="lead">One plan, everything included. Cancel any time; export your data whenever you like.</p>
      <${FormError} error=${error} />
      ${plan && html`<div class="card plan">
        <${PlanPrice} plan=${plan} />
        <ul class="checks">
          <li>One WhatsApp number, a shared inbox</li>
          <li>Unlimited contacts, tags and CSV import</li>
          <li>Broadcasts with live delivery reports</li>
          <li>Your data export, any time</li>
        </ul>
        <${Link} href="/signup" class="btn btn-primary btn-large">Start now</${Link}>
      </div>`}
      ${!plan && !error && html`<p aria-busy="true">Loading the plan…</p>`}
    </section>
  </${PublicLayout}>`;
}

function AuthCard({ title, children, footer }) {
  return html`<${PublicLayout}>
    <section class="auth card">
      <h1>${title}</h1>
      ${children}
      ${footer && html`<div class="auth-footer">${footer}</div>`}
    </section>
  </${PublicLayout}>`;
}

export function Signup() {
  useTitle('Create your workspace');
  const f = useForm({ email: '', password: '' });
  const onSubmit = f.submit(async (v) => {
    const body = await post('/auth/register', v);
    signedIn(body);
    if (body.slice) {
      navigate('/app/connect');
      return;
    }
    // Billing on and pay-first: the workspace is created once the subscription is paid. /auth/me
    // carries the billing state the shell needs, whether or not the sign-up answer does.
    await refreshSession();
    navigate('/app/billing');
  });
  return html`<${AuthCard} title="Create your workspace"
    footer=${html`Already have one? <${Link} href="/login">Sign in</${Link}>`}>
    <form onSubmit=${onSubmit} novalidate>
      <${FormError} error=${f.errors._form} />
      <${Field} label="Work e-mail" type="email" autocomplete="email" required ...${f.bind('email')} />
      <${Field} label="Password" type="password" autocomplete="new-password" required
        hint="At least 10 characters." ...${f.bind('password')} />
      <${Button} type="submit" busy=${f.busy}>Create workspace</${Button}>
    </form>
  </${AuthCard}>`;
}

// The account lives in another region: its data never leaves there, so the browser goes there
// (a full navigation to that region's page, the address prefilled). True when it went.
function followRegion(err) {
  if (err && err.status === 409 && err.region && err.url && /^https?:\/\//.test(err.url)) {
    window.location.assign(err.url);
    return true;
  }
  return false;
}

// Posts to `path`, or sends the browser to the region that holds the account.
async function postHere(path, body) {
  try {
    return await post(path, body);
  } catch (err) {
    if (followRegion(err)) {
      return new Promise(() => {});  // the page is being left: nothing more to show here
    }
    throw err;
  }
}

export function Login() {
  useTitle('Sign in');
  const { search } = useRoute();
  const f = useForm({ email: search.get('email') || '', password: '' });
  const onSubmit = f.submit(async (v) => {
    signedIn(await postHere('/auth/login', v));
    const next = search.get('next');
    navigate(next && next.startsWith('/app/') ? next : '/app/inbox');
  });
  return html`<${AuthCard} title="Sign in"
    footer=${html`<${Link} href="/forgot-password">Forgot your password?</${Link}> ·
      New here? <${Link} href="/signup">Create a workspace</${Link}>`}>
    <form onSubmit=${onSubmit} novalidate>
      ${search.get('reset') && html`<div class="alert alert-success" role="status">Your password is changed. Sign in with it.</div>`}
      <${FormError} error=${f.errors._form} />
      <${Field} label="E-mail" type="email" autocomplete="email" required ...${f.bind('email')} />
      <${Field} label="Password" type="password" autocomplete="current-password" required ...${f.bind('password')} />
      <${Button} type="submit" busy=${f.busy}>Sign in</${Button}>
    </form>
  </${AuthCard}>`;
}

export function ForgotPassword() {
  useTitle('Forgot password');
  const { search } = useRoute();
  const f = useForm({ email: search.get('email') || '' });
  const [sent, setSent] = useState(null);
  const onSubmit = f.submit(async (v) => setSent((await postHere('/auth/forgot-password', v)).status));
  return html`<${AuthCard} title="Reset your password"
    footer=${html`<${Link} href="/login">Back to sign in</${Link}>`}>
    ${sent
      ? html`<div class="alert alert-success" role="status">${sent}. Open the link in the e-mail to choose a new password.</div>`
      : html`<form onSubmit=${onSubmit} novalidate>
          <p>We will e-mail you a link to choose a new password. It works once, for an hour.</p>
          <${FormError} error=${f.errors._form} />
          <${Field} label="E-mail" type="email" autocomplete="email" required ...${f.bind('email')} />
          <${Button} type="submit" busy=${f.busy}>Send the link</${Button}>
        </form>`}
  </${AuthCard}>`;
}

export function ResetPassword() {
  useTitle('Choose a new password');
  const { search } = useRoute();
  const token = search.get('token') || '';
  const f = useForm({ password: '', token });
  const onSubmit = f.submit(async (v) => {
    await post('/auth/reset-password', { token, password: v.password });
    navigate('/login?reset=1');
  });
  return html`<${AuthCard} title="Choose a new password">
    ${!token
      ? html`<div class="alert alert-error" role="alert">This link has no reset token. Ask for a new one on
          <${Link} href="/forgot-password">Forgot password</${Link}>.</div>`
      : html`<form onSubmit=${onSubmit} novalidate>
          <${FormError} error=${f.errors._form || f.errors.token} />
          <${Field} label="New password" type="password" autocomplete="new-password" required
            hint="At least 10 characters." ...${f.bind('password')} />
          <${Button} type="submit" busy=${f.busy}>Set the password</${Button}>
        </form>`}
  </${AuthCard}>`;
}

export function NotFound() {
  useTitle('Not found');
  return html`<${PublicLayout}><section class="narrow"><h1>Nothing here</h1>
    <p>This page does not exist. <${Link} href="/">Go to the start page</${Link}>.</p></section></${PublicLayout}>`;
}
