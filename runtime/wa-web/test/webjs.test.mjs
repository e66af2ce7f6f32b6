// The whatsapp-web.js adapter driven by a fake Client that emits the library's own objects: its
// Message structure, MessageAck values, WAState disconnect reasons.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { test } from 'node:test';

import webjs from 'whatsapp-web.js';

import { createWebjsEngine } from '../engines/webjs.mjs';
import { tempDir } from './helpers.mjs';

const { LocalAuth, Message, MessageAck, WAState } = webjs;

function recorder() {
  const calls = [];
  const push = (kind) => (...args) => calls.push([kind, ...args]);
  return {
    of: (kind) => calls.filter((c) => c[0] === kind).map((c) => c.slice(1)),
    hooks: { state: push('state'), qr: push('qr'), closed: push('closed'), ack: push('ack'), message: push('message'), contact: push('contact') },
  };
}

async function setup(t, { initialize } = {}) {
  const dir = tempDir(t);
  const clients = [];
  class FakeClient extends EventEmitter {
    constructor(options) {
      super();
      this.options = options;
      this.sent = [];
      clients.push(this);
    }
    async initialize() {
      if (initialize) return initialize();
    }
    async sendMessage(chatId, content) {
      this.sent.push([chatId, content]);
      return new Message(this, { id: { fromMe: true, remote: chatId, id: '3EB0X', _serialized: `true_${chatId}_3EB0X` }, body: content, type: 'chat', from: '4915100000001@c.us', to: chatId, t: 1700000000 });
    }
    async requestPairingCode(phone) {
      this.pairedFor = phone;
      return 'WXYZ5678';
    }
    async logout() {
      this.loggedOut = true;
    }
    async destroy() {
      this.destroyed = true;
    }
  }
  const engine = await createWebjsEngine({ authDir: dir, chromium: '/usr/bin/chromium', lib: { Client: FakeClient, LocalAuth, MessageAck, WAState } });
  const rec = recorder();
  const conn = await engine.connect(rec.hooks);
  return { dir, conn, rec, client: clients[0] };
}

// A message as whatsapp-web.js builds it from the page's model (Message._patch).
function inbound(client, { id = 'ABC', ...fields }) {
  const from = fields.from ?? '4915112345678@c.us';
  return new Message(client, {
    id: { fromMe: false, remote: from, id, _serialized: `false_${from}_${id}` },
    type: 'chat',
    from,
    to: '4915100000001@c.us',
    t: 1700000200,
    notifyName: 'Ana',
    ...fields,
  });
}

test('the client uses LocalAuth under <auth>/webjs and Debian\'s chromium', async (t) => {
  const s = await setup(t);
  assert.ok(s.client.options.authStrategy instanceof LocalAuth);
  assert.equal(s.client.options.authStrategy.dataPath, path.join(s.dir, 'webjs'));
  assert.equal(s.client.options.puppeteer.executablePath, '/usr/bin/chromium');
  assert.equal(s.client.options.puppeteer.headless, true);
});

test('qr, authenticated and ready become qr and states; ready carries the phone', async (t) => {
  const s = await setup(t);
  s.client.emit('qr', '2@qr1');
  s.client.emit('authenticated');
  s.client.info = { wid: { user: '4915100000001', server: 'c.us', _serialized: '4915100000001@c.us' } };
  s.client.emit('ready');
  assert.deepEqual(s.rec.of('qr'), [['2@qr1', 20000]]);
  assert.deepEqual(s.rec.of('state').map(([st, f]) => [st, f.phone]), [['connecting', undefined], ['connected', '+4915100000001']]);
});

const reasons = [
  ['LOGOUT', 'logged_out'],
  [WAState.UNPAIRED, 'logged_out'],
  [WAState.CONFLICT, 'replaced'],
  [WAState.TOS_BLOCK, 'banned'],
  [WAState.SMB_TOS_BLOCK, 'banned'],
  [WAState.PROXYBLOCK, 'error'],
  [WAState.DEPRECATED_VERSION, 'error'],
];
for (const [why, reason] of reasons) {
  test(`disconnected(${why}) ends the session as ${reason}`, async (t) => {
    const s = await setup(t);
    s.client.emit('disconnected', why);
    s.client.emit('disconnected', why);
    const closed = s.rec.of('closed');
    assert.equal(closed.length, 1);
    assert.equal(closed[0][0].reason, reason);
  });
}

test('auth_failure means the stored session is gone: logged_out', async (t) => {
  const s = await setup(t);
  s.client.emit('auth_failure', 'restore failed');
  assert.equal(s.rec.of('closed')[0][0].reason, 'logged_out');
});

test('an initialize() that fails (chromium or network) closes with its error', async (t) => {
  const s = await setup(t, { initialize: async () => { throw new Error('net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/\n    at navigate'); } });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(s.rec.of('closed'), [[{ reason: 'error', detail: 'net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/' }]]);
});

test('message_ack with MessageAck values becomes acks of own messages', async (t) => {
  const s = await setup(t);
  const mine = await s.client.sendMessage('4915112345678@c.us', 'Hallo');
  for (const ack of [MessageAck.ACK_PENDING, MessageAck.ACK_SERVER, MessageAck.ACK_DEVICE, MessageAck.ACK_READ, MessageAck.ACK_PLAYED, MessageAck.ACK_ERROR]) {
    s.client.emit('message_ack', mine, ack);
  }
  s.client.emit('message_ack', inbound(s.client, {}), MessageAck.ACK_READ);
  const acks = s.rec.of('ack').map(([a]) => a);
  assert.deepEqual(acks.map((a) => a.status), ['sent', 'delivered', 'read', 'read', 'failed']);
  assert.ok(acks.every((a) => a.message_id === 'true_4915112345678@c.us_3EB0X' && a.recipient === '+4915112345678'));
});

test('message becomes a message event and a contact; own, group and status messages do not', async (t) => {
  const s = await setup(t);
  s.client.emit('message', inbound(s.client, { id: 'M1', body: 'Hallo!' }));
  s.client.emit('message', inbound(s.client, { id: 'M2', type: 'image', directPath: '/v/t62', caption: 'look' }));
  s.client.emit('message', inbound(s.client, { id: 'M3', from: '120363@g.us', body: 'group' }));
  s.client.emit('message', inbound(s.client, { id: 'M4', from: 'status@broadcast', body: 'status' }));
  s.client.emit('message', new Message(s.client, { id: { fromMe: true, remote: 'x', id: 'M5', _serialized: 'M5' }, type: 'chat', body: 'mine', from: '4915100000001@c.us', to: '4915112345678@c.us', t: 1 }));
  const got = s.rec.of('message').map(([m]) => m);
  assert.deepEqual(got.map((m) => [m.from, m.text, m.name, m.timestamp]), [
    ['+4915112345678', 'Hallo!', 'Ana', 1700000200],
    ['+4915112345678', '[image] look', 'Ana', 1700000200],
  ]);
  assert.equal(got[0].message_id, 'false_4915112345678@c.us_M1');
  assert.deepEqual(s.rec.of('contact')[0], [{ phone: '+4915112345678', name: 'Ana' }]);
});

test('send, pair code, logout and close reach the client', async (t) => {
  const s = await setup(t);
  assert.equal(await s.conn.send('+4915112345678', 'Hallo'), 'true_4915112345678@c.us_3EB0X');
  assert.deepEqual(s.client.sent, [['4915112345678@c.us', 'Hallo']]);
  assert.equal(await s.conn.pairCode('+4915112345678'), 'WXYZ-5678');
  assert.equal(s.client.pairedFor, '4915112345678');
  await s.conn.logout();
  assert.ok(s.client.loggedOut);
  await s.conn.close();
  assert.ok(s.client.destroyed);
});
