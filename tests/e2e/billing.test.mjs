// Billing in the browser, pay-first (docs/api.md, "Billing"): sign-up lands on /app/billing with
// no workspace, Subscribe leaves for the Checkout URL the Stripe stand-in made, Stripe's signed
// checkout.session.completed (sent here, as Stripe would) makes the workspace appear without a
// reload, and a failed payment puts the grace date in the banner. The C++ harness (web_test.cpp)
// runs crmd with billing on against crm::testing::StripeStandIn, passes the webhook secret in the
// environment, and afterwards checks the Checkout Session the stand-in was asked for. The stand-in's
// customer id is not visible from here: the events name the account as Stripe's do, by
// client_reference_id and then by the subscription.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { base, call, check, launch, unique, watch } from './lib.mjs';

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

test('pay-first: subscribe, the workspace appears, a failed payment shows the grace date', { timeout: 180000 }, async () => {
  assert.ok(webhookSecret, 'CRM_STRIPE_WEBHOOK_SECRET must be set');
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

    // Subscribe: the browser leaves for the Checkout URL the stand-in made (answered here with a
    // stub page: the network is closed, and what matters is where the browser went).
    let left = null;
    await page.route((url) => url.origin !== base, (route) => {
      left = route.request().url();
      return route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>Checkout</title><h1>Checkout (stand-in)</h1>' });
    });
    // The gateway's answer, read on its way to the page (the page navigates away at once).
    let answer = null;
    await page.route('**/billing/create-checkout', async (route) => {
      const r = await route.fetch();
      answer = { status: r.status(), body: await r.json() };
      await route.fulfill({ response: r });
    });
    await page.locator('[data-billing-status="none"]').waitFor();
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await page.waitForURL((u) => u.origin !== base);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const { url } = answer.body;
    assert.equal(left, url, 'the browser went to the Checkout URL the gateway answered');
    const checkoutId = /\/c\/pay\/(cs_[A-Za-z0-9_]+)$/.exec(url);
    assert.ok(checkoutId, `a Stripe Checkout URL: ${url}`);
    await page.unrouteAll();
    const again = await call(page, 'POST', '/billing/create-checkout');
    assert.equal(again.status, 200, 'not paid yet: checkout may be started again');

    // Stripe sends the tenant back, then its webhook: the page waits and opens the workspace.
    await page.goto('/app/billing?checkout=success');
    await page.getByText('Payment received — your workspace is being prepared').waitFor();
    await page.evaluate(() => { window.__sameDocument = true; });
    await check(page, 'billing-checkout-success');
    const subscription = rid('sub');
    const periodEnd = Math.floor(Date.now() / 1000) + 30 * 86400;
    await deliver('checkout.session.completed', {
      id: checkoutId[1], object: 'checkout.session', mode: 'subscription', status: 'complete', payment_status: 'paid',
      client_reference_id: String(me.body.user.id), subscription, success_url: `${base}/app/billing?checkout=success`,
    });
    await deliver('invoice.paid', {
      id: rid('in'), object: 'invoice', subscription, status: 'paid', paid: true, amount_due: 450, currency: 'usd',
      billing_reason: 'subscription_create', lines: { object: 'list', data: [{ period: { start: periodEnd - 30 * 86400, end: periodEnd } }] },
    });
    await page.waitForURL('**/app/inbox', { timeout: 30000 });
    await page.getByText('No conversations yet.').waitFor();
    await page.locator('.live-live').waitFor();
    assert.equal(await page.locator('.alert-error').count(), 0, 'the workspace answers at once');
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the workspace appeared without a reload');

    await page.getByRole('link', { name: 'Billing' }).click();
    await page.locator('[data-billing-status="active"]').waitFor();
    assert.match(await page.locator('.subscription').textContent(), /renews on/);
    await page.getByRole('button', { name: 'Manage billing' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Subscribe' }).count(), 0, 'no second subscription');
    await check(page, 'billing-active');

    // A failed renewal: past due, the banner on every screen names the day to pay by.
    const now = Math.floor(Date.now() / 1000);
    await deliver('invoice.payment_failed', {
      id: rid('in'), object: 'invoice', subscription, status: 'open', paid: false, attempt_count: 1,
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
