// The send journal's compaction (docs/wa-web.md, "The journal's size"): settled sends are dropped
// by an atomic rewrite once the file grows; a send journaled only `sending` survives every
// compaction and every restart, and the sidecar still refuses to send it again.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { SendJournal } from '../lib/journal.mjs';
import { startSidecar } from '../sidecar.mjs';
import { LineClient, fakeEngine, tempDir, waitFor } from './helpers.mjs';

const kHour = 60 * 60 * 1000;

/** A journal in a fresh directory with a clock the test moves. */
function journalIn(t, options = {}) {
  const dir = tempDir(t);
  const clock = { ms: 1_000_000 };
  const file = path.join(dir, 'sent.jsonl');
  const open = () => new SendJournal(file, { maxBytes: 2048, now: () => clock.ms, ...options });
  const journal = open();
  t.after(() => journal.close());
  return { dir, file, clock, journal, open };
}

function lines(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** `n` settled sends: journaled sending, then sent. */
function sendMany(journal, prefix, n) {
  for (let i = 0; i < n; i++) {
    journal.sending(`${prefix}-${i}`);
    journal.sent(`${prefix}-${i}`, `WA-${prefix}-${i}`);
  }
}

test('past its size the journal drops old settled sends and keeps one only journaled sending', (t) => {
  const { dir, file, clock, journal, open } = journalIn(t);
  journal.sending('s-crashed');  // the library may have it: never to be sent again
  sendMany(journal, 'old', 10);
  clock.ms += 8 * 24 * kHour;  // older than a week: settled by age
  sendMany(journal, 'new', 20);
  assert.ok(journal.compactions >= 1, 'compacted once past maxBytes');
  const kept = lines(file);
  assert.ok(fs.statSync(file).size <= 2 * 2048, `the file shrank: ${fs.statSync(file).size} bytes`);
  assert.equal(kept.filter((l) => l.client_id.startsWith('old-')).length, 0, 'old settled sends dropped');
  assert.deepEqual(kept[0], { client_id: 's-crashed', phase: 'sending' });
  assert.equal(journal.lookup('new-19'), 'WA-new-19', 'recent sends stay');
  assert.equal(journal.lookup('old-3'), '');
  assert.equal(journal.lookup('s-crashed'), null);
  // Written whole and private, with no temporary file left beside it.
  assert.equal(fs.statSync(file).mode & 0o077, 0);
  assert.deepEqual(fs.readdirSync(dir), ['sent.jsonl']);

  // A restart after the compaction: the send that may have happened is still "cannot tell".
  journal.close();
  const again = open();
  t.after(() => again.close());
  assert.equal(again.lookup('s-crashed'), null);
  assert.equal(again.lookup('new-19'), 'WA-new-19');
  // And it appends to the compacted file, not to the one the rename replaced.
  again.sending('after-restart');
  assert.deepEqual(lines(file).at(-1), { client_id: 'after-restart', phase: 'sending' });
});

test('a sent entry the slice looked up is dropped after the grace; one never asked about stays', (t) => {
  const { file, clock, journal } = journalIn(t);
  journal.sending('asked');
  journal.sent('asked', 'WA-asked');
  journal.sending('unasked');
  journal.sent('unasked', 'WA-unasked');
  journal.sending('failed-one');
  journal.failed('failed-one');  // certainly not handed over: nothing to keep
  assert.equal(journal.lookup('asked'), 'WA-asked');  // the slice acknowledges it
  clock.ms += 2 * kHour;
  journal.compact();
  assert.deepEqual(lines(file), [{ client_id: 'unasked', message_id: 'WA-unasked', phase: 'sent' }]);
  assert.equal(journal.lookup('unasked'), 'WA-unasked');
  assert.equal(journal.lookup('failed-one'), '');
});

test('an acknowledgement within the grace keeps the entry (a slice that crashed asks again)', (t) => {
  const { file, clock, journal } = journalIn(t);
  journal.sending('a');
  journal.sent('a', 'WA-a');
  journal.lookup('a');
  clock.ms += kHour / 2;
  journal.compact();
  assert.deepEqual(lines(file), [{ client_id: 'a', message_id: 'WA-a', phase: 'sent' }]);
});

test('a journal whose entries must all stay is not rewritten at every send', (t) => {
  const { journal } = journalIn(t, { maxBytes: 512 });
  for (let i = 0; i < 200; i++) journal.sending(`pending-${i}`);  // none may ever be dropped
  // Each compaction at least doubles the threshold: a handful, not one per append.
  assert.ok(journal.compactions >= 1 && journal.compactions <= 6, `${journal.compactions} compactions`);
  assert.equal(journal.lookup('pending-0'), null);
  assert.equal(journal.lookup('pending-199'), null);
});

test('a sidecar restarted on a compacted journal refuses to resend a send journaled sending', async (t) => {
  const dir = tempDir(t);
  const authDir = path.join(dir, 'auth');
  fs.mkdirSync(authDir, { mode: 0o700 });
  const clock = { ms: 1_000_000 };
  const journal = new SendJournal(path.join(authDir, 'sent.jsonl'), { maxBytes: 1024, now: () => clock.ms });
  journal.sending('s1-t7');  // the process died here, the message perhaps with WhatsApp
  sendMany(journal, 'done', 5);
  journal.lookup('done-0');
  clock.ms += 8 * 24 * kHour;
  sendMany(journal, 'later', 10);
  assert.ok(journal.compactions >= 1);
  journal.close();

  const engine = fakeEngine();
  const socketPath = path.join(dir, 'wa-web.sock');
  const sidecar = await startSidecar({ socketPath, authDir, engine, log: () => {}, backoffMs: [5, 20] });
  t.after(() => sidecar.close());
  const client = await LineClient.connect(socketPath);
  t.after(() => client.close());
  await waitFor(() => engine.attempts.length === 1, 'the first connection attempt');
  engine.last().hooks.state('connected', { phone: '+4915100000001' });
  await waitFor(() => sidecar.session.state === 'connected', 'connected');

  assert.equal((await client.request('lookup', { client_id: 's1-t7' })).message_id, null);
  const again = await client.request('send', { client_id: 's1-t7', to: '+4915112345678', text: 'x' });
  assert.deepEqual([again.ok, again.error?.code, again.error?.retry], [false, 'internal', false]);
  assert.equal((await client.request('lookup', { client_id: 'later-9' })).message_id, 'WA-later-9');
  assert.equal(engine.sent.length, 0, 'nothing was handed to WhatsApp again');
});
