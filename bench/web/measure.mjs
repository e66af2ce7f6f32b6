// bench/web/run's measuring half: drives Debian's chromium (playwright-core from tests/e2e) against
// the crmd at CRM_URL and prints a Markdown report. See bench/web/run for what is measured.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { chromium } = createRequire(join(here, '../../tests/e2e/package.json'))('playwright-core');
const base = process.env.CRM_URL;
const runs = Number(process.env.RUNS || 5);
const conversations = Number(process.env.CONVERSATIONS || 1000);
const manifest = JSON.parse(readFileSync(process.env.CRM_MANIFEST, 'utf8'));
const kBudget = 150 * 1024;
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});

async function signedInContext(email) {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 800 } });
  const r = await context.request.post('/auth/register', { data: { email, password: 'correct horse battery' } });
  if (r.status() !== 201) {
    throw new Error(`register: ${r.status()} ${await r.text()}`);
  }
  return context;
}

// Bytes on the wire for one cold load of `path`, by the DevTools network events: every finished
// response's encoded length (headers included), until the network has been idle for 500 ms.
async function weigh(context, path) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  const urls = new Map();
  let bytes = 0;
  let statics = 0;
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.loadingFinished', (e) => {
    bytes += e.encodedDataLength;
    const u = new URL(urls.get(e.requestId) || base);
    if (!/^\/(api|auth|billing)\//.test(u.pathname)) {
      statics += e.encodedDataLength;
    }
  });
  await page.goto(path, { waitUntil: 'networkidle' });
  await page.close();
  return { bytes, statics };
}

// Milliseconds from navigation start until `selector` is on screen, cold cache, median of runs.
async function timeToInteractive(makeContext, path, selector) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const context = await makeContext();
    const page = await context.newPage();
    await page.goto(path, { waitUntil: 'commit' });
    await page.waitForSelector(selector, { state: 'visible', timeout: 30000 });
    times.push(await page.evaluate(() => performance.now()));
    await context.close();
  }
  return median(times);
}

const lines = [];
const say = (s) => {
  lines.push(s);
  console.log(s);
};

say(`# Web app: page weight and time to interactive\n`);
say(`Build: ${manifest.entry.js}, ${manifest.entry.css}. First load of the static files (index.html + script + stylesheet):`);
say(`${kb(manifest.first_load.raw)} raw, **${kb(manifest.first_load.gz)} gzip**, ${kb(manifest.first_load.br)} brotli (budget ${kb(kBudget)}).\n`);

const screens = ['/', '/pricing', '/signup', '/login', '/forgot-password', '/reset-password?token=x',
  '/app/connect', '/app/inbox', '/app/contacts', '/app/broadcasts', '/app/settings'];
say('| screen | static files (manifest, br) | measured first load (all responses) | budget | within |');
say('|---|---:|---:|---:|---|');
const tenant = await signedInContext(`weigh-${Date.now()}@example.com`);
for (const path of screens) {
  const context = path.startsWith('/app/') ? tenant : await browser.newContext({ baseURL: base });
  const w = await weigh(context, path);
  if (!path.startsWith('/app/')) {
    await context.close();
  }
  say(`| \`${path}\` | ${kb(manifest.first_load.br)} | ${kb(w.bytes)} (static ${kb(w.statics)}) | ${kb(kBudget)} | ${w.bytes <= kBudget ? 'yes' : '**no**'} |`);
}

// The inbox with many conversations: one outbound message each creates contact + conversation.
const email = `inbox-${Date.now()}@example.com`;
const seeded = await signedInContext(email);
const started = Date.now();
const queue = Array.from({ length: conversations }, (_, i) => `+1555${String(1000000 + i).padStart(7, '0')}`);
await Promise.all(Array.from({ length: 8 }, async () => {
  for (let phone = queue.shift(); phone; phone = queue.shift()) {
    const r = await seeded.request.post('/api/messages', { data: { phone, text: 'hello' } });
    if (r.status() !== 202) {
      throw new Error(`seeding: ${r.status()} ${await r.text()}`);
    }
  }
}));
const state = await seeded.storageState();
say(`\nSeeded ${conversations} conversations in ${((Date.now() - started) / 1000).toFixed(1)} s.\n`);

const anonymous = () => browser.newContext({ baseURL: base, viewport: { width: 1280, height: 800 } });
const asSeeded = () => browser.newContext({ baseURL: base, viewport: { width: 1280, height: 800 }, storageState: state });
const login = await timeToInteractive(anonymous, '/login', 'button[type="submit"]');
const inbox = await timeToInteractive(asSeeded, '/app/inbox', '.conv a');

// Scrolling through all of them: the time until every row is on the page, and the longest task.
const context = await asSeeded();
const page = await context.newPage();
await page.goto('/app/inbox');
await page.waitForSelector('.conv a');
await page.evaluate(() => {
  window.__longest = 0;
  new PerformanceObserver((l) => l.getEntries().forEach((e) => { window.__longest = Math.max(window.__longest, e.duration); }))
    .observe({ type: 'longtask', buffered: false });
});
const t0 = Date.now();
while ((await page.locator('.conv').count()) < conversations) {
  await page.locator('.conv').last().scrollIntoViewIfNeeded();
  await page.waitForTimeout(20);
  if (Date.now() - t0 > 120000) {
    break;
  }
}
const scrolled = Date.now() - t0;
const rows = await page.locator('.conv').count();
const longest = await page.evaluate(() => window.__longest);
await context.close();

say(`| page (cold cache, median of ${runs}) | time to interactive |`);
say('|---|---:|');
say(`| \`/login\` (the form is on screen) | ${login.toFixed(0)} ms |`);
say(`| \`/app/inbox\` with ${conversations} conversations (the first page of 50 on screen) | ${inbox.toFixed(0)} ms |`);
say(`\nScrolling the inbox to the end: ${rows} rows on the page after ${(scrolled / 1000).toFixed(1)} s (pages of 50 loaded as the list scrolls); longest main-thread task meanwhile ${longest.toFixed(0)} ms (50 ms is the "long task" threshold).`);
await browser.close();
