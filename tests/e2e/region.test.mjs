// Region pinning in the browser: a tenant whose account lives in eu signs in (and asks for a reset
// link) at us, and the app takes the whole page to eu's sign-in with the address filled in, where
// the sign-in works. CRM_URL is us, CRM_HOME_URL eu (web_test.cpp starts both).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { base, check, launch, unique, watch } from './lib.mjs';

const home = process.env.CRM_HOME_URL;
const password = 'correct horse battery';

// Waits until the page is at `path` on the home region's origin.
async function atHome(page, path) {
  try {
    await page.waitForURL((u) => u.origin === home && u.pathname.startsWith(path), { timeout: 15000 });
  } catch (e) {
    const shown = await page.locator('[role=alert]').allTextContents().catch(() => []);
    throw new Error(`not at ${home}${path}: at ${page.url()}, showing ${JSON.stringify(shown)}`);
  }
}

test('sign-in at another region goes to the home region, address filled in', { timeout: 120000 }, async () => {
  assert.ok(home, 'CRM_HOME_URL must name the tenant\'s home region');
  const email = unique('region');
  const made = await fetch(`${home}/auth/register`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email, password }),
  });
  assert.equal(made.status, 201, await made.text());

  const browser = await launch();
  try {
    const page = browser.context.pages()[0] || (await browser.context.newPage());
    const problems = watch(page);

    await page.goto('/forgot-password');
    await page.getByLabel('E-mail').fill(email);
    await page.getByRole('button', { name: 'Send the link' }).click();
    await atHome(page, '/forgot-password');
    assert.equal(await page.getByLabel('E-mail').inputValue(), email);

    await page.goto(`${base}/login`);
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await atHome(page, '/login');
    assert.equal(await page.getByLabel('E-mail').inputValue(), email, 'the address is filled in');
    await check(page, 'login-home-region');

    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await atHome(page, '/app/');
    assert.equal((await page.request.get(`${home}/auth/me`)).status(), 200);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
