// docs/wa-web.md's protocol over a real Unix socket, against the sidecar with a fake engine.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { kMaxLineBytes, startSidecar } from '../sidecar.mjs';
import { LineClient, fakeEngine, tempDir, waitFor } from './helpers.mjs';

async function start(t, options = {}) {
  const dir = options.dir ?? tempDir(t);
  const engine = options.engine ?? fakeEngine();
  const socketPath = path.join(dir, 'wa-web.sock');
  const authDir = path.join(dir, 'auth');
  const sidecar = await startSidecar({
    socketPath,
    authDir,
    engine,
    log: () => {},
    backoffMs: [5, 20],
    ...options.sidecar,
  });
  let closed = false;
  const close = async () => {
    if (!closed) await sidecar.close();
    closed = true;
  };
  t.after(close);
  const client = await LineClient.connect(socketPath);
  t.after(() => client.close());
  await waitFor(() => engine.attempts.length === 1, 'the first connection attempt');
  return { dir, engine, socketPath, authDir, sidecar, client, close };
}

async function connected(s, phone = '+4915100000001') {
  s.engine.last().hooks.state('connected', { phone });
  await waitFor(() => s.sidecar.session.state === 'connected', 'connected');
}

function journalLines(authDir) {
  return fs.readFileSync(path.join(authDir, 'sent.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

test('hello answers version, engine and state, then the state as an event', async (t) => {
  const s = await start(t);
  const r = await s.client.request('hello', { version: 1 });
  assert.deepEqual(r, { id: 1, ok: true, version: 1, engine: 'fake', state: 'connecting' });
  const ev = await s.client.event((e) => e.event === 'state', 'a state event');
  assert.equal(ev.state, 'connecting');
  const bad = await s.client.request('hello', { version: 2 });
  assert.equal(bad.ok, false);
  assert.equal(bad.error.code, 'unsupported_version');
});

test('the socket is 0600, the auth directory 0700 and the journal 0600', async (t) => {
  const s = await start(t);
  assert.equal(fs.statSync(s.socketPath).mode & 0o777, 0o600);
  assert.equal(fs.statSync(s.authDir).mode & 0o777, 0o700);
  assert.equal(fs.statSync(path.join(s.authDir, 'sent.jsonl')).mode & 0o077, 0);
});

test('qr events reach the client, and a client attaching later gets the QR on show', async (t) => {
  const s = await start(t);
  await s.client.request('hello', { version: 1 });
  s.engine.last().hooks.qr('2@abc', 60000);
  const qr = await s.client.event((e) => e.event === 'qr', 'a qr event');
  assert.deepEqual(qr, { event: 'qr', qr: '2@abc', expires_in_ms: 60000 });
  await s.client.event((e) => e.event === 'state' && e.state === 'qr', 'state qr');
  s.client.close();
  await waitFor(() => s.client.closed, 'closed');
  const again = await LineClient.connect(s.socketPath);
  t.after(() => again.close());
  await again.request('hello', { version: 1 });
  const latest = await again.event((e) => e.event === 'qr', 'the qr on show');
  assert.equal(latest.qr, '2@abc');
});

test('send is journaled before and after, and a repeated client_id is answered from the journal', async (t) => {
  const s = await start(t);
  await s.client.request('hello', { version: 1 });
  await connected(s);
  const r = await s.client.request('send', { client_id: 's1-t1', to: '+4915112345678', text: 'Hallo' });
  assert.equal(r.ok, true);
  assert.equal(r.message_id, 'WA1');
  assert.deepEqual(s.engine.sent.map((m) => [m.to, m.text]), [['+4915112345678', 'Hallo']]);
  assert.deepEqual(journalLines(s.authDir), [
    { client_id: 's1-t1', phase: 'sending' },
    { client_id: 's1-t1', message_id: 'WA1', phase: 'sent' },
  ]);
  const dup = await s.client.request('send', { client_id: 's1-t1', to: '+4915112345678', text: 'Hallo' });
  assert.equal(dup.message_id, 'WA1');
  assert.equal(s.engine.sent.length, 1, 'a duplicate client_id is not sent again');
});

test('lookup answers the message id, "" for never sent and null for a send that may have happened', async (t) => {
  const s = await start(t);
  await connected(s);
  await s.client.request('send', { client_id: 's1-t1', to: '+4915112345678', text: 'a' });
  s.engine.sendImpl = async () => {
    throw new Error('socket closed mid-send');
  };
  const unknown = await s.client.request('send', { client_id: 's1-t2', to: '+4915112345678', text: 'b' });
  assert.equal(unknown.ok, false);
  assert.equal(unknown.error.retry, false, 'an outcome the library left unknown is not retried');
  assert.equal((await s.client.request('lookup', { client_id: 's1-t1' })).message_id, 'WA1');
  assert.equal((await s.client.request('lookup', { client_id: 's1-t9' })).message_id, '');
  assert.equal((await s.client.request('lookup', { client_id: 's1-t2' })).message_id, null);
  const again = await s.client.request('send', { client_id: 's1-t2', to: '+4915112345678', text: 'b' });
  assert.equal(again.ok, false, 'a send that may have reached WhatsApp is never repeated');

  // The journal survives a restart of the sidecar.
  await s.close();
  const s2 = await start(t, { dir: s.dir });
  assert.equal((await s2.client.request('lookup', { client_id: 's1-t1' })).message_id, 'WA1');
  assert.equal((await s2.client.request('lookup', { client_id: 's1-t2' })).message_id, null);
  assert.equal((await s2.client.request('lookup', { client_id: 's1-t3' })).message_id, '');
});

test('send errors: not connected (retry), invalid number and too long (no retry)', async (t) => {
  const s = await start(t);
  const nc = await s.client.request('send', { client_id: 'x-1', to: '+4915112345678', text: 'a' });
  assert.deepEqual([nc.ok, nc.error.code, nc.error.retry], [false, 'not_connected', true]);
  assert.equal((await s.client.request('lookup', { client_id: 'x-1' })).message_id, '');
  await connected(s);
  const bad = await s.client.request('send', { client_id: 'x-2', to: '015112345678', text: 'a' });
  assert.deepEqual([bad.error.code, bad.error.retry], ['invalid_number', false]);
  const long = await s.client.request('send', { client_id: 'x-3', to: '+4915112345678', text: 'x'.repeat(70000) });
  assert.deepEqual([long.error.code, long.error.retry], ['too_long', false]);
  assert.equal(s.engine.sent.length, 0);
});

test('a line over 1 MiB is answered line_too_long and closes the connection', async (t) => {
  const s = await start(t);
  s.client.writeRaw(`{"id":1,"op":"status","pad":"${'x'.repeat(kMaxLineBytes)}"}\n`);
  const err = await waitFor(() => s.client.lines.find((l) => l.error), 'an error line');
  assert.equal(err.error.code, 'line_too_long');
  await waitFor(() => s.client.closed, 'the connection closed');
  // The sidecar itself goes on.
  const again = await LineClient.connect(s.socketPath);
  t.after(() => again.close());
  assert.equal((await again.request('hello', { version: 1 })).ok, true);
});

test('a line just under 1 MiB is accepted', async (t) => {
  const s = await start(t);
  const head = '{"id":7,"op":"status","pad":"';
  const tail = '"}';
  s.client.writeRaw(`${head}${'x'.repeat(kMaxLineBytes - head.length - tail.length)}${tail}\n`);
  const r = await waitFor(() => s.client.lines.find((l) => l.id === 7), 'the status response');
  assert.equal(r.ok, true);
});

test('malformed JSON is answered bad_request and the connection stays usable', async (t) => {
  const s = await start(t);
  s.client.writeRaw('{"id": 1, "op": \n');
  const err = await waitFor(() => s.client.lines.find((l) => l.error), 'an error line');
  assert.deepEqual([err.id, err.ok, err.error.code], [null, false, 'bad_request']);
  assert.equal((await s.client.request('hello', { version: 1 })).ok, true);
});

test('an unknown op is answered unknown_op with its id', async (t) => {
  const s = await start(t);
  const r = await s.client.request('fly', { to: 'moon' });
  assert.deepEqual([r.id, r.ok, r.error.code], [1, false, 'unknown_op']);
});

test('a second client is refused while one is attached', async (t) => {
  const s = await start(t);
  const second = await LineClient.connect(s.socketPath);
  t.after(() => second.close());
  const err = await waitFor(() => second.lines[0], 'the refusal');
  assert.equal(err.error.code, 'busy');
  await waitFor(() => second.closed, 'closed');
  assert.equal((await s.client.request('hello', { version: 1 })).ok, true);
});

test('acks and inbound messages from while no client was attached arrive after hello', async (t) => {
  const s = await start(t);
  const hooks = s.engine.last().hooks;
  hooks.message({ message_id: 'IN1', from: '+4915112345678', name: 'Ana', text: 'hi', timestamp: 1 });
  hooks.ack({ message_id: 'WA1', status: 'read', recipient: '+4915112345678', timestamp: 2 });
  await new Promise((r) => setImmediate(r));
  assert.equal(s.client.lines.length, 0, 'nothing before hello');
  await s.client.request('hello', { version: 1 });
  const m = await s.client.event((e) => e.event === 'message', 'the message');
  assert.equal(m.text, 'hi');
  const a = await s.client.event((e) => e.event === 'ack', 'the ack');
  assert.equal(a.status, 'read');
});

test('logged out --max-logouts times in a row ends in failed, with no reconnect', async (t) => {
  const s = await start(t, { sidecar: { maxLogouts: 2 } });
  await s.client.request('hello', { version: 1 });
  s.engine.attempts[0].hooks.closed({ reason: 'logged_out', detail: 'phone removed the device' });
  await s.client.event((e) => e.state === 'logged_out', 'state logged_out');
  await waitFor(() => s.engine.attempts.length === 2, 'the reconnect showing a new QR');
  s.engine.attempts[1].hooks.closed({ reason: 'replaced', detail: 'another client' });
  const failed = await s.client.event((e) => e.state === 'failed', 'state failed');
  assert.match(failed.detail, /2 .* in a row/);
  assert.equal(s.engine.cleared, 2, 'each logout clears the auth state');
  assert.equal(s.sidecar.session.timer, null, 'no reconnect is scheduled');
  assert.equal(s.engine.attempts.length, 2);
  assert.equal((await s.client.request('status')).state, 'failed');
  // The tenant's logout starts a new pairing.
  assert.equal((await s.client.request('logout')).ok, true);
  await waitFor(() => s.engine.attempts.length === 3, 'a new pairing after logout');
});

test('a connected session between logouts resets the count', async (t) => {
  const s = await start(t, { sidecar: { maxLogouts: 2 } });
  s.engine.attempts[0].hooks.closed({ reason: 'logged_out' });
  await waitFor(() => s.engine.attempts.length === 2, 'reconnect 1');
  s.engine.attempts[1].hooks.state('connected', { phone: '+4915100000001' });
  s.engine.attempts[1].hooks.closed({ reason: 'logged_out' });
  await waitFor(() => s.engine.attempts.length === 3, 'reconnect 2');
  assert.notEqual(s.sidecar.session.state, 'failed');
});

test('banned stops reconnecting; an error reconnects with backoff', async (t) => {
  const s = await start(t);
  await s.client.request('hello', { version: 1 });
  s.engine.attempts[0].hooks.closed({ reason: 'error', detail: 'ENOTFOUND' });
  const retry = await s.client.event((e) => e.state === 'connecting' && /reconnecting in/.test(e.detail), 'backoff');
  assert.match(retry.detail, /ENOTFOUND/);
  await waitFor(() => s.engine.attempts.length === 2, 'the reconnect');
  s.engine.attempts[1].hooks.closed({ reason: 'banned', detail: 'forbidden' });
  await s.client.event((e) => e.state === 'banned', 'state banned');
  assert.equal(s.sidecar.session.timer, null);
});

test('pair_code asks the engine while a QR is shown', async (t) => {
  const s = await start(t);
  const early = await s.client.request('pair_code', { phone: '+4915112345678' });
  assert.equal(early.ok, false);
  s.engine.last().hooks.qr('2@q', 60000);
  const r = await s.client.request('pair_code', { phone: '+4915112345678' });
  assert.deepEqual([r.ok, r.code], [true, 'CODE-5678']);
});

test('status reports state, phone and the rss of the sidecar', async (t) => {
  const s = await start(t);
  await connected(s, '+4915100000001');
  const r = await s.client.request('status');
  assert.equal(r.state, 'connected');
  assert.equal(r.phone, '+4915100000001');
  assert.ok(r.rss_bytes > 10 * 1024 * 1024, `rss_bytes ${r.rss_bytes}`);
});

test('--pace-ms spaces sends out by at least its minimum', async (t) => {
  const s = await start(t, { sidecar: { paceMs: [80, 80] } });
  await connected(s);
  const sends = [1, 2, 3].map((i) => s.client.request('send', { client_id: `p-${i}`, to: '+4915112345678', text: `m${i}` }));
  const results = await Promise.all(sends);
  assert.deepEqual(results.map((r) => r.message_id), ['WA1', 'WA2', 'WA3']);
  const at = s.engine.sent.map((m) => m.at);
  assert.ok(at[1] - at[0] >= 75 && at[2] - at[1] >= 75, `gaps ${at[1] - at[0]}, ${at[2] - at[1]} ms`);
});

test('a journal whose last line was torn by a crash still answers for the lines before it', async (t) => {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'auth'), { mode: 0o700 });
  fs.writeFileSync(
    path.join(dir, 'auth', 'sent.jsonl'),
    [
      '{"client_id":"a","phase":"sending"}',
      '{"client_id":"a","message_id":"WA-a","phase":"sent"}',
      '{"client_id":"b","phase":"sending"}',
      '{"client_id":"b","message_id":"WA',
    ].join('\n'),
  );
  const s = await start(t, { dir });
  assert.equal((await s.client.request('lookup', { client_id: 'a' })).message_id, 'WA-a');
  assert.equal((await s.client.request('lookup', { client_id: 'b' })).message_id, null);
  await connected(s);
  await s.client.request('send', { client_id: 'c', to: '+4915112345678', text: 'x' });
  const lines = fs.readFileSync(path.join(s.authDir, 'sent.jsonl'), 'utf8').split('\n');
  assert.deepEqual(JSON.parse(lines.at(-2)), { client_id: 'c', message_id: 'WA1', phase: 'sent' });
});

test('a send the library certainly did not take may be sent again', async (t) => {
  const s = await start(t);
  await connected(s);
  const { ProtocolError } = await import('../lib/util.mjs');
  s.engine.sendImpl = async () => {
    throw new ProtocolError('rate_limited', 'slow down', true);
  };
  const r = await s.client.request('send', { client_id: 'r-1', to: '+4915112345678', text: 'a' });
  assert.deepEqual([r.error.code, r.error.retry], ['rate_limited', true]);
  assert.equal((await s.client.request('lookup', { client_id: 'r-1' })).message_id, '');
  s.engine.sendImpl = null;
  assert.equal((await s.client.request('send', { client_id: 'r-1', to: '+4915112345678', text: 'a' })).message_id, 'WA1');
});

test('a library send that never answers times out as unknown, and later sends go on', async (t) => {
  const s = await start(t, { sidecar: { sendTimeoutMs: 50 } });
  await connected(s);
  s.engine.sendImpl = () => new Promise(() => {});
  const hung = await s.client.request('send', { client_id: 'h-1', to: '+4915112345678', text: 'a' });
  assert.deepEqual([hung.error.code, hung.error.retry], ['internal', false]);
  assert.match(hung.error.message, /no answer/);
  s.engine.sendImpl = null;
  assert.equal((await s.client.request('send', { client_id: 'h-2', to: '+4915112345678', text: 'b' })).message_id, 'WA1');
  assert.equal((await s.client.request('lookup', { client_id: 'h-1' })).message_id, null);
});
