// Two tenants in two browsers: the second sees none of the first's contacts, conversations or
// broadcasts through the UI, and cannot open the first's conversation by its address.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, check, connect, launch, signup, unique } from './lib.mjs';

test('a second tenant sees none of the first tenant\'s data', { timeout: 120000 }, async () => {
  const first = await launch();
  const second = await launch();
  try {
    const a = first.context.pages()[0] || (await first.context.newPage());
    await signup(a, unique('alice'));
    await connect(a);
    const sent = await call(a, 'POST', '/api/messages', { phone: '+14155550177', text: 'Secret offer for Zed' });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const conversation = sent.body.conversation_id;
    await call(a, 'POST', '/api/contacts', { name: 'Yolanda Private', phone: '+14155550178', tags: ['secret'] });
    await call(a, 'POST', '/api/broadcasts', { name: 'Alice only', text: 'hi', recipients: ['+14155550179'] });
    await a.goto('/app/inbox');
    await a.getByRole('link', { name: /\+14155550177/ }).waitFor();

    const b = second.context.pages()[0] || (await second.context.newPage());
    await signup(b, unique('bruno'));
    await b.goto('/app/inbox');
    await b.getByText('No conversations yet.').waitFor();
    await b.getByLabel('Search conversations').fill('4155550177');
    await b.getByText('No conversation matches.').waitFor();
    await b.goto(`/app/inbox/${conversation}`);
    await b.locator('.thread [role="alert"]').waitFor();
    assert.equal(await b.locator('.msg').count(), 0, 'no message of the first tenant shows');
    await b.goto('/app/contacts');
    await b.getByText('No contacts yet').waitFor();
    await b.getByLabel('Search contacts').fill('secret');
    await b.getByText('No contact matches.').waitFor();
    await b.goto('/app/broadcasts');
    await b.getByText('No broadcasts yet.').waitFor();
    await check(b, 'second-tenant-empty');
    const page = await b.content();
    for (const secret of ['Secret offer', 'Yolanda', 'Alice only', '+14155550177']) {
      assert.ok(!page.includes(secret), `the second tenant's page shows ${secret}`);
    }
  } finally {
    await first.close();
    await second.close();
  }
});
