#!/usr/bin/env node
// The wa-web sidecar: holds one WhatsApp Web session for a slice and speaks docs/wa-web.md's
// protocol (NDJSON over a Unix socket) to it.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { SendJournal } from './lib/journal.mjs';
import { Session } from './lib/session.mjs';
import { ProtocolError, treePssBytes } from './lib/util.mjs';

/** The protocol version this sidecar speaks (hello's `version`). */
export const kProtocolVersion = 1;
/** Longest request line, newline excluded (docs/wa-web.md, "Framing"). */
export const kMaxLineBytes = 1024 * 1024;
// Events kept while no slice is attached (inbound messages and acks must not be lost between a
// slice's crash and its reconnect); the oldest go first beyond this.
const kMaxBufferedEvents = 10000;

/**
 * Starts a sidecar: listens on `socketPath` (mode 0600, a stale socket file replaced; the path
 * appears only once connections are accepted), keeps the journal in `authDir`/sent.jsonl and
 * starts the engine's session.
 * @param options socketPath, authDir, engine (an adapter, lib/session.mjs), maxLogouts, paceMs,
 *   backoffMs, sendTimeoutMs, log
 * @returns {Promise<{close: () => Promise<void>, session: Session}>}
 */
export async function startSidecar(options) {
  const { socketPath, authDir, engine } = options;
  const log = options.log ?? ((line) => process.stderr.write(`wa-web: ${line}\n`));
  fs.mkdirSync(authDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(authDir, 0o700);
  const journal = new SendJournal(path.join(authDir, 'sent.jsonl'));

  let client = null; // the attached connection, after its hello
  const pending = [];
  const emit = (ev) => {
    if (client?.hello) {
      writeLine(client.socket, ev);
    } else if (ev.event !== 'state' && ev.event !== 'qr') {
      // State and QR are sent fresh on attach (catchUpEvents); the rest must not be lost.
      pending.push(ev);
      if (pending.length > kMaxBufferedEvents) pending.shift();
    }
  };
  const session = new Session(engine, journal, emit, {
    maxLogouts: options.maxLogouts,
    paceMs: options.paceMs,
    backoffMs: options.backoffMs,
    sendTimeoutMs: options.sendTimeoutMs,
    log,
  });

  const server = net.createServer((socket) => {
    if (client) {
      writeLine(socket, errorResponse(null, new ProtocolError('busy', 'another client is attached', true)));
      socket.end();
      return;
    }
    const me = { socket, hello: false };
    client = me;
    socket.on('close', () => {
      if (client === me) client = null;
    });
    socket.on('error', () => {});
    readLines(socket, (line) => handleLine(me, line), () => {
      writeLine(socket, errorResponse(null, new ProtocolError('line_too_long', `a line longer than ${kMaxLineBytes} bytes`, false)));
      socket.end();
      socket.destroySoon?.();
    });
  });

  const handleLine = async (me, line) => {
    let req;
    try {
      req = JSON.parse(line);
    } catch (err) {
      writeLine(me.socket, errorResponse(null, new ProtocolError('bad_request', `malformed JSON: ${err.message}`, false)));
      return;
    }
    const id = Number.isInteger(req?.id) ? req.id : null;
    try {
      if (id === null) throw new ProtocolError('bad_request', 'id: expected an integer', false);
      const result = await answer(me, req);
      writeLine(me.socket, { id, ok: true, ...result });
      if (req.op === 'hello' && !me.hello) {
        me.hello = true;
        // The current state and QR, then what happened while no slice was attached.
        for (const ev of session.catchUpEvents()) writeLine(me.socket, ev);
        for (const ev of pending.splice(0)) writeLine(me.socket, ev);
      }
    } catch (err) {
      writeLine(me.socket, errorResponse(id, err));
    }
  };

  const answer = async (me, req) => {
    switch (req.op) {
      case 'hello':
        if (req.version !== kProtocolVersion) {
          throw new ProtocolError('unsupported_version', `version: this sidecar speaks ${kProtocolVersion}`, false);
        }
        return { version: kProtocolVersion, engine: engine.name, state: session.state };
      case 'pair_code':
        return { code: await session.pairCode(req.phone) };
      case 'send':
        return { message_id: await session.send(req.client_id, req.to, req.text) };
      case 'lookup':
        if (typeof req.client_id !== 'string' || req.client_id === '') {
          throw new ProtocolError('bad_request', 'client_id: expected a non-empty string', false);
        }
        return { message_id: journal.lookup(req.client_id) };
      case 'logout':
        await session.logout();
        return {};
      case 'status': {
        // The browser's share (PSS), not its processes' RSS sum: docs/operations.md, "WhatsApp Web
        // sessions".
        let rss = process.memoryUsage.rss();
        for (const pid of session.helperPids()) rss += treePssBytes(pid);
        return { state: session.state, phone: session.phone, rss_bytes: rss };
      }
      default:
        throw new ProtocolError('unknown_op', `unknown op ${JSON.stringify(req.op)}`, false);
    }
  };

  removeStaleSocket(socketPath);
  // Bound and listening under a temporary name, made 0600, then renamed: the socket path appears
  // only once it accepts connections, and never with a laxer mode.
  const temporary = `${socketPath}.${process.pid}.tmp`;
  removeStaleSocket(temporary);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(temporary, resolve);
  });
  fs.chmodSync(temporary, 0o600);
  fs.renameSync(temporary, socketPath);
  session.start();

  return {
    session,
    close: async () => {
      await session.stop();
      client?.socket.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
      journal.close();
      try {
        fs.unlinkSync(socketPath);
      } catch {
        // Already gone (server.close removes it on some platforms).
      }
    },
  };
}

function errorResponse(id, err) {
  if (err instanceof ProtocolError) {
    return { id, ok: false, error: { code: err.code, message: err.message, retry: err.retry } };
  }
  return { id, ok: false, error: { code: 'internal', message: `${err?.message ?? err}`, retry: true } };
}

function writeLine(socket, obj) {
  if (!socket.destroyed && socket.writable) socket.write(`${JSON.stringify(obj)}\n`);
}

// Splits the stream into lines without ever holding more than one line of kMaxLineBytes.
function readLines(socket, onLine, onTooLong) {
  let chunks = [];
  let size = 0;
  let dead = false;
  socket.on('data', (data) => {
    if (dead) return;
    let start = 0;
    for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, start)) {
      const piece = data.subarray(start, nl);
      if (size + piece.length > kMaxLineBytes) {
        dead = true;
        onTooLong();
        return;
      }
      const line = Buffer.concat([...chunks, piece]).toString('utf8');
      chunks = [];
      size = 0;
      start = nl + 1;
      if (line.trim() !== '') onLine(line);
    }
    const rest = data.subarray(start);
    if (size + rest.length > kMaxLineBytes) {
      dead = true;
      onTooLong();
      return;
    }
    if (rest.length) {
      chunks.push(Buffer.from(rest));
      size += rest.length;
    }
  });
}

function removeStaleSocket(socketPath) {
  let st;
  try {
    st = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${socketPath}: exists and is not a socket`);
  fs.unlinkSync(socketPath);
}

/** Parses `--pace-ms MIN,MAX` into [min, max] milliseconds. */
export function parsePace(text) {
  const m = /^([0-9]+),([0-9]+)$/.exec(text ?? '');
  if (!m || Number(m[1]) > Number(m[2])) {
    throw new Error(`--pace-ms: expected MIN,MAX milliseconds with MIN <= MAX, got ${JSON.stringify(text)}`);
  }
  return [Number(m[1]), Number(m[2])];
}

const kUsage = `usage: sidecar.mjs --socket PATH --auth DIR --engine noweb|webjs [--max-logouts N] [--pace-ms MIN,MAX]
  [--chromium PATH] (webjs; default /usr/bin/chromium)`;

async function main() {
  let args;
  try {
    ({ values: args } = parseArgs({
      options: {
        socket: { type: 'string' },
        auth: { type: 'string' },
        engine: { type: 'string' },
        'max-logouts': { type: 'string', default: '3' },
        'pace-ms': { type: 'string' },
        chromium: { type: 'string', default: '/usr/bin/chromium' },
        help: { type: 'boolean' },
      },
    }));
    if (args.help) {
      process.stdout.write(`${kUsage}\n`);
      return 0;
    }
    for (const key of ['socket', 'auth', 'engine']) {
      if (!args[key]) throw new Error(`--${key} is required`);
    }
    if (!/^[1-9][0-9]*$/.test(args['max-logouts'])) throw new Error('--max-logouts: expected a positive integer');
  } catch (err) {
    process.stderr.write(`wa-web: ${err.message}\n${kUsage}\n`);
    return 2;
  }
  // Auth files, the journal and the socket are for this user only.
  process.umask(0o077);
  // The libraries leave the odd promise unhandled when a connection dies under them; that ends
  // one attempt (which reports its own close), not the session.
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`wa-web: unhandled rejection: ${err?.stack ?? err}\n`);
  });
  const authDir = path.resolve(args.auth);
  let engine;
  try {
    const paceMs = args['pace-ms'] ? parsePace(args['pace-ms']) : null;
    engine = await loadEngine(args.engine, authDir, args.chromium);
    const sidecar = await startSidecar({
      socketPath: path.resolve(args.socket),
      authDir,
      engine,
      maxLogouts: Number(args['max-logouts']),
      paceMs,
    });
    let stopping = false;
    const stop = async (signal) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`wa-web: ${signal}, closing the session\n`);
      // A library that hangs on close must not keep the slice from stopping us.
      setTimeout(() => process.exit(0), 5000).unref();
      await sidecar.close();
      process.exit(0);
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  } catch (err) {
    process.stderr.write(`wa-web: ${err.message}\n`);
    return 1;
  }
  return null;
}

async function loadEngine(name, authDir, chromium) {
  switch (name) {
    case 'noweb': {
      const { createNowebEngine } = await import('./engines/noweb.mjs');
      return createNowebEngine({ authDir });
    }
    case 'webjs': {
      const { createWebjsEngine } = await import('./engines/webjs.mjs');
      return createWebjsEngine({ authDir, chromium });
    }
    default:
      throw new Error(`--engine: expected noweb or webjs, got ${JSON.stringify(name)}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  main().then((code) => {
    if (code !== null) process.exit(code);
  });
}
