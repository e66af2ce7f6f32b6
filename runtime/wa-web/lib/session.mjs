// One WhatsApp session held through an engine adapter: its state, reconnects with backoff, the
// logout/replaced count that ends in `failed`, and the journaled, paced sends (docs/wa-web.md).
import { ProtocolError, isE164 } from './util.mjs';

/** Longest text a WhatsApp message takes; longer is answered `too_long`. */
export const kMaxTextChars = 65536;
// A library send that neither resolves nor rejects would hold up every later send of the session.
const kSendTimeoutMs = 60000;

/**
 * An engine adapter (engines/noweb.mjs, engines/webjs.mjs, or a test's fake) is
 *   { name, connect(hooks) → Promise<connection>, clearAuth() → Promise }
 * and each connection attempt calls the hooks
 *   state(state, {phone, detail}) for connecting/qr/connected, qr(qr, expiresInMs),
 *   closed({reason: 'logged_out'|'replaced'|'banned'|'restart'|'error', detail}) once,
 *   ack({...}), message({...}), contact({phone, name}) with docs/wa-web.md's event fields;
 * a connection is { send(phone, text) → Promise<messageId>, pairCode(phone) → Promise<code>,
 *   logout() → Promise, close() → Promise, pids() → [pid] (helper processes, e.g. a browser) }.
 * send throws ProtocolError(code, message, true) only when the message was certainly not handed to
 * WhatsApp; anything else it throws leaves the outcome unknown.
 */
export class Session {
  /**
   * @param engine the adapter above
   * @param journal a SendJournal
   * @param emit (event object) → void, each docs/wa-web.md event
   * @param options maxLogouts, paceMs [min, max] or null, backoffMs [first, max], random, log,
   *   sendTimeoutMs
   */
  constructor(engine, journal, emit, options = {}) {
    this.engine = engine;
    this.journal = journal;
    this.emit = emit;
    this.maxLogouts = options.maxLogouts ?? 3;
    this.paceMs = options.paceMs ?? null;
    this.backoffMs = options.backoffMs ?? [1000, 60000];
    this.random = options.random ?? Math.random;
    this.sendTimeoutMs = options.sendTimeoutMs ?? kSendTimeoutMs;
    this.log = options.log ?? (() => {});
    this.state = 'connecting';
    this.phone = null;
    this.detail = '';
    this.qr = null;
    this.conn = null;
    this.generation = 0;
    this.logouts = 0;
    this.failures = 0;
    this.lastError = '';
    this.timer = null;
    this.stopped = false;
    this.sendChain = Promise.resolve();
    this.nextSendAt = 0;
  }

  /** Starts the first connection attempt. */
  start() {
    this.#attempt();
  }

  /** The fields of a `state` event and of hello's `state`. */
  stateEvent() {
    const ev = { event: 'state', state: this.state, detail: this.detail };
    if (this.phone && this.state === 'connected') ev.phone = this.phone;
    return ev;
  }

  /** Events that bring a newly attached client up to date: the state and the QR on show. */
  catchUpEvents() {
    const events = [this.stateEvent()];
    if (this.state === 'qr' && this.qr) events.push({ event: 'qr', ...this.qr });
    return events;
  }

  /** Helper processes of the connection (a browser), for rss_bytes. */
  helperPids() {
    try {
      return this.conn?.pids?.() ?? [];
    } catch {
      return [];
    }
  }

  /** Answers `send`: the message id, from the journal when `clientId` was sent before. */
  async send(clientId, to, text) {
    if (typeof clientId !== 'string' || clientId === '') {
      throw new ProtocolError('bad_request', 'client_id: expected a non-empty string', false);
    }
    if (!isE164(to)) throw new ProtocolError('invalid_number', `to: not an E.164 number: ${JSON.stringify(to)}`, false);
    if (typeof text !== 'string' || text === '') {
      throw new ProtocolError('bad_request', 'text: expected a non-empty string', false);
    }
    if (text.length > kMaxTextChars) {
      throw new ProtocolError('too_long', `text: ${text.length} characters, at most ${kMaxTextChars}`, false);
    }
    // Sends go one at a time: the journal's lines stay in order and pacing spaces them out.
    const run = this.sendChain.then(() => this.#sendNow(clientId, to, text));
    this.sendChain = run.catch(() => {});
    return run;
  }

  /** Answers `pair_code`: an 8-character code to type on the phone instead of scanning the QR. */
  async pairCode(phone) {
    if (!isE164(phone)) throw new ProtocolError('invalid_number', `phone: not an E.164 number: ${JSON.stringify(phone)}`, false);
    if (this.state !== 'qr' || !this.conn) {
      throw new ProtocolError('not_pairing', `no pairing in progress (state ${this.state})`, this.state === 'connecting');
    }
    return this.conn.pairCode(phone);
  }

  /**
   * Answers `logout`: unlinks the device when connected, forgets the auth state, and starts a new
   * pairing (a new QR); the logout count starts again.
   */
  async logout() {
    const conn = this.conn;
    this.#retire();
    if (conn && this.state === 'connected') {
      try {
        await conn.logout();
      } catch (err) {
        this.log(`logout: ${err?.message ?? err}`);
      }
    }
    await closeQuietly(conn);
    await this.engine.clearAuth();
    this.logouts = 0;
    this.failures = 0;
    this.lastError = '';
    this.#setState('logged_out', 'logged out by request');
    if (!this.stopped) this.#attempt();
  }

  /** Ends the session for shutdown; the auth state stays for the next start. */
  async stop() {
    this.stopped = true;
    const conn = this.conn;
    this.#retire();
    await closeQuietly(conn);
  }

  async #sendNow(clientId, to, text) {
    const known = this.journal.lookup(clientId);
    if (known) return known;
    if (known === null) {
      throw new ProtocolError('internal', 'an earlier send of this client_id may have reached WhatsApp', false);
    }
    if (this.paceMs) {
      const wait = this.nextSendAt - Date.now();
      if (wait > 0) await delay(wait);
    }
    const conn = this.conn;
    if (this.state !== 'connected' || !conn) {
      throw new ProtocolError('not_connected', `not connected (state ${this.state})`, true);
    }
    this.journal.sending(clientId);
    let messageId;
    try {
      messageId = String(await withTimeout(conn.send(to, text), this.sendTimeoutMs));
    } catch (err) {
      if (err instanceof ProtocolError && err.retry) {
        this.journal.failed(clientId);
        throw err;
      }
      throw new ProtocolError('internal', `send: ${err?.message ?? err} (may have reached WhatsApp)`, false);
    } finally {
      if (this.paceMs) {
        const [min, max] = this.paceMs;
        this.nextSendAt = Date.now() + min + Math.floor(this.random() * (max - min + 1));
      }
    }
    this.journal.sent(clientId, messageId);
    return messageId;
  }

  async #attempt() {
    if (this.stopped) return;
    const gen = ++this.generation;
    this.qr = null;
    this.#setState('connecting', this.lastError ? `retrying after: ${this.lastError}` : 'connecting to WhatsApp');
    const hooks = this.#hooks(gen);
    try {
      const conn = await this.engine.connect(hooks);
      if (gen !== this.generation) {
        await closeQuietly(conn);
        return;
      }
      this.conn = conn;
    } catch (err) {
      hooks.closed({ reason: 'error', detail: `${err?.message ?? err}` });
    }
  }

  #hooks(gen) {
    const live = () => gen === this.generation && !this.stopped;
    return {
      state: (state, { phone, detail } = {}) => {
        if (!live()) return;
        // The attempt already said `connecting` (with the last error, which stays more useful).
        if (state === 'connecting' && this.state === 'connecting') return;
        if (state === 'connected') {
          this.logouts = 0;
          this.failures = 0;
          this.lastError = '';
          this.phone = phone ?? this.phone;
          this.qr = null;
        }
        this.#setState(state, detail ?? '');
      },
      qr: (qr, expiresInMs) => {
        if (!live()) return;
        this.qr = { qr, expires_in_ms: expiresInMs };
        if (this.state !== 'qr') this.#setState('qr', 'scan the QR code with the phone');
        this.emit({ event: 'qr', ...this.qr });
      },
      closed: (ev) => {
        if (!live()) return;
        this.#closed(ev);
      },
      ack: (ack) => live() && this.emit({ event: 'ack', ...ack }),
      message: (msg) => live() && this.emit({ event: 'message', ...msg }),
      contact: (c) => live() && this.emit({ event: 'contact', ...c }),
    };
  }

  async #closed({ reason, detail }) {
    const conn = this.conn;
    this.#retire();
    await closeQuietly(conn);
    detail = detail ?? '';
    if (reason === 'restart') {
      // The library asks for a fresh socket (e.g. right after pairing): not a failure.
      this.#attempt();
      return;
    }
    if (reason === 'banned') {
      this.#setState('banned', detail || 'the number is banned');
      return;
    }
    if (reason === 'logged_out' || reason === 'replaced') {
      await this.engine.clearAuth();
      this.logouts += 1;
      this.#setState(reason, detail);
      if (this.logouts >= this.maxLogouts) {
        this.#setState('failed', `${this.logouts} ${reason === 'replaced' ? 'replacements' : 'logouts'} in a row ` +
          `without a connected session (--max-logouts ${this.maxLogouts}); not reconnecting`);
        return;
      }
    }
    const wait = this.#backoff();
    const why = detail || reason;
    this.lastError = why;
    this.#setState('connecting', `${why}; reconnecting in ${(wait / 1000).toFixed(1)} s`);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.#attempt();
    }, wait);
  }

  // 1 s, 2 s, 4 s … 60 s, each ±20 % so that slices restarted together do not reconnect together.
  #backoff() {
    const [first, max] = this.backoffMs;
    const base = Math.min(max, first * 2 ** Math.min(this.failures, 30));
    this.failures += 1;
    return Math.round(Math.min(max, base * (0.8 + 0.4 * this.random())));
  }

  // Forgets the current connection: its late events are ignored from now on.
  #retire() {
    this.generation += 1;
    this.conn = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  #setState(state, detail) {
    if (state !== 'qr') this.qr = null;
    this.state = state;
    this.detail = detail;
    this.log(`state ${state}${detail ? `: ${detail}` : ''}`);
    this.emit(this.stateEvent());
  }
}

async function closeQuietly(conn) {
  if (!conn) return;
  try {
    await conn.close();
  } catch {
    // Closing a connection that already failed may fail again; nothing is left to release.
  }
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the library in ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
