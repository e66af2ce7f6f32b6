// The Baileys adapter driven by a fake socket that emits Baileys' own event objects: proto
// WebMessageInfo messages, connection.update shapes, Boom errors with DisconnectReason codes.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

// Before Baileys, as the engine does: the global WebCrypto it reads, on Node 18 too.
import '../engines/webcrypto.mjs';

import { Boom } from '@hapi/boom';
import { DisconnectReason, proto, useMultiFileAuthState } from 'baileys';

import { createNowebEngine } from '../engines/noweb.mjs';
import { tempDir } from './helpers.mjs';

const Status = proto.WebMessageInfo.Status;

function recorder() {
  const calls = [];
  const push = (kind) => (...args) => calls.push([kind, ...args]);
  return {
    calls,
    of: (kind) => calls.filter((c) => c[0] === kind).map((c) => c.slice(1)),
    hooks: { state: push('state'), qr: push('qr'), closed: push('closed'), ack: push('ack'), message: push('message'), contact: push('contact') },
  };
}

async function setup(t) {
  const dir = tempDir(t);
  const sockets = [];
  const lib = {
    useMultiFileAuthState,
    DisconnectReason,
    proto,
    makeWASocket(config) {
      const ev = new EventEmitter();
      const sock = {
        config,
        ev,
        user: undefined,
        sent: [],
        ended: false,
        async sendMessage(jid, content) {
          sock.sent.push([jid, content]);
          return proto.WebMessageInfo.fromObject({ key: { remoteJid: jid, fromMe: true, id: `3EB0${sock.sent.length}` }, message: { conversation: content.text } });
        },
        async requestPairingCode(phone) {
          sock.pairedFor = phone;
          return 'ABCD1234';
        },
        async logout() {
          sock.loggedOut = true;
        },
        async end() {
          sock.ended = true;
        },
      };
      sockets.push(sock);
      return sock;
    },
  };
  const engine = await createNowebEngine({ authDir: dir, lib, logger: silentLogger() });
  const rec = recorder();
  const conn = await engine.connect(rec.hooks);
  return { dir, engine, conn, rec, sock: sockets[0], sockets };
}

function silentLogger() {
  const l = { level: 'silent', trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {} };
  l.child = () => l;
  return l;
}

test('the auth state is Baileys multi-file state under <auth>/noweb, saved on creds.update', async (t) => {
  const s = await setup(t);
  assert.ok(s.sock.config.auth.creds.noiseKey, 'fresh credentials handed to makeWASocket');
  s.sock.ev.emit('creds.update', {});
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(fs.existsSync(path.join(s.dir, 'noweb', 'creds.json')));
  await s.engine.clearAuth();
  assert.ok(!fs.existsSync(path.join(s.dir, 'noweb')));
});

test('connection.update: QR codes with their lifetimes, connecting, open with the phone', async (t) => {
  const s = await setup(t);
  s.sock.ev.emit('connection.update', { connection: 'connecting', receivedPendingNotifications: false, qr: undefined });
  s.sock.ev.emit('connection.update', { qr: '2@first' });
  s.sock.ev.emit('connection.update', { qr: '2@second' });
  s.sock.user = { id: '4915112345678:7@s.whatsapp.net', name: 'Shop' };
  s.sock.ev.emit('connection.update', { connection: 'open' });
  assert.deepEqual(s.rec.of('qr'), [['2@first', 60000], ['2@second', 20000]]);
  assert.deepEqual(s.rec.of('state'), [
    ['connecting', { detail: 'connecting to WhatsApp' }],
    ['connected', { phone: '+4915112345678' }],
  ]);
});

const closes = [
  [DisconnectReason.loggedOut, 'logged_out'],
  [DisconnectReason.connectionReplaced, 'replaced'],
  [DisconnectReason.forbidden, 'banned'],
  [DisconnectReason.restartRequired, 'restart'],
  [DisconnectReason.connectionLost, 'error'],
  [DisconnectReason.badSession, 'error'],
];
for (const [code, reason] of closes) {
  test(`a close with DisconnectReason ${code} ends the session as ${reason}`, async (t) => {
    const s = await setup(t);
    s.sock.ev.emit('connection.update', { connection: 'close', lastDisconnect: { error: new Boom('Stream Errored', { statusCode: code }), date: new Date() } });
    s.sock.ev.emit('connection.update', { connection: 'close', lastDisconnect: { error: new Boom('again', { statusCode: code }), date: new Date() } });
    const closed = s.rec.of('closed');
    assert.equal(closed.length, 1, 'one close per connection');
    assert.equal(closed[0][0].reason, reason);
    assert.ok(closed[0][0].detail);
  });
}

test('messages.update statuses become acks; receipts of groups too', async (t) => {
  const s = await setup(t);
  const key = { remoteJid: '4915112345678@s.whatsapp.net', fromMe: true, id: '3EB0AA' };
  s.sock.ev.emit('messages.update', [
    { key, update: { status: Status.SERVER_ACK, messageTimestamp: 1700000001 } },
    { key, update: { status: Status.DELIVERY_ACK, messageTimestamp: 1700000002 } },
    { key, update: { status: Status.READ, messageTimestamp: 1700000003 } },
    { key, update: { status: Status.PENDING } },
    { key: { ...key, fromMe: false }, update: { status: Status.READ } },
    { key, update: { status: Status.ERROR, messageStubParameters: ['463'] } },
    { key, update: { message: { conversation: 'edited' } } },
  ]);
  const acks = s.rec.of('ack').map(([a]) => a);
  assert.deepEqual(acks.map((a) => a.status), ['sent', 'delivered', 'read', 'failed']);
  assert.deepEqual(acks.slice(0, 3).map((a) => a.timestamp), [1700000001, 1700000002, 1700000003]);
  assert.ok(acks.every((a) => a.message_id === '3EB0AA' && a.recipient === '+4915112345678'));
  assert.match(acks[3].error, /463/);

  s.sock.ev.emit('message-receipt.update', [
    { key: { remoteJid: '1203630@g.us', fromMe: true, id: 'G1' }, receipt: proto.UserReceipt.fromObject({ userJid: '4915199999999@s.whatsapp.net', readTimestamp: 1700000009 }) },
  ]);
  const receipt = s.rec.of('ack').map(([a]) => a).at(-1);
  assert.deepEqual(receipt, { message_id: 'G1', status: 'read', recipient: '+4915199999999', timestamp: 1700000009 });
});

test('messages.upsert (notify) becomes message events; own, group and history messages do not', async (t) => {
  const s = await setup(t);
  const msg = (fields) => proto.WebMessageInfo.fromObject({ messageTimestamp: 1700000100, ...fields });
  s.sock.ev.emit('messages.upsert', {
    type: 'notify',
    messages: [
      msg({ key: { remoteJid: '4915112345678@s.whatsapp.net', fromMe: false, id: 'IN1' }, pushName: 'Ana', message: { conversation: 'Hallo!' } }),
      msg({ key: { remoteJid: '4915112345678@s.whatsapp.net', fromMe: false, id: 'IN2' }, message: { extendedTextMessage: { text: 'a link https://x' } } }),
      msg({ key: { remoteJid: '4915112345678@s.whatsapp.net', fromMe: false, id: 'IN3' }, message: { imageMessage: { caption: 'look' } } }),
      msg({ key: { remoteJid: '4915112345678@s.whatsapp.net', fromMe: true, id: 'OUT' }, message: { conversation: 'mine' } }),
      msg({ key: { remoteJid: '1203630@g.us', fromMe: false, id: 'G', participant: '4915100000000@s.whatsapp.net' }, message: { conversation: 'group' } }),
    ],
  });
  // A chat addressed by LID carries the number in remoteJidAlt (Baileys 7).
  s.sock.ev.emit('messages.upsert', {
    type: 'notify',
    messages: [{ ...msg({ key: { remoteJid: '12345678901234@lid', fromMe: false, id: 'IN4' }, message: { conversation: 'via lid' } }), key: { remoteJid: '12345678901234@lid', remoteJidAlt: '4915155555555@s.whatsapp.net', fromMe: false, id: 'IN4' } }],
  });
  s.sock.ev.emit('messages.upsert', { type: 'append', messages: [msg({ key: { remoteJid: '4915112345678@s.whatsapp.net', fromMe: false, id: 'OLD' }, message: { conversation: 'old' } })] });
  const got = s.rec.of('message').map(([m]) => m);
  assert.deepEqual(got.map((m) => [m.message_id, m.from, m.text]), [
    ['IN1', '+4915112345678', 'Hallo!'],
    ['IN2', '+4915112345678', 'a link https://x'],
    ['IN3', '+4915112345678', '[image] look'],
    ['IN4', '+4915155555555', 'via lid'],
  ]);
  assert.equal(got[0].name, 'Ana');
  assert.equal(got[0].timestamp, 1700000100);
});

test('contacts.upsert and contacts.update become contact events', async (t) => {
  const s = await setup(t);
  s.sock.ev.emit('contacts.upsert', [{ id: '4915112345678@s.whatsapp.net', name: 'Ana Weber' }, { id: '1203630@g.us', name: 'A group' }]);
  s.sock.ev.emit('contacts.update', [{ id: '99887766554433@lid', phoneNumber: '4915177777777@s.whatsapp.net', notify: 'Bo' }]);
  assert.deepEqual(s.rec.of('contact').map(([c]) => c), [
    { phone: '+4915112345678', name: 'Ana Weber' },
    { phone: '+4915177777777', name: 'Bo' },
  ]);
});

test('send, pair code, logout and close reach the socket', async (t) => {
  const s = await setup(t);
  assert.equal(await s.conn.send('+4915112345678', 'Hallo'), '3EB01');
  assert.deepEqual(s.sock.sent, [['4915112345678@s.whatsapp.net', { text: 'Hallo' }]]);
  assert.equal(await s.conn.pairCode('+4915112345678'), 'ABCD-1234');
  assert.equal(s.sock.pairedFor, '4915112345678');
  await s.conn.logout();
  assert.ok(s.sock.loggedOut);
  await s.conn.close();
  assert.ok(s.sock.ended);
  s.sock.ev.emit('connection.update', { connection: 'close', lastDisconnect: { error: new Boom('x', { statusCode: 428 }) } });
  assert.equal(s.rec.of('closed').length, 0, 'a connection we closed reports no close');
});
