// A scripted stand-in for the wa-web sidecar (docs/wa-web.md) for tests: no WhatsApp, the same
// socket protocol, the same send journal. The test drives it by dropping command files into
// <auth>/control/ (NAME.json, one JSON object each, taken in name order):
//   {"cmd":"scan","phone":"+49…"}      the phone scans the QR: connected
//   {"cmd":"logged_out"} / {"cmd":"replaced"}   the session ends (counts toward --max-logouts)
//   {"cmd":"banned"}                   the number is banned
//   {"cmd":"inbound","from","name","text"}   a contact writes (a contact event, then a message)
//   {"cmd":"send_delay_ms","ms":N}     each send answers N ms after it was handed over
//   {"cmd":"reads","on":false}         acks stop at delivered
//   {"cmd":"garbage"} / {"cmd":"oversized"} / {"cmd":"bad_event"}  protocol faults
//   {"cmd":"exit","code":N}            the process exits
// What it did, for the test to check: <auth>/deliveries.jsonl (one line per message handed to
// "WhatsApp": a client_id twice there is a duplicate), <auth>/starts.jsonl (one line per start).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const args = {maxLogouts: 3};
for (let i = 2; i < process.argv.length; i += 2) {
  const [k, v] = [process.argv[i], process.argv[i + 1]];
  if (k === '--socket') args.socket = v;
  else if (k === '--auth') args.auth = v;
  else if (k === '--engine') args.engine = v;
  else if (k === '--max-logouts') args.maxLogouts = Number(v);
}
if (!args.socket || !args.auth || !['noweb', 'webjs'].includes(args.engine)) {
  console.error('usage: fake_wa_sidecar.mjs --socket PATH --auth DIR --engine noweb|webjs');
  process.exit(2);
}

fs.mkdirSync(args.auth, {recursive: true, mode: 0o700});
const file = (name) => path.join(args.auth, name);
const controlDir = file('control');
fs.mkdirSync(controlDir, {recursive: true, mode: 0o700});

function appendSync(name, object) {
  const fd = fs.openSync(file(name), 'a', 0o600);
  fs.writeSync(fd, JSON.stringify(object) + '\n');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}
function readJsonLines(name) {
  try {
    return fs.readFileSync(file(name), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

let creds = {paired: false, phone: null, logouts: 0};
try {
  creds = {...creds, ...JSON.parse(fs.readFileSync(file('creds.json'), 'utf8'))};
} catch {}
const saveCreds = () => fs.writeFileSync(file('creds.json'), JSON.stringify(creds), {mode: 0o600});

// The journal: client_id → {phase, message_id}.
const journal = new Map();
for (const e of readJsonLines('sent.jsonl')) {
  journal.set(e.client_id, {phase: e.phase, message_id: e.message_id ?? null});
}

// What WhatsApp still owes a restarted client: the receipts of what it sent before.
const recipients = new Map(readJsonLines('deliveries.jsonl').map((d) => [d.message_id, d.to]));
let receiptsOwed = [...journal.values()].filter((j) => j.phase === 'sent').map((j) => j.message_id);

appendSync('starts.jsonl', {pid: process.pid, at: Date.now(), engine: args.engine});

let state = 'connecting';
let detail = '';
let qr = null;
let qrCount = 0;
let sendDelayMs = 0;
let reads = true;
let conn = null;
const outbox = [];  // events while no slice is connected

function write(object) {
  const line = JSON.stringify(object) + '\n';
  if (conn && !conn.destroyed) conn.write(line);
  else if (!('id' in object)) outbox.push(line);
}
function setState(s, d = '') {
  state = s;
  detail = d;
  const e = {event: 'state', state, detail};
  if (s === 'connected') e.phone = creds.phone;
  write(e);
  if (s === 'connected' && receiptsOwed.length) {
    const owed = receiptsOwed;
    receiptsOwed = [];
    setTimeout(() => {
      for (const id of owed) {
        write({event: 'ack', message_id: id, status: reads ? 'read' : 'delivered',
               recipient: recipients.get(id), timestamp: Math.floor(Date.now() / 1000)});
      }
    }, 100);
  }
}
function showQr() {
  qr = `2@fake-qr-${process.pid}-${++qrCount},key,${Date.now()}`;
  setState('qr', 'scan the QR code');
  write({event: 'qr', qr, expires_in_ms: 20000});
}
function sessionEnded(kind) {
  creds.paired = false;
  creds.phone = null;
  creds.logouts += 1;
  saveCreds();
  setState(kind, kind === 'logged_out' ? 'the phone removed this device' : 'another client took over the session');
  if (creds.logouts >= args.maxLogouts) {
    setState('failed', `the session ended ${creds.logouts} times in a row without connecting`);
    return;
  }
  showQr();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let sendChain = Promise.resolve();
let nextMessage = 0;

async function handle(req) {
  const reply = (fields) => write({id: req.id, ok: true, ...fields});
  const fail = (code, message, retry) => write({id: req.id, ok: false, error: {code, message, retry}});
  switch (req.op) {
    case 'hello':
      return reply({version: 1, engine: args.engine, state});
    case 'status':
      return reply({state, phone: creds.phone, rss_bytes: process.memoryUsage().rss});
    case 'pair_code':
      if (state === 'connected') return fail('already_paired', 'already connected', false);
      if (typeof req.phone !== 'string' || !/^\+[1-9][0-9]{6,14}$/.test(req.phone)) {
        return fail('invalid_number', 'expected E.164', false);
      }
      return reply({code: 'FAKE-' + req.phone.slice(-4)});
    case 'logout':
      creds = {paired: false, phone: null, logouts: 0};
      saveCreds();
      reply({});
      return showQr();
    case 'lookup': {
      const j = journal.get(req.client_id);
      return reply({message_id: !j ? '' : j.phase === 'sent' ? j.message_id : null});
    }
    case 'send':
      sendChain = sendChain.then(() => send(req));
      return sendChain;
    default:
      return fail('unknown_op', `unknown op ${req.op}`, false);
  }
}

async function send(req) {
  const fail = (code, message, retry) => write({id: req.id, ok: false, error: {code, message, retry}});
  const j = journal.get(req.client_id);
  if (j && j.phase === 'sent') return write({id: req.id, ok: true, message_id: j.message_id});
  if (j) return fail('internal', 'an earlier send of this client_id was interrupted', false);
  if (state !== 'connected') return fail('not_connected', `state is ${state}`, true);
  if (!/^\+[1-9][0-9]{6,14}$/.test(req.to ?? '')) return fail('invalid_number', 'bad number', false);
  const messageId = `3EB0FAKE${process.pid}x${++nextMessage}`;
  journal.set(req.client_id, {phase: 'sending'});
  appendSync('sent.jsonl', {client_id: req.client_id, phase: 'sending'});
  appendSync('deliveries.jsonl', {client_id: req.client_id, to: req.to, text: req.text, message_id: messageId});
  journal.set(req.client_id, {phase: 'sent', message_id: messageId});
  appendSync('sent.jsonl', {client_id: req.client_id, message_id: messageId, phase: 'sent'});
  if (sendDelayMs > 0) await sleep(sendDelayMs);
  write({id: req.id, ok: true, message_id: messageId});
  const ack = (status, ms) => setTimeout(() => write({event: 'ack', message_id: messageId, status, recipient: req.to, timestamp: Math.floor(Date.now() / 1000)}), ms);
  ack('sent', 10);
  ack('delivered', 60);
  if (reads) ack('read', 120);
}

function control(c) {
  switch (c.cmd) {
    case 'scan':
      creds = {paired: true, phone: c.phone ?? '+4915100000001', logouts: 0};
      saveCreds();
      return setState('connected');
    case 'logged_out':
    case 'replaced':
      return sessionEnded(c.cmd);
    case 'banned':
      return setState('banned', 'this number is banned from WhatsApp');
    case 'inbound':
      write({event: 'contact', phone: c.from, name: c.name});
      return write({event: 'message', message_id: `FAKEIN${Date.now()}${Math.random().toString(16).slice(2, 8)}`,
                    from: c.from, name: c.name, text: c.text, timestamp: Math.floor(Date.now() / 1000)});
    case 'send_delay_ms':
      sendDelayMs = c.ms;
      return;
    case 'reads':
      reads = c.on;
      return;
    case 'garbage':
      return conn && conn.write('this is not json\n');
    case 'oversized':
      return conn && conn.write('{"event":"qr","qr":"' + 'x'.repeat(1024 * 1024 + 10));
    case 'bad_event':
      return write({event: 'ack', message_id: 42, status: 'eaten'});
    case 'exit':
      process.exit(c.code ?? 0);
  }
}

setInterval(() => {
  let names;
  try {
    names = fs.readdirSync(controlDir).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return;
  }
  for (const n of names) {
    const p = path.join(controlDir, n);
    let c;
    try {
      c = JSON.parse(fs.readFileSync(p, 'utf8'));
    } catch {
      continue;
    }
    fs.unlinkSync(p);
    control(c);
  }
}, 50);

try { fs.unlinkSync(args.socket); } catch {}
const server = net.createServer((socket) => {
  if (conn) conn.destroy();  // one connection at a time: the newest wins
  conn = socket;
  while (outbox.length) socket.write(outbox.shift());
  let buffer = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let req;
      try {
        req = JSON.parse(line);
      } catch {
        socket.destroy();
        return;
      }
      handle(req);
    }
  });
  socket.on('close', () => { if (conn === socket) conn = null; });
  socket.on('error', () => {});
});
server.listen(args.socket, () => {
  fs.chmodSync(args.socket, 0o600);
  if (creds.logouts >= args.maxLogouts) setState('failed', `the session ended ${creds.logouts} times in a row without connecting`);
  else if (creds.paired) setTimeout(() => setState('connected'), 50);
  else showQr();
});
process.on('SIGTERM', () => process.exit(0));
