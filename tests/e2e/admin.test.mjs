// The admin dashboard in a real browser: a tenant is refused (403 page), the administrator sees
// both tenants' slices in the grid, suspends one (its cell says so and the tenant's API answers
// 423), resumes it, terminates a third tenant from the users page, and reads the alert log and
// the revenue note; every admin screen passes axe. With the monitor running, the overview's
// server figures and charts (a canvas with data) and the slice's memory timeline, and an alert
// for a killed slice process.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'playwright-core';
import { base, call, check, launch, signup, unique, watch } from './lib.mjs';

const admin = { email: process.env.CRM_ADMIN_EMAIL, password: process.env.CRM_ADMIN_PASSWORD };
assert.ok(admin.email && admin.password, 'CRM_ADMIN_EMAIL and CRM_ADMIN_PASSWORD name the administrator');

// A tenant that only talks to the API (its own cookie jar).
async function apiTenant(prefix) {
  const ctx = await request.newContext({ baseURL: base });
  const email = unique(prefix);
  const r = await ctx.post('/auth/register', { data: { email, password: 'correct horse battery' } });
  assert.equal(r.status(), 201, await r.text());
  return { ctx, email, slice: (await r.json()).slice.id };
}

// Polls `fn` until it returns true, up to `ms`: the slice process starts and stops asynchronously.
async function eventually(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn()) {
      return;
    }
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function signInAsAdmin(page) {
  await page.goto('/login');
  await page.getByLabel('E-mail').fill(admin.email);
  await page.getByLabel('Password').fill(admin.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/app/admin');
}

test('a tenant gets a 403 page on the admin screens', { timeout: 60000 }, async () => {
  const browser = await launch();
  try {
    const page = browser.context.pages()[0] || (await browser.context.newPage());
    await signup(page, unique('tenant'));
    await page.goto('/app/admin/slices');
    await page.getByRole('heading', { name: '403 · Not allowed' }).waitFor();
    assert.equal((await call(page, 'GET', '/admin/slices')).status, 403, 'and the API refuses too');
    // The admin chunk was never fetched for a tenant.
    const scripts = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
    assert.ok(!scripts.some((n) => /\/assets\/admin-/.test(n)), `a tenant loaded the admin chunk: ${scripts.join(', ')}`);
    await check(page, 'admin-forbidden');
  } finally {
    await browser.close();
  }
});

test('the administrator suspends, resumes and terminates tenants from the dashboard', { timeout: 180000 }, async () => {
  const ana = await apiTenant('ana');
  const bruno = await apiTenant('bruno');
  const carla = await apiTenant('carla');
  const browser = await launch();
  try {
    const page = browser.context.pages()[0] || (await browser.context.newPage());
    const problems = watch(page);
    await signInAsAdmin(page);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await check(page, 'admin-overview');

    // The grid: a cell for each tenant, named by its e-mail.
    await page.getByRole('link', { name: 'Slices', exact: true }).click();
    const cell = (t) => page.locator(`.cell[data-slice="${t.slice}"]`);
    for (const t of [ana, bruno]) {
      await cell(t).getByText(t.email).waitFor();
      assert.equal(await cell(t).getAttribute('data-state'), 'assigned');
    }
    assert.match(await cell(ana).getAttribute('data-grid'), /^(green|yellow|red)$/);
    await check(page, 'admin-grid');

    // Suspend Bruno from his slice's page, behind a confirmation.
    await cell(bruno).getByRole('link').click();
    await page.waitForURL(`**/app/admin/slices/${bruno.slice}`);
    await page.getByRole('button', { name: `Suspend ${bruno.email}` }).click();
    const dialog = page.getByRole('dialog', { name: `Suspend ${bruno.email}?` });
    await dialog.waitFor();
    await check(page, 'admin-confirm');
    await dialog.getByRole('button', { name: `Suspend slice ${bruno.slice}` }).click();
    await page.locator('[data-fact="state"]', { hasText: 'suspended' }).waitFor();
    assert.equal((await bruno.ctx.get('/api/contacts')).status(), 423, 'the suspended tenant is told so');
    assert.equal((await ana.ctx.get('/api/contacts')).status(), 200, 'the other tenant is untouched');
    await check(page, 'admin-slice');
    await page.getByRole('link', { name: '← All slices' }).click();
    await page.locator(`.cell[data-slice="${bruno.slice}"][data-state="suspended"]`).waitFor();

    // Resume him: his workspace answers again once the process is up.
    await cell(bruno).getByRole('link').click();
    await page.getByRole('button', { name: `Resume ${bruno.email}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: `Resume slice ${bruno.slice}` }).click();
    await page.locator('[data-fact="state"]', { hasText: 'assigned' }).waitFor();
    await eventually(async () => (await bruno.ctx.get('/api/contacts')).status() === 200, 30000, 'bruno\'s API answers 200');

    // Terminate Carla from the users page; Cancel first changes nothing.
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    const row = page.locator(`tr[data-user="${carla.email}"]`);
    await row.waitFor();
    await row.getByRole('button', { name: `Terminate ${carla.email}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await carla.ctx.get('/api/contacts')).status(), 200, 'Cancel destroys nothing');
    await check(page, 'admin-users');
    await row.getByRole('button', { name: `Terminate ${carla.email}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: `Terminate slice ${carla.slice}` }).click();
    await row.locator('[data-slice="none"]', { hasText: 'no workspace' }).waitFor();
    assert.equal(await row.getByRole('button').count(), 0, 'nothing left to suspend or terminate');
    assert.notEqual((await carla.ctx.get('/api/contacts')).status(), 200, 'the terminated workspace is gone');

    // The alert log and revenue (billing is off here).
    await page.getByRole('link', { name: 'Alerts', exact: true }).click();
    await page.getByRole('heading', { name: 'Alerts' }).waitFor();
    await page.getByRole('link', { name: 'All', exact: true }).click();
    await page.waitForURL('**/app/admin/alerts?state=all');
    await check(page, 'admin-alerts');
    await page.getByRole('link', { name: 'Revenue', exact: true }).click();
    await page.locator('[data-billing="off"]').waitFor();
    await check(page, 'admin-revenue');
    assert.deepEqual(problems, [], 'no script error or CSP violation on the admin screens');
  } finally {
    await browser.close();
    await Promise.all([ana, bruno, carla].map((t) => t.ctx.dispose()));
  }
});

// The monitor's part (GET /admin/overview and the telemetry endpoints); web_test.cpp starts crmd
// with a short telemetry interval and check period so that data and alerts arrive within seconds.
test('with the monitor: the overview\'s figures and charts, a slice\'s timeline, an alert for a killed slice',
  { timeout: 180000 }, async () => {
    const ana = await apiTenant('ana');
    const browser = await launch();
    try {
      const page = browser.context.pages()[0] || (await browser.context.newPage());
      const problems = watch(page);
      await signInAsAdmin(page);
      assert.equal((await call(page, 'GET', '/admin/overview')).status, 200, 'the monitor\'s endpoints answer');
      // Charts draw once telemetry exists: re-read until the RAM chart is a canvas with points.
      await eventually(async () => {
        await page.goto('/app/admin');
        const fig = page.locator('figure[data-chart="RAM vs swap"]');
        await fig.waitFor();
        return Number(await fig.getAttribute('data-points')) > 0 && (await fig.locator('canvas').count()) === 1;
      }, 60000, 'the RAM vs swap chart has data');
      assert.ok(Number(await page.locator('[data-fact="slices-total"]').textContent()) >= 1);
      assert.ok(await page.locator('figure[data-chart="Swap-in rate"] canvas').count(), 'the swap-in trend draws');
      await page.getByRole('button', { name: '7 d' }).click();
      await page.locator('figure[data-chart="RAM vs swap"]').waitFor();
      await page.getByRole('button', { name: '24 h' }).click();
      await check(page, 'admin-overview');

      await eventually(async () => {
        await page.goto(`/app/admin/slices/${ana.slice}`);
        const fig = page.locator('figure[data-chart="Memory"]');
        await fig.waitFor();
        return Number(await fig.getAttribute('data-points')) > 0 && (await fig.locator('canvas').count()) === 1;
      }, 60000, 'the slice\'s memory timeline has data');
      await check(page, 'admin-slice-memory');

      // Kill the slice's process: the alert log shows an alert for it.
      const slice = await call(page, 'GET', `/admin/slices/${ana.slice}`);
      assert.ok(slice.body.pid > 0, JSON.stringify(slice.body));
      process.kill(slice.body.pid, 'SIGKILL');
      await page.goto('/app/admin/alerts?state=all');
      await eventually(async () => {
        await page.getByRole('button', { name: 'Refresh' }).click();
        return (await page.locator(`tr[data-subject="slice:${ana.slice}"]`).count()) > 0;
      }, 90000, `an alert for slice ${ana.slice} shows`);
      await check(page, 'admin-alerts-open');
      assert.deepEqual(problems, [], 'no script error or CSP violation on the admin screens');
    } finally {
      await browser.close();
      await ana.ctx.dispose();
    }
  });
