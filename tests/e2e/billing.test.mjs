// Billing in the browser, pay-first (docs/api.md, "Billing"): sign-up lands on /app/billing with
// no workspace, Subscribe leaves for the Checkout URL the Stripe stand-in made, Stripe's signed
// checkout.session.completed (sent here, as Stripe would) makes the workspace appear without a
// reload, and a failed payment puts the grace date in the banner. The C++ harness (web_test.cpp)
// runs crmd with billing on against crm::testing::StripeStandIn and passes its address and the
// webhook secret in the environment.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { base, call, check, launch, unique, watch } from './lib.mjs';

const stripe = process.env.CRM_STRIPE_URL;
const secretKey = process.env.CRM_STRIPE_SECRET_KEY;
const webhookSecret = process.env.CRM_STRIPE_WEBHOOK_SECRET;

const rid = (prefix) => `${prefix}_web${randomBytes(8).toString('hex')}`;

/// Delivers one event to the gateway exactly as Stripe does: the JSON body, and
/// `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body" with the endpoint secret>`.
async function deliver(type, object) {
  const created = Math.floor(Date.now() / 1000);
  const body = JSON.stringify({
    id: rid('evt'), object: 'event', api_version: '2024-06-20', created, livemode: false,
    pending_webhooks: 1, request: { id: null, idempotency_key: null }, type, data: { object },
  });
  const v1 = createHmac('sha256', webhookSecret).update(`${created}.${body}`).digest('hex');
  const r = await fetch(`${base}/billing/webhook`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Stripe-Signature': `t=${created},v1=${v1}` },
    body,
  });
  assert.equal(r.status, 200, `${type}: ${await r.text()}`);
}

/// The Checkout Session the gateway created at the stand-in, read back through Stripe's API.
async function checkoutSession(url) {
  const id = /cs_[A-Za-z0-9_]+/.exec(url);
  assert.ok(id, `the Checkout URL names its session: ${url}`);
  const r = await fetch(`${stripe}/v1/checkout/sessions/${id[0]}`, { headers: { Authorization: `Bearer ${secretKey}` } });
  assert.equal(r.status, 200, `GET /v1/checkout/sessions/${id[0]}: ${await r.clone().text()}`);
  return r.json();
}

test('pay-first: subscribe, the workspace appears, a failed payment shows the grace date', { timeout: 180000 }, async () => {
  assert.ok(stripe && secretKey && webhookSecret, 'CRM_STRIPE_URL, CRM_STRIPE_SECRET_KEY and CRM_STRIPE_WEBHOOK_SECRET must be set');
  const browser = await launch();
  const page = browser.context.pages()[0] || (await browser.context.newPage());
  const problems = watch(page);
  try {
    // Sign-up without a workspace: straight to billing.
    await page.goto('/signup');
    await page.getByLabel('Work e-mail').fill(unique('billing'));
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    await page.waitForURL('**/app/billing');
    const me = await call(page, 'GET', '/auth/me');
    assert.equal(me.body.slice, null, 'pay-first: no slice before the payment');
    assert.deepEqual([me.body.billing.enabled, me.body.billing.status], [true, 'none']);
    await page.locator('[data-billing-status="none"]').waitFor();
    assert.match(await page.locator('.plan strong').textContent(), /\$4\.50/);
    await check(page, 'billing-none');

    // The other screens say to subscribe first; the inbox sends here.
    await page.getByRole('link', { name: 'Contacts' }).click();
    await page.getByRole('heading', { name: 'Subscribe first' }).waitFor();
    await check(page, 'billing-subscribe-first');
    await page.goto('/app/inbox');
    await page.waitForURL('**/app/billing');

    // Subscribe: the browser leaves for the stand-in's Checkout URL (answered here with a stub
    // page: the stand-in need not render one, and this test must not depend on it).
    await page.route((url) => url.origin !== base, (route) => route.fulfill({
      contentType: 'text/html', body: '<!doctype html><title>Checkout</title><h1>Checkout (stand-in)</h1>',
    }));
    const answer = page.waitForResponse((r) => r.url().endsWith('/billing/create-checkout'));
    await page.locator('[data-billing-status="none"]').waitFor();
    await page.getByRole('button', { name: 'Subscribe' }).click();
    const created = await answer;
    assert.equal(created.status(), 200, await created.text());
    const { url } = await created.json();
    assert.ok(url.startsWith(stripe), `the Checkout URL is the stand-in's: ${url}`);
    await page.waitForURL(url);
    const session = await checkoutSession(url);
    assert.equal(session.mode, 'subscription');
    assert.equal(String(session.client_reference_id), String(me.body.user.id));
    assert.equal(session.success_url, `${base}/app/billing?checkout=success`);
    await page.unrouteAll();

    // Stripe sends the tenant back, then its webhook: the page waits and opens the workspace.
    await page.goto('/app/billing?checkout=success');
    await page.getByText('Payment received — your workspace is being prepared').waitFor();
    await page.evaluate(() => { window.__sameDocument = true; });
    await check(page, 'billing-checkout-success');
    const customer = session.customer || rid('cus');
    const subscription = session.subscription || rid('sub');
    await deliver('checkout.session.completed', {
      ...session, object: 'checkout.session', status: 'complete', payment_status: 'paid', customer, subscription,
    });
    await page.waitForURL('**/app/inbox', { timeout: 30000 });
    await page.getByText('No conversations yet.').waitFor();
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the workspace appeared without a reload');

    await page.getByRole('link', { name: 'Billing' }).click();
    await page.locator('[data-billing-status="active"]').waitFor();
    await page.getByRole('button', { name: 'Manage billing' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Subscribe' }).count(), 0, 'no second subscription');
    await check(page, 'billing-active');

    // A failed renewal: past due, the banner on every screen names the day to pay by.
    const now = Math.floor(Date.now() / 1000);
    await deliver('invoice.payment_failed', {
      id: rid('in'), object: 'invoice', customer, subscription, status: 'open', paid: false, attempt_count: 1,
      amount_due: 450, currency: 'usd', billing_reason: 'subscription_cycle', created: now,
      next_payment_attempt: now + 3 * 86400,
    });
    await page.getByRole('link', { name: 'Contacts' }).click();
    const banner = page.locator('[data-billing-banner="past_due"]');
    await banner.waitFor();
    const after = await call(page, 'GET', '/auth/me');
    assert.equal(after.body.billing.status, 'past_due');
    const grace = new Date(after.body.billing.grace_ends_at);
    const days = (grace.getTime() - Date.now()) / 86400000;
    assert.ok(days > 6 && days <= 7.01, `grace ends in about 7 days, not ${days}`);
    const day = await page.evaluate((iso) => new Date(iso).toLocaleDateString('en', { day: 'numeric', month: 'long', year: 'numeric' }),
      after.body.billing.grace_ends_at);
    assert.match(await banner.textContent(), new RegExp(`Pay by ${day} or the workspace is paused`));
    await check(page, 'billing-banner-past-due');
    await banner.getByRole('link', { name: 'Update payment' }).click();
    await page.locator('[data-billing-status="past_due"]').waitFor();
    await check(page, 'billing-past-due');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
