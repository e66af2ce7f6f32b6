// The send journal (docs/wa-web.md, "Requests" and "The journal's size"): one fsync'd JSON line
// per phase of a send, so a send that may have reached WhatsApp is never repeated after a crash.
// Settled sends are compacted away once the file grows; a send only journaled `sending` never is.
import fs from 'node:fs';
import path from 'node:path';

/** Defaults for when settled entries are dropped (docs/wa-web.md, "The journal's size"). */
export const kJournalDefaults = Object.freeze({
  /** The file is compacted when it grows past this many bytes (and past twice what the last
   *  compaction left, so a journal of entries that must all stay is not rewritten every send). */
  maxBytes: 4 * 1024 * 1024,
  /** A `sent` entry the slice asked about (lookup, or the same client_id sent again) is dropped
   *  this long after: the slice has its message id, and a slice that crashed before recording
   *  it asks again well within the hour. */
  ackGraceMs: 60 * 60 * 1000,
  /** Any `sent` entry is dropped this long after this process first knew it: the slice resolves
   *  a send it has no answer for at its next attempt, minutes later, not a week. */
  maxAgeMs: 7 * 24 * 60 * 60 * 1000,
  /** The clock (ms), injectable for tests. */
  now: () => Date.now(),
});

/** Loads `path` (absent = empty) and appends to it; every append is on disk when it returns. */
export class SendJournal {
  constructor(path, options = {}) {
    this.path = path;
    this.options = { ...kJournalDefaults, ...options };
    /** client_id → {phase: 'sending'|'sent', message_id, since, ackedAt}; a `failed` line
     *  (certainly not handed over) undoes its `sending` line. `since` and `ackedAt` are this
     *  process's clock: a restart starts their ages afresh (later compaction, never earlier). */
    this.entries = new Map();
    /** How many times the file was rewritten (for tests and logs). */
    this.compactions = 0;
    const now = this.options.now();
    let text = '';
    try {
      text = fs.readFileSync(path, 'utf8');
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      let rec;
      try {
        rec = JSON.parse(line);
      } catch {
        // A torn last line from a crash mid-write: a torn `sending` line means the library never
        // got the message; a torn `sent` line leaves its `sending` line, so lookup answers null.
        continue;
      }
      if (typeof rec?.client_id !== 'string') continue;
      if (rec.phase === 'sent') {
        this.entries.set(rec.client_id, { phase: 'sent', message_id: String(rec.message_id ?? ''), since: now });
      } else if (rec.phase === 'sending' && !this.entries.has(rec.client_id)) {
        this.entries.set(rec.client_id, { phase: 'sending', since: now });
      } else if (rec.phase === 'failed' && this.entries.get(rec.client_id)?.phase === 'sending') {
        this.entries.delete(rec.client_id);
      }
    }
    this.fd = fs.openSync(path, 'a', 0o600);
    this.bytes = Buffer.byteLength(text);
    this.threshold = this.options.maxBytes;
    // A torn last line must not glue itself to the next record.
    if (text && !text.endsWith('\n')) this.#append('');
  }

  /** The journal's word on `clientId`: its message id (sent), "" (never sent), null (cannot tell).
   *  The slice asking about a sent message counts as its acknowledgement. */
  lookup(clientId) {
    const e = this.entries.get(clientId);
    if (!e) return '';
    if (e.phase !== 'sent') return null;
    e.ackedAt ??= this.options.now();
    return e.message_id;
  }

  /** Records that `clientId` is about to be handed to the library. */
  sending(clientId) {
    this.#append(JSON.stringify({ client_id: clientId, phase: 'sending' }));
    if (!this.entries.has(clientId)) this.entries.set(clientId, { phase: 'sending', since: this.options.now() });
    this.#maybeCompact();
  }

  /** Records that `clientId` was handed over and got `messageId`. */
  sent(clientId, messageId) {
    this.#append(JSON.stringify({ client_id: clientId, message_id: messageId, phase: 'sent' }));
    this.entries.set(clientId, { phase: 'sent', message_id: messageId, since: this.options.now() });
    this.#maybeCompact();
  }

  /** Records that `clientId` was certainly not handed over: a later send may try again. */
  failed(clientId) {
    this.#append(JSON.stringify({ client_id: clientId, phase: 'failed' }));
    if (this.entries.get(clientId)?.phase !== 'sent') this.entries.delete(clientId);
    this.#maybeCompact();
  }

  /** Rewrites the file with what must stay: every `sending` entry, and the `sent` entries not
   *  yet settled (asked about less than ackGraceMs ago, or younger than maxAgeMs). Atomic: a
   *  temporary file, fsync'd, renamed over the journal, the directory fsync'd; a crash leaves
   *  the old journal or the new one. Throws when the rewrite fails (the old file is kept). */
  compact() {
    const { ackGraceMs, maxAgeMs, now } = this.options;
    const t = now();
    const kept = new Map();
    let text = '';
    for (const [clientId, e] of this.entries) {
      if (e.phase === 'sent') {
        const acknowledged = e.ackedAt !== undefined && t - e.ackedAt >= ackGraceMs;
        if (acknowledged || t - e.since >= maxAgeMs) continue;
        text += `${JSON.stringify({ client_id: clientId, message_id: e.message_id, phase: 'sent' })}\n`;
      } else {
        text += `${JSON.stringify({ client_id: clientId, phase: 'sending' })}\n`;
      }
      kept.set(clientId, e);
    }
    const tmp = `${this.path}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.path);
    try {
      const dir = fs.openSync(path.dirname(this.path), 'r');
      try {
        fs.fsyncSync(dir);
      } finally {
        fs.closeSync(dir);
      }
    } finally {
      // Appends go to the new file from here (the old descriptor names the replaced one), even
      // when the directory's fsync failed: the rename has happened.
      const old = this.fd;
      this.fd = fs.openSync(this.path, 'a', 0o600);
      fs.closeSync(old);
      this.entries = kept;
      this.bytes = Buffer.byteLength(text);
      this.threshold = Math.max(this.options.maxBytes, 2 * this.bytes);
      this.compactions += 1;
    }
  }

  close() {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  #append(line) {
    fs.writeSync(this.fd, `${line}\n`);
    fs.fsyncSync(this.fd);
    this.bytes += Buffer.byteLength(line) + 1;
  }

  // After the record is on disk and in `entries`: a compaction then keeps it.
  #maybeCompact() {
    if (this.bytes <= this.threshold) return;
    try {
      this.compact();
    } catch (err) {
      // The journal as it was is still whole and correct, only longer: try again once it has
      // grown by as much again, rather than at every send.
      this.threshold = 2 * this.bytes;
      this.lastCompactionError = err;
    }
  }
}
