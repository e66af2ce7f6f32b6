// Bad input shows the server's message next to the field it names: a short password, a taken
// address, a bad phone, a CSV with a bad row (contacts and broadcasts), bad pasted numbers, a
// broadcast past the queue's limit (429).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { check, fieldError, launch, signup, unique } from './lib.mjs';

test('bad inputs show their messages inline', { timeout: 120000 }, async () => {
  const browser = await launch();
  try {
    const page = browser.context.pages()[0] || (await browser.context.newPage());
    await page.goto('/signup');
    await page.getByLabel('Work e-mail').fill(unique('short'));
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    assert.match(await fieldError(page, 'Password'), /password: expected 10 to 256 characters/);
    await check(page, 'signup-error');

    const email = unique('inputs');
    await signup(page, email);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL('**/login');
    await page.goto('/signup');
    await page.getByLabel('Work e-mail').fill(email);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    assert.match(await fieldError(page, 'Work e-mail'), /already/);

    await page.goto('/login');
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill('wrong password here');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('email or password is incorrect').waitFor();
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL('**/app/inbox');

    await page.goto('/app/contacts');
    await page.getByRole('button', { name: 'New contact' }).click();
    await page.getByLabel('Name').fill('Bad Phone');
    await page.getByLabel('Phone number').fill('12345');
    await page.getByRole('button', { name: 'Add contact' }).click();
    assert.match(await fieldError(page, 'Phone number'), /phone: expected an E\.164 number/);
    await check(page, 'contacts-error');
    await page.getByRole('button', { name: 'Cancel' }).click();

    await page.getByRole('button', { name: 'Import CSV' }).click();
    await page.getByLabel('CSV file').setInputFiles({
      name: 'bad.csv', mimeType: 'text/csv',
      buffer: Buffer.from('name,phone,tags\nGood Row,+14155550130,\nBad Row,not a phone,\n'),
    });
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    assert.match(await fieldError(page, 'CSV file'), /line 3: phone/);

    await page.goto('/app/broadcasts');
    await page.getByRole('button', { name: 'New broadcast' }).click();
    await page.getByLabel('Name').fill('Bad list');
    await page.getByLabel('Message', { exact: true }).fill('hello');
    await page.getByLabel('CSV file of numbers').setInputFiles({
      name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from('phone\n+14155550140\nnope\n'),
    });
    await page.getByRole('button', { name: 'Send broadcast' }).click();
    assert.match(await fieldError(page, 'CSV file of numbers'), /line 3/);
    await page.getByRole('radio', { name: 'Pasted numbers' }).check();
    await page.getByLabel('Phone numbers').fill('+14155550141, 555');
    await page.getByRole('button', { name: 'Send broadcast' }).click();
    assert.match(await fieldError(page, 'Phone numbers'), /recipients\[1\]/);
    await check(page, 'broadcast-error');

    // The test's crmd keeps at most 5 pending sends per slice (QUEUE_MAX_DEPTH=5) and this
    // workspace is not paired, so nothing drains: six numbers are one too many. The 429 shows
    // the server's explanation, and the page keeps working.
    await page.getByLabel('Phone numbers').fill('+14155550141 +14155550142 +14155550143 +14155550144 +14155550145 +14155550146');
    await page.getByRole('button', { name: 'Send broadcast' }).click();
    assert.match(await fieldError(page, 'Phone numbers'), /the outbound queue is full: 0 messages are pending and this broadcast would add 6, past the limit of 5/);
    await check(page, 'broadcast-queue-full');
    await page.getByLabel('Phone numbers').fill('+14155550141 +14155550142');
    await page.getByRole('button', { name: 'Send broadcast' }).click();
    await page.getByText('Broadcast queued').waitFor();
  } finally {
    await browser.close();
  }
});
