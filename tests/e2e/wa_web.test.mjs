// The connect page of a wa-web slice (docs/wa-web.md) against the scripted fake sidecar: the
// sidecar's QR, a pairing code, a broadcast that waits for pairing (and says why on the
// broadcasts page), connected, and a session that failed (nothing reconnects: a button starts
// again). Every state is screenshotted and checked by axe.
import assert from 'node:assert/strict';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { call, check, fieldError, launch, signup, unique, until, watch } from './lib.mjs';

const dataDir = process.env.CRM_DATA_DIR;
assert.ok(dataDir, 'CRM_DATA_DIR must name crmd\'s data directory');

let commands = 0;
// A command for the fake sidecar, dropped whole into its control directory; waits until taken.
async function control(page, slice, command) {
  const dir = join(dataDir, 'slices', String(slice), 'wa-web-auth', 'control');
  const name = join(dir, `${String(++commands).padStart(6, '0')}.json`);
  writeFileSync(`${name}.tmp`, JSON.stringify(command));
  renameSync(`${name}.tmp`, name);
  for (let i = 0; i < 200 && existsSync(name); i++) {
    await page.waitForTimeout(50);
  }
  assert.ok(!existsSync(name), `the fake sidecar did not take ${JSON.stringify(command)}`);
}

test('a wa-web tenant pairs by QR or code, and starts again after a failed session', { timeout: 120000 }, async () => {
  const browser = await launch();
  const page = browser.context.pages()[0] || (await browser.context.newPage());
  const problems = watch(page);
  try {
    await signup(page, unique('waweb'));
    const slice = (await call(page, 'GET', '/api/status')).body.slice;

    const qr = page.getByRole('img', { name: /QR code/ });
    await qr.waitFor();
    await until(page, () => document.querySelector('.qr img')?.naturalWidth > 0);
    await check(page, 'connect-wa-web-qr');

    await page.getByLabel('The business phone\'s number', { exact: true }).fill('12');
    await page.getByRole('button', { name: 'Get a pairing code' }).click();
    assert.match(await fieldError(page, 'The business phone\'s number'), /phone/);
    await page.getByLabel('The business phone\'s number', { exact: true }).fill('+49 151 0000 0001');
    await page.getByRole('button', { name: 'Get a pairing code' }).click();
    await page.getByTestId('pair-code').waitFor();
    assert.equal(await page.getByTestId('pair-code').textContent(), 'FAKE-0001');
    await check(page, 'connect-wa-web-code');

    // A broadcast made before pairing waits, and says why, instead of failing its messages.
    const created = await call(page, 'POST', '/api/broadcasts',
      { name: 'Before pairing', text: 'Hello', recipients: ['+4915100000002', '+4915100000003'] });
    assert.equal(created.status, 202);
    await page.getByRole('link', { name: 'Broadcasts', exact: true }).click();
    const held = page.locator('[data-held]');
    await held.waitFor();
    assert.match(await held.textContent(), /not paired/);
    await check(page, 'broadcast-held');
    await held.getByRole('link', { name: 'Open the connect page' }).click();
    await page.getByRole('heading', { name: 'Connect WhatsApp' }).waitFor();

    await control(page, slice, { cmd: 'scan', phone: '+4915100000001' });
    await page.getByText('Connected as').waitFor();
    assert.equal(await page.getByTestId('phone').textContent(), '+4915100000001');
    await check(page, 'connect-wa-web-connected');

    // Paired: the held broadcast goes out by itself and stops saying it waits.
    await page.getByRole('link', { name: 'Broadcasts', exact: true }).click();
    await page.locator('[data-broadcast]').first().waitFor();
    await until(page, () => !document.querySelector('[data-held]'));
    let sentBroadcast;
    for (let i = 0; i < 200; i++) {
      sentBroadcast = (await call(page, 'GET', `/api/broadcasts/${created.body.id}`)).body;
      if (sentBroadcast.queued === 0) break;
      await page.waitForTimeout(100);
    }
    assert.equal(sentBroadcast.queued, 0, JSON.stringify(sentBroadcast));
    assert.equal(sentBroadcast.failed, 0, JSON.stringify(sentBroadcast));
    assert.equal(sentBroadcast.held_reason, null, JSON.stringify(sentBroadcast));
    await page.getByRole('link', { name: 'Connect', exact: true }).click();
    await page.getByText('Connected as').waitFor();

    for (let i = 0; i < 3; i++) {
      await control(page, slice, { cmd: 'logged_out' });
    }
    await page.locator('[data-channel-state="failed"]').first().waitFor();
    await check(page, 'connect-wa-web-failed');
    await page.getByRole('button', { name: 'Start again with a new QR code' }).click();
    await qr.waitFor();
    await page.locator('[data-channel-state="unpaired"]').first().waitFor();
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
