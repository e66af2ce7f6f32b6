// Test helpers: a line client for the sidecar's socket, a scriptable fake engine, temp dirs.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A fresh directory under the system temp dir, removed after the test. */
export function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-web-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Polls `predicate` until true or `ms` pass; throws with `what` on time out. */
export async function waitFor(predicate, what, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = predicate();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** An NDJSON client of the sidecar socket: requests by id, everything received kept in order. */
export class LineClient {
  static async connect(socketPath) {
    const socket = net.connect(socketPath);
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new LineClient(socket);
  }

  constructor(socket) {
    this.socket = socket;
    this.lines = [];
    this.closed = false;
    this.nextId = 1;
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        this.lines.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {});
  }

  /** Sends a request and waits for the response with its id. */
  async request(op, fields = {}) {
    const id = this.nextId++;
    this.writeRaw(`${JSON.stringify({ id, op, ...fields })}\n`);
    return waitFor(() => this.lines.find((l) => l.id === id), `the response to ${op} #${id}`);
  }

  writeRaw(text) {
    this.socket.write(text);
  }

  /** Waits for an event (a line without id) matching `pred`, from `from` on. */
  async event(pred, what, from = 0) {
    return waitFor(() => this.lines.slice(from).find((l) => l.event && pred(l)), what);
  }

  events(name) {
    return this.lines.filter((l) => l.event === name);
  }

  close() {
    this.socket.destroy();
  }
}

/**
 * An engine whose connections the test drives through their hooks: `eng.attempts[i].hooks`.
 * send returns WA1, WA2 … unless `eng.sendImpl` says otherwise.
 */
export function fakeEngine() {
  const eng = {
    name: 'fake',
    attempts: [],
    cleared: 0,
    sent: [],
    sendImpl: null,
    async connect(hooks) {
      const conn = {
        hooks,
        closed: false,
        loggedOut: false,
        async send(to, text) {
          if (eng.sendImpl) return eng.sendImpl(to, text);
          eng.sent.push({ to, text, at: Date.now() });
          return `WA${eng.sent.length}`;
        },
        async pairCode(phone) {
          return `CODE-${phone.slice(-4)}`;
        },
        async logout() {
          conn.loggedOut = true;
        },
        async close() {
          conn.closed = true;
        },
        pids: () => [],
      };
      eng.attempts.push(conn);
      return conn;
    },
    async clearAuth() {
      eng.cleared += 1;
    },
    last() {
      return eng.attempts[eng.attempts.length - 1];
    },
  };
  return eng;
}
