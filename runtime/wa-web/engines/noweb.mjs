// Engine `noweb`: a WhatsApp Web session through Baileys (no browser), adapted to the sidecar's
// engine interface (lib/session.mjs).
import fs from 'node:fs/promises';
import path from 'node:path';

import './webcrypto.mjs';
import { ProtocolError, formatPairCode, phoneOfJid } from '../lib/util.mjs';

// Baileys' first QR lives 60 s, the ones after it 20 s (its socket's qrTimeout defaults).
const kFirstQrMs = 60000;
const kNextQrMs = 20000;

/**
 * The Baileys adapter. Auth state lives in `authDir`/noweb (the sidecar's umask makes it 0700/0600).
 * @param options authDir; lib = { makeWASocket, useMultiFileAuthState, DisconnectReason, proto }
 *   (default: the `baileys` package; tests pass the real constants with a fake makeWASocket); logger
 */
export async function createNowebEngine(options) {
  const lib = options.lib ?? (await loadBaileys());
  const dir = path.join(options.authDir, 'noweb');
  const logger = options.logger ?? (await defaultLogger());
  return {
    name: 'noweb',
    connect: (hooks) => connect(lib, dir, logger, hooks),
    clearAuth: () => fs.rm(dir, { recursive: true, force: true }),
  };
}

async function loadBaileys() {
  const b = await import('baileys');
  return {
    makeWASocket: b.makeWASocket ?? b.default,
    useMultiFileAuthState: b.useMultiFileAuthState,
    DisconnectReason: b.DisconnectReason,
    proto: b.proto,
  };
}

async function defaultLogger() {
  const { default: pino } = await import('pino');
  // Baileys logs a lot at info; warnings go to stderr, which the slice keeps with its own log.
  return pino({ level: 'warn' }, pino.destination(2));
}

async function connect(lib, dir, logger, hooks) {
  const { DisconnectReason, proto } = lib;
  const Status = proto.WebMessageInfo.Status;
  const { state, saveCreds } = await lib.useMultiFileAuthState(dir);
  const sock = lib.makeWASocket({
    auth: state,
    logger,
    printQRInTerminal: false,
    markOnlineOnConnect: false,
    syncFullHistory: false,
  });
  let qrCount = 0;
  let closed = false;

  sock.ev.on('creds.update', saveCreds);
  sock.ev.on('connection.update', (u) => {
    if (u.qr) {
      hooks.qr(u.qr, qrCount === 0 ? kFirstQrMs : kNextQrMs);
      qrCount += 1;
    }
    if (u.connection === 'connecting') {
      hooks.state('connecting', { detail: 'connecting to WhatsApp' });
    } else if (u.connection === 'open') {
      hooks.state('connected', { phone: phoneOfJid(sock.user?.id) });
    } else if (u.connection === 'close' && !closed) {
      closed = true;
      hooks.closed(closeReason(u.lastDisconnect?.error, DisconnectReason));
    }
  });
  sock.ev.on('messages.update', (updates) => {
    for (const { key, update } of updates) {
      if (!key?.fromMe || update?.status === undefined || update.status === null) continue;
      const status = ackStatus(update.status, Status);
      if (!status) continue;
      const ack = {
        message_id: key.id,
        status,
        recipient: phoneOfJid(key.remoteJid) ?? phoneOfJid(key.remoteJidAlt),
        timestamp: Number(update.messageTimestamp ?? 0) || nowSeconds(),
      };
      if (status === 'failed') ack.error = `WhatsApp error ${update.messageStubParameters?.[0] ?? 'unknown'}`;
      hooks.ack(ack);
    }
  });
  sock.ev.on('message-receipt.update', (receipts) => {
    // Per-recipient receipts (groups): a read receipt carries readTimestamp, a delivery one
    // receiptTimestamp.
    for (const { key, receipt } of receipts) {
      if (!key?.fromMe || !receipt) continue;
      const read = Number(receipt.readTimestamp ?? 0);
      const delivered = Number(receipt.receiptTimestamp ?? 0);
      if (!read && !delivered) continue;
      hooks.ack({
        message_id: key.id,
        status: read ? 'read' : 'delivered',
        recipient: phoneOfJid(receipt.userJid),
        timestamp: read || delivered,
      });
    }
  });
  sock.ev.on('messages.upsert', ({ messages, type }) => {
    // `append` is history arriving on (re)connect, already seen by the phone's owner.
    if (type !== 'notify') return;
    for (const m of messages) {
      const key = m.key ?? {};
      if (key.fromMe) continue;
      // A 1:1 chat's peer, by number: LID-addressed chats carry it in remoteJidAlt.
      const from = phoneOfJid(key.remoteJid) ?? phoneOfJid(key.remoteJidAlt);
      if (!from) continue;
      const text = messageText(m.message);
      if (text === null) continue;
      hooks.message({
        message_id: key.id,
        from,
        name: m.pushName ?? '',
        text,
        timestamp: Number(m.messageTimestamp ?? 0) || nowSeconds(),
      });
    }
  });
  const onContacts = (contacts) => {
    for (const c of contacts) {
      const phone = phoneOfJid(c.id) ?? phoneOfJid(c.phoneNumber);
      const name = c.name || c.notify || c.verifiedName;
      if (phone && name) hooks.contact({ phone, name });
    }
  };
  sock.ev.on('contacts.upsert', onContacts);
  sock.ev.on('contacts.update', onContacts);

  return {
    async send(phone, text) {
      const sent = await sock.sendMessage(`${phone.slice(1)}@s.whatsapp.net`, { text });
      if (!sent?.key?.id) throw new Error('Baileys returned no message key');
      return sent.key.id;
    },
    async pairCode(phone) {
      return formatPairCode(await sock.requestPairingCode(phone.slice(1)));
    },
    async logout() {
      await sock.logout();
    },
    async close() {
      closed = true;
      sock.ev.removeAllListeners?.();
      await sock.end(undefined);
    },
    pids: () => [],
  };
}

/** The session's end for a Baileys close error (a Boom whose output.statusCode is a DisconnectReason). */
export function closeReason(error, DisconnectReason) {
  const code = error?.output?.statusCode;
  const detail = `${error?.message ?? 'connection closed'}${code ? ` (${code})` : ''}`;
  switch (code) {
    case DisconnectReason.loggedOut:
      return { reason: 'logged_out', detail: 'the phone logged this device out' };
    case DisconnectReason.connectionReplaced:
      return { reason: 'replaced', detail: 'another WhatsApp Web client took over the session' };
    case DisconnectReason.forbidden:
      return { reason: 'banned', detail: `WhatsApp refused the number: ${detail}` };
    case DisconnectReason.restartRequired:
      return { reason: 'restart', detail };
    default:
      return { reason: 'error', detail };
  }
}

/** docs/wa-web.md's ack status for a proto.WebMessageInfo.Status; null for PENDING. */
export function ackStatus(status, Status) {
  switch (status) {
    case Status.SERVER_ACK:
      return 'sent';
    case Status.DELIVERY_ACK:
      return 'delivered';
    case Status.READ:
    case Status.PLAYED:
      return 'read';
    case Status.ERROR:
      return 'failed';
    default:
      return null;
  }
}

/** The text of an inbound message, `[image]` etc. for media; null for protocol messages. */
export function messageText(message) {
  if (!message) return null;
  const inner = message.ephemeralMessage?.message ?? message.viewOnceMessage?.message ?? message;
  if (typeof inner.conversation === 'string' && inner.conversation) return inner.conversation;
  if (inner.extendedTextMessage?.text) return inner.extendedTextMessage.text;
  const media = [
    ['imageMessage', 'image'],
    ['videoMessage', 'video'],
    ['audioMessage', 'audio'],
    ['documentMessage', 'document'],
    ['stickerMessage', 'sticker'],
    ['locationMessage', 'location'],
    ['contactMessage', 'contact'],
  ];
  for (const [field, label] of media) {
    if (inner[field]) {
      const caption = inner[field].caption;
      return caption ? `[${label}] ${caption}` : `[${label}]`;
    }
  }
  return null;
}

function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}
