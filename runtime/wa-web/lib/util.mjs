// Small pieces both engines and the sidecar share: phone numbers ↔ WhatsApp ids, memory of a
// process tree, errors with a protocol code.
import fs from 'node:fs';

const kE164 = /^\+[1-9][0-9]{6,14}$/;

/** True when `phone` is an E.164 number as docs/wa-web.md requires (`+4915112345678`). */
export function isE164(phone) {
  return typeof phone === 'string' && kE164.test(phone);
}

/**
 * The E.164 number of a user id such as `4915112345678@s.whatsapp.net`, `4915112345678:12@s.whatsapp.net`
 * (a device of it) or `4915112345678@c.us`; null for groups, broadcasts and LIDs, which carry no number.
 */
export function phoneOfJid(jid) {
  if (typeof jid !== 'string') return null;
  const m = /^([0-9]{7,15})(?::[0-9]+)?@(s\.whatsapp\.net|c\.us)$/.exec(jid);
  return m ? `+${m[1]}` : null;
}

/** `ABCDEFGH` → `ABCD-EFGH`, the way WhatsApp shows a pairing code on the phone. */
export function formatPairCode(code) {
  const c = String(code).replace(/-/g, '');
  return c.length === 8 ? `${c.slice(0, 4)}-${c.slice(4)}` : c;
}

/** An error that the protocol answers with `code` and `retry` (docs/wa-web.md, "Requests"). */
export class ProtocolError extends Error {
  constructor(code, message, retry) {
    super(message);
    this.code = code;
    this.retry = retry;
  }
}

/**
 * Proportional set size of `pid` and its descendants (Linux smaps_rollup): a browser's processes
 * share most of their pages, so the sum of their RSS counts the same memory several times over.
 */
export function treePssBytes(pid) {
  if (!pid) return 0;
  return [pid, ...descendants(pid)].reduce((sum, p) => sum + pssOf(p), 0);
}

function pssOf(pid) {
  try {
    const m = /^Pss:\s+([0-9]+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The pids of every descendant of `pid` (Linux /proc), children before grandchildren. */
export function descendants(pid) {
  const children = new Map();
  let entries = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  for (const name of entries) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name may contain spaces and parentheses: the fields follow the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
    } catch {
      // The process exited while we looked.
    }
  }
  const out = [];
  const todo = [...(children.get(pid) ?? [])];
  while (todo.length) {
    const p = todo.shift();
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** The command line of `pid` as one string (arguments joined by spaces); '' when gone. */
export function commandLine(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}
