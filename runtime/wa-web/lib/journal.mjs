// The send journal (docs/wa-web.md, "Requests"): one fsync'd JSON line per phase of a send, so a
// send that may have reached WhatsApp is never repeated after a crash.
import fs from 'node:fs';

/** Loads `path` (absent = empty) and appends to it; every append is on disk when it returns. */
export class SendJournal {
  constructor(path) {
    this.path = path;
    /** client_id → {phase: 'sending'|'sent', message_id}; a `failed` line (certainly not handed
     *  over) undoes its `sending` line. */
    this.entries = new Map();
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
        this.entries.set(rec.client_id, { phase: 'sent', message_id: String(rec.message_id ?? '') });
      } else if (rec.phase === 'sending' && !this.entries.has(rec.client_id)) {
        this.entries.set(rec.client_id, { phase: 'sending' });
      } else if (rec.phase === 'failed' && this.entries.get(rec.client_id)?.phase === 'sending') {
        this.entries.delete(rec.client_id);
      }
    }
    this.fd = fs.openSync(path, 'a', 0o600);
    // A torn last line must not glue itself to the next record.
    if (text && !text.endsWith('\n')) this.#append('');
  }

  /** The journal's word on `clientId`: its message id (sent), "" (never sent), null (cannot tell). */
  lookup(clientId) {
    const e = this.entries.get(clientId);
    if (!e) return '';
    return e.phase === 'sent' ? e.message_id : null;
  }

  /** Records that `clientId` is about to be handed to the library. */
  sending(clientId) {
    this.#append(JSON.stringify({ client_id: clientId, phase: 'sending' }));
    if (!this.entries.has(clientId)) this.entries.set(clientId, { phase: 'sending' });
  }

  /** Records that `clientId` was handed over and got `messageId`. */
  sent(clientId, messageId) {
    this.#append(JSON.stringify({ client_id: clientId, message_id: messageId, phase: 'sent' }));
    this.entries.set(clientId, { phase: 'sent', message_id: messageId });
  }

  /** Records that `clientId` was certainly not handed over: a later send may try again. */
  failed(clientId) {
    this.#append(JSON.stringify({ client_id: clientId, phase: 'failed' }));
    if (this.entries.get(clientId)?.phase !== 'sent') this.entries.delete(clientId);
  }

  close() {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  #append(line) {
    fs.writeSync(this.fd, `${line}\n`);
    fs.fsyncSync(this.fd);
  }
}
