// Forgot password end to end: the mail reaches a real SMTP server on loopback (aiosmtpd's
// Maildir, CRM_MAILDIR), its link resets the password in the browser, and the new one signs in.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { check, fieldError, launch, signup, unique } from './lib.mjs';

const maildir = process.env.CRM_MAILDIR;

// The reset link in a stored message, whatever its transfer encoding.
function resetLink(raw) {
  const qp = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
  const b64 = (raw.match(/^[A-Za-z0-9+/=\r\n]{40,}$/gm) || []).map((s) => Buffer.from(s, 'base64').toString('utf8')).join('\n');
  // Decoded first: in the raw quoted-printable text "token=" reads "token=3D".
  const m = /\/reset-password\?token=([A-Za-z0-9_\-.~%]+)/.exec(`${qp}\n${b64}\n${raw}`);
  return m ? `/reset-password?token=${m[1]}` : null;
}

async function mailTo(address, ms = 30000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const dir = join(maildir, 'new');
    for (const f of existsSync(dir) ? readdirSync(dir) : []) {
      const raw = readFileSync(join(dir, f), 'utf8');
      if (raw.includes(address)) {
        return raw;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail to ${address} reached the SMTP server within ${ms} ms`);
}

test('forgot password: the mailed link resets it and the new password signs in', { timeout: 120000 }, async () => {
  assert.ok(maildir, 'CRM_MAILDIR must name the SMTP server\'s Maildir');
  const browser = await launch();
  try {
    const page = browser.context.pages()[0] || (await browser.context.newPage());
    const email = unique('reset');
    await signup(page, email);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL('**/login');
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('E-mail').fill(email);
    await page.getByRole('button', { name: 'Send the link' }).click();
    await page.getByText('a reset link is on its way').waitFor();
    await check(page, 'forgot-password');

    const link = resetLink(await mailTo(email));
    assert.ok(link, 'the mail carries a reset link');
    await page.goto(link);
    await page.getByLabel('New password').fill('short');
    await page.getByRole('button', { name: 'Set the password' }).click();
    assert.match(await fieldError(page, 'New password'), /password/);
    await check(page, 'reset-password');
    await page.getByLabel('New password').fill('a brand new passphrase');
    await page.getByRole('button', { name: 'Set the password' }).click();
    await page.waitForURL('**/login?reset=1');

    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill('a brand new passphrase');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/app/inbox');
    assert.equal((await page.request.get('/auth/me')).status(), 200);
  } finally {
    await browser.close();
  }
});
