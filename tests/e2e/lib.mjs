// Shared by the web app's browser tests: Debian's chromium through playwright-core, a fresh
// profile per run, an axe-core check and a screenshot of every screen. The C++ harness
// (web_test.cpp) starts PostgreSQL and crmd and passes their addresses in the environment.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

/// The gateway under test ("http://127.0.0.1:PORT").
export const base = process.env.CRM_URL;
assert.ok(base, 'CRM_URL must name the gateway under test');
const shots = process.env.CRM_SCREENSHOTS || join(tmpdir(), 'crm-screenshots');
mkdirSync(shots, { recursive: true });

// The network is closed here: without these flags chromium waits on connections it cannot make.
const kArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

/// A browser with a fresh profile; close() removes the profile.
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'crm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CRM_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: kArgs,
    viewport: { width: 1280, height: 800 },
    baseURL: base,
    acceptDownloads: true,
  });
  const browser = {
    context,
    /// A second, separate browser profile (another person): its own cookies.
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
  return browser;
}

/// Collects the page's script errors and CSP violations so a test can assert there were none.
export function watch(page) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) {
      problems.push(`console: ${m.text()}`);
    }
  });
  return problems;
}

const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/// Screenshot `name` and run axe-core on the page: fails on any serious or critical violation.
/// axe is evaluated through the DevTools protocol, which the page's CSP does not govern.
export async function check(page, name) {
  await page.waitForLoadState('networkidle').catch(() => {});
  await page.screenshot({ path: join(shots, `${name}.png`) });
  const hasAxe = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!hasAxe) {
    await page.evaluate(axeSource);
  }
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `accessibility violations on ${name}`,
  );
}

/// Waits until `fn()` (run in the page) is truthy, up to `ms`.
export const until = (page, fn, arg, ms = 20000) => page.waitForFunction(fn, arg, { timeout: ms });

/// Signs up through the form; lands on /app/connect.
export async function signup(page, email, password = 'correct horse battery') {
  await page.goto('/signup');
  await page.getByLabel('Work e-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create workspace' }).click();
  await page.waitForURL('**/app/connect');
}

/// The simulator's phone scans the QR (the button on the connect page); waits for "connected".
export async function connect(page) {
  await page.goto('/app/connect');
  await page.getByRole('button', { name: 'Scan with the simulated phone' }).click();
  await page.getByText('Connected as').waitFor();
}

/// A JSON call with the page's session (the browser context's cookies).
export async function call(page, method, path, data) {
  const r = await page.request.fetch(path, { method, data });
  const text = await r.text();
  return { status: r.status(), body: text ? JSON.parse(text) : null };
}

/// The text of the error shown for the input labelled `label` (aria-describedby).
export async function fieldError(page, label) {
  const input = page.getByLabel(label, { exact: true });
  await input.and(page.locator('[aria-invalid="true"]')).waitFor();
  const ids = (await input.getAttribute('aria-describedby')).split(' ');
  const texts = await Promise.all(ids.map((id) => page.locator(`#${id}`).textContent()));
  return texts.join(' ');
}

export const unique = (prefix) => `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
