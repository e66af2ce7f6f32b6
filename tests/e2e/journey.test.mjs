// A tenant's whole life through the UI: landing, pricing, sign-up, connect by QR, a customer
// writes and gets an answer with live ticks, contacts, a 1,000-row CSV broadcast to 100 %,
// the data export, and deleting the account. Every screen is screenshotted and checked by axe.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { call, check, connect, fieldError, launch, signup, unique, until, watch } from './lib.mjs';

test('a tenant signs up, connects, talks, broadcasts, exports and leaves', { timeout: 240000 }, async () => {
  const browser = await launch();
  const page = browser.context.pages()[0] || (await browser.context.newPage());
  const problems = watch(page);
  try {
    await page.goto('/');
    await page.getByRole('heading', { level: 1 }).waitFor();
    await check(page, 'landing');

    await page.getByRole('link', { name: 'See pricing' }).click();
    await page.locator('.plan del').waitFor();
    assert.match(await page.locator('.plan del').textContent(), /\$9/);
    assert.match(await page.locator('.plan strong').textContent(), /\$4\.50/);
    await check(page, 'pricing');

    await page.goto('/login');
    await check(page, 'login');
    await page.goto('/signup');
    await check(page, 'signup');
    const email = unique('journey');
    await signup(page, email);

    // The QR is a real image the server drew, and the page shows the state.
    const qr = page.getByRole('img', { name: /QR code/ });
    await qr.waitFor();
    await until(page, () => document.querySelector('.qr img')?.naturalWidth > 0);
    await check(page, 'connect-qr');
    await connect(page);
    await page.locator('[data-channel-state="connected"]').first().waitFor();
    await check(page, 'connect');

    // Fast, certain receipts from the simulated recipients; no unprompted replies.
    const settings = await call(page, 'PATCH', '/api/channel/simulator/settings', { latency_ms: 50, read_rate: 1, reply_rate: 0 });
    assert.equal(settings.status, 200, JSON.stringify(settings.body));

    await page.getByRole('link', { name: 'Inbox' }).click();
    await page.getByText('No conversations yet.').waitFor();
    await page.evaluate(() => { window.__sameDocument = true; });
    const inbound = await call(page, 'POST', '/api/channel/simulator/inbound',
      { from: '+14155550123', name: 'Bob Customer', text: 'Hello, is the shop open today?' });
    assert.equal(inbound.status, 202, JSON.stringify(inbound.body));
    const row = page.getByRole('link', { name: /Bob Customer/ });
    await row.waitFor();
    assert.equal(await row.locator('.badge').textContent(), '1', 'the unread count');
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the message arrived without a reload');

    await row.click();
    await page.locator('.msg-inbound', { hasText: 'Hello, is the shop open today?' }).waitFor();
    await page.getByLabel('Message', { exact: true }).fill('Yes, until 6 pm. See you!');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    const mine = page.locator('.msg-outbound', { hasText: 'Yes, until 6 pm' });
    await mine.waitFor();
    await mine.and(page.locator('[data-status="read"]')).waitFor({ timeout: 20000 });
    assert.equal(await mine.locator('.ticks.read').textContent(), '✓✓');
    // Opening the thread marked it read on the server.
    const convs = await call(page, 'GET', '/api/conversations');
    assert.equal(convs.body.items.find((c) => c.contact.name === 'Bob Customer').unread, 0);
    await check(page, 'inbox-thread');

    // A new conversation with a number nobody has written from yet.
    await page.getByRole('button', { name: 'New conversation' }).click();
    await page.getByRole('form', { name: 'New conversation' }).getByLabel('Phone number').fill('+1 415 555 0150');
    await page.getByRole('form', { name: 'New conversation' }).getByLabel('Message').fill('Welcome to our shop!');
    await page.getByRole('form', { name: 'New conversation' }).getByRole('button', { name: 'Send' }).click();
    await page.waitForURL(/\/app\/inbox\/\d+$/);
    await page.locator('.thread-head', { hasText: '+14155550150' }).waitFor();
    await page.locator('.msg-outbound', { hasText: 'Welcome to our shop!' }).waitFor();

    // Contacts: add one with a tag, and import a CSV.
    await page.getByRole('link', { name: 'Contacts' }).click();
    await page.getByRole('button', { name: 'New contact' }).click();
    await page.getByLabel('Name').fill('Carol Client');
    await page.getByLabel('Phone number').fill('+44 20 7946 0958');
    await page.getByLabel('Tags').fill('vip, newsletter');
    await page.getByRole('button', { name: 'Add contact' }).click();
    await page.getByRole('cell', { name: '+442079460958' }).waitFor();
    await page.getByRole('button', { name: 'Edit Carol Client' }).click();
    await page.getByLabel('Name').fill('Carol Client-Smith');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'Carol Client-Smith', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Delete Carol Client-Smith' }).click();
    await page.getByRole('button', { name: 'Keep' }).click();
    await page.getByRole('button', { name: 'Delete Carol Client-Smith' }).click();
    await page.getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByRole('cell', { name: 'Carol Client-Smith', exact: true }).waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'New contact' }).click();
    await page.getByLabel('Name').fill('Carol Client');
    await page.getByLabel('Phone number').fill('+44 20 7946 0958');
    await page.getByLabel('Tags').fill('vip, newsletter');
    await page.getByRole('button', { name: 'Add contact' }).click();
    await page.getByRole('cell', { name: '+442079460958' }).waitFor();
    await page.getByRole('button', { name: 'Import CSV' }).click();
    await page.getByLabel('CSV file').setInputFiles({
      name: 'contacts.csv', mimeType: 'text/csv',
      buffer: Buffer.from('name,phone,tags\nDan Dealer,+14155550124,vip|wholesale\nEve Early,+14155550125,\n'),
    });
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.getByRole('cell', { name: 'Dan Dealer', exact: true }).waitFor();
    await check(page, 'contacts');

    // A 1,000-row CSV broadcast: its progress bar reaches 100 % live.
    await page.getByRole('link', { name: 'Broadcasts' }).click();
    await page.getByRole('button', { name: 'New broadcast' }).click();
    await check(page, 'broadcast-new');
    await page.getByLabel('Name').fill('Spring sale');
    await page.getByLabel('Message', { exact: true }).fill('20 % off everything this weekend.');
    const rows = Array.from({ length: 1000 }, (_, i) => `+1415560${String(i).padStart(4, '0')}`);
    await page.getByLabel('CSV file of numbers').setInputFiles({ name: 'spring.csv', mimeType: 'text/csv', buffer: Buffer.from(`phone\n${rows.join('\n')}\n`) });
    await page.getByRole('button', { name: 'Send broadcast' }).click();
    const card = page.getByRole('article', { name: 'Broadcast Spring sale' });
    await card.waitFor();
    await card.locator('[role="progressbar"][aria-label="Processed"][aria-valuenow="1000"]').waitFor({ timeout: 90000 });
    assert.match(await card.locator('.progress-value').first().textContent(), /100 %/);
    await card.getByText('completed').waitFor({ timeout: 30000 });
    await check(page, 'broadcasts');

    // The export streams every message.
    // Billing is off here (no Stripe key): no Billing entry, and its page says there is nothing to pay.
    assert.equal(await page.getByRole('link', { name: 'Billing' }).count(), 0);
    await page.goto('/app/billing');
    await page.getByTestId('billing-disabled').waitFor();
    assert.match(await page.getByTestId('billing-disabled').textContent(), /free in this deployment/);
    await check(page, 'billing-disabled');

    await page.getByRole('link', { name: 'Settings' }).click();
    await check(page, 'settings');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download my data' }).click(),
    ]);
    const lines = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines[0].type, 'export');
    const bodies = lines.filter((l) => l.type === 'message').map((l) => l.body);
    assert.ok(bodies.includes('Hello, is the shop open today?'), 'the inbound message is exported');
    assert.ok(bodies.includes('Yes, until 6 pm. See you!'), 'the reply is exported');
    assert.equal(lines.filter((l) => l.type === 'broadcast').length, 1);

    // Changing the password: a wrong current one is named next to its field.
    await page.getByLabel('Current password').fill('not my password');
    await page.getByLabel('New password').fill('an even better passphrase');
    await page.getByRole('button', { name: 'Change password' }).click();
    assert.match(await fieldError(page, 'Current password'), /./);
    await page.getByLabel('Current password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Password changed').waitFor();

    // Deleting the account: a wrong password is refused next to the field, then it goes.
    await page.getByLabel('Your password').fill('not my password');
    await page.getByLabel('I understand that everything is deleted for good').check();
    await page.getByRole('button', { name: 'Delete my account' }).click();
    assert.match(await fieldError(page, 'Your password'), /password/);
    await page.getByLabel('Your password').fill('an even better passphrase');
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await page.waitForURL((u) => u.pathname === '/');
    assert.equal((await call(page, 'GET', '/auth/me')).status, 401);
    const relogin = await call(page, 'POST', '/auth/login', { email, password: 'an even better passphrase' });
    assert.equal(relogin.status, 401, 'the account is gone');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
