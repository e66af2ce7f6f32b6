// Engine `webjs`: a WhatsApp Web session through whatsapp-web.js driving Debian's chromium,
// adapted to the sidecar's engine interface (lib/session.mjs).
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';

import { commandLine, formatPairCode, phoneOfJid } from '../lib/util.mjs';

// WhatsApp Web rotates its QR about every 20 s.
const kQrMs = 20000;
const kDestroyMs = 5000;
// How long close() waits for the killed browser's processes to be gone.
const kKillWaitMs = 3000;

/**
 * The whatsapp-web.js adapter. The browser profile (LocalAuth) lives in `authDir`/webjs.
 * @param options authDir, chromium (the browser binary, default /usr/bin/chromium);
 *   lib = { Client, LocalAuth, MessageAck, WAState } (default: the `whatsapp-web.js` package;
 *   tests pass its real constants with a fake Client)
 */
export async function createWebjsEngine(options) {
  const lib = options.lib ?? (await import('whatsapp-web.js')).default;
  const dir = path.join(options.authDir, 'webjs');
  const chromium = options.chromium ?? '/usr/bin/chromium';
  return {
    name: 'webjs',
    connect: (hooks) => connect(lib, dir, chromium, hooks),
    clearAuth: () => fs.promises.rm(dir, { recursive: true, force: true }),
  };
}

async function connect(lib, dir, chromium, hooks) {
  const { MessageAck, WAState } = lib;
  const client = new lib.Client({
    authStrategy: new lib.LocalAuth({ dataPath: dir }),
    // Never the copy of Chrome puppeteer would download: Debian's chromium, kept up to date by apt.
    puppeteer: {
      executablePath: chromium,
      headless: true,
      // Chromium's sandbox needs a non-root user; the slice's service user has it, root does not.
      args: [
        ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
        '--disable-dev-shm-usage',
        // No crash reporter processes that would outlive the browser.
        '--disable-breakpad',
        '--disable-crash-reporter',
      ],
    },
    // No copy of WhatsApp Web's page is written to the working directory.
    webVersionCache: { type: 'none' },
  });
  let closed = false;
  const close = (ev) => {
    if (closed) return;
    closed = true;
    hooks.closed(ev);
  };

  client.on('qr', (qr) => hooks.qr(qr, kQrMs));
  client.on('authenticated', () => hooks.state('connecting', { detail: 'authenticated, loading WhatsApp Web' }));
  client.on('ready', () => hooks.state('connected', { phone: phoneOfJid(client.info?.wid?._serialized) ?? wid(client) }));
  client.on('auth_failure', (msg) => close({ reason: 'logged_out', detail: `the stored session was refused: ${msg}` }));
  client.on('disconnected', (reason) => close(disconnectReason(reason, WAState)));
  client.on('message_ack', (msg, ack) => {
    if (!msg?.fromMe) return;
    const status = ackStatus(ack, MessageAck);
    if (!status) return;
    const ev = {
      message_id: msg.id?._serialized,
      status,
      recipient: phoneOfJid(msg.to),
      timestamp: Math.floor(Date.now() / 1000),
    };
    if (status === 'failed') ev.error = 'WhatsApp reported an error for the message';
    hooks.ack(ev);
  });
  client.on('message', (msg) => {
    if (msg.fromMe) return;
    const from = phoneOfJid(msg.from);
    if (!from) return; // groups, status broadcasts, numberless (LID) senders
    hooks.message({
      message_id: msg.id?._serialized,
      from,
      name: msg._data?.notifyName ?? '',
      text: messageText(msg),
      timestamp: Number(msg.timestamp) || Math.floor(Date.now() / 1000),
    });
    if (msg._data?.notifyName) hooks.contact({ phone: from, name: msg._data.notifyName });
  });

  // initialize() resolves once the page is loaded, long before a QR or a session: it fails when
  // chromium cannot start or WhatsApp Web cannot be reached.
  client.initialize().catch(async (err) => {
    close({ reason: 'error', detail: `${err?.message ?? err}`.split('\n')[0] });
  });

  return {
    async send(phone, text) {
      const msg = await client.sendMessage(`${phone.slice(1)}@c.us`, text);
      if (!msg?.id?._serialized) throw new Error('whatsapp-web.js returned no message id');
      return msg.id._serialized;
    },
    async pairCode(phone) {
      return formatPairCode(await client.requestPairingCode(phone.slice(1)));
    },
    async logout() {
      await client.logout();
    },
    async close() {
      closed = true;
      client.removeAllListeners();
      try {
        // destroy() waits on the browser, which may hang; a killed browser is as closed.
        await Promise.race([client.destroy(), new Promise((r) => setTimeout(r, kDestroyMs).unref())]);
      } finally {
        await killBrowsers(dir);
      }
    },
    pids: () => {
      const pid = client.pupBrowser?.process?.()?.pid;
      return pid ? [pid] : [];
    },
  };
}

// A browser that puppeteer launched but never connected to (initialize failed half way) is not
// closed by destroy(): end every chromium of ours that uses this profile, so the next attempt can.
// A helper whose browser was killed first is no longer our descendant (it was reparented), so
// every process naming the profile is looked for, and close() returns once none is left: a
// SIGKILLed process stays in /proc until it has exited.
async function killBrowsers(dir) {
  const deadline = Date.now() + kKillWaitMs;
  for (;;) {
    const left = profileProcesses(dir);
    if (left.length === 0 || Date.now() > deadline) return;
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

// The processes other than this one whose command line names the profile directory (a zombie's
// is empty: it has exited).
function profileProcesses(dir) {
  let entries = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  return entries
    .filter((name) => /^[0-9]+$/.test(name) && Number(name) !== process.pid)
    .map(Number)
    .filter((pid) => commandLine(pid).includes(dir));
}

function wid(client) {
  const user = client.info?.wid?.user;
  return user ? `+${user}` : null;
}

/** The session's end for whatsapp-web.js's `disconnected` reason ('LOGOUT' or a WAState). */
export function disconnectReason(reason, WAState) {
  switch (reason) {
    case 'LOGOUT':
    case WAState.UNPAIRED:
    case WAState.UNPAIRED_IDLE:
      return { reason: 'logged_out', detail: 'the phone logged this device out' };
    case WAState.CONFLICT:
      return { reason: 'replaced', detail: 'another WhatsApp Web client took over the session' };
    case WAState.TOS_BLOCK:
    case WAState.SMB_TOS_BLOCK:
      return { reason: 'banned', detail: `WhatsApp blocked the number (${reason})` };
    default:
      return { reason: 'error', detail: `disconnected: ${reason}` };
  }
}

/** docs/wa-web.md's ack status for a MessageAck value; null for ACK_PENDING. */
export function ackStatus(ack, MessageAck) {
  switch (ack) {
    case MessageAck.ACK_SERVER:
      return 'sent';
    case MessageAck.ACK_DEVICE:
      return 'delivered';
    case MessageAck.ACK_READ:
    case MessageAck.ACK_PLAYED:
      return 'read';
    case MessageAck.ACK_ERROR:
      return 'failed';
    default:
      return null;
  }
}

function messageText(msg) {
  if (msg.type === 'chat') return msg.body ?? '';
  const labels = { image: 'image', video: 'video', audio: 'audio', ptt: 'audio', document: 'document', sticker: 'sticker', location: 'location', vcard: 'contact' };
  const label = labels[msg.type] ?? msg.type ?? 'message';
  return msg.body && msg.type !== 'sticker' && msg.hasMedia ? `[${label}] ${msg.body}` : `[${label}]`;
}
