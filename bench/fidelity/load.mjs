// The load and the measurements of bench/fidelity/run (docs/benchmarks.md, "Planner fidelity"):
// tenants signed up through the gateway, messages sent, event streams held open, broadcasts left
// pending, while the monitor records telemetry; then PSS of crmd's and PostgreSQL's processes,
// disk per stored message, and what `crmctl plan --engine crmd` predicts for the same workload,
// before and after `crmctl calibrate --from-db`.
//
// Started by bench/fidelity/run, which owns PostgreSQL and crmd (and stops them); arguments are
// passed as JSON in argv[2]. Prints progress on stderr and the report (Markdown) on stdout.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';

const cfg = JSON.parse(process.argv[2]);
const gw = new URL(cfg.gateway);
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const say = (msg) => process.stderr.write(`fidelity bench: ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;

// --- HTTP -------------------------------------------------------------------------------------
function request(method, path, { cookie, body, headers = {}, timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const h = { ...headers };
    if (cookie) h.Cookie = `crm_session=${cookie}`;
    if (data) {
      h['Content-Type'] = 'application/json';
      h['Content-Length'] = data.length;
    }
    const req = http.request(
      { host: gw.hostname, port: gw.port, method, path, headers: h, agent, timeout: timeoutMs },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json = null;
          try {
            json = text ? JSON.parse(text) : null;
          } catch {
            json = null;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function expect(status, method, path, opts) {
  const res = await request(method, path, opts);
  if (res.status !== status) {
    throw new Error(`${method} ${path}: HTTP ${res.status} (expected ${status}): ${res.text.slice(0, 300)}`);
  }
  return res;
}

// Runs fn over items with at most `width` at once.
async function pool(items, width, fn) {
  let next = 0;
  const workers = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(workers);
}

async function until(what, seconds, fn) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${seconds} s`);
    await sleep(250);
  }
}

// --- measurements -----------------------------------------------------------------------------
// Every process in the tree under `root` (itself included), from /proc/*/stat's parent ids.
function processTree(root) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;  // exited meanwhile
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(name));
  }
  const out = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop();
    out.push(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return out;
}

// PSS in bytes of every process under `root` (smaps_rollup, kB), and how many there were.
function pssOfTree(root) {
  let bytes = 0;
  let count = 0;
  for (const pid of processTree(root)) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (m) {
        bytes += Number(m[1]) * 1024;
        count += 1;
      }
    } catch {
      // exited meanwhile
    }
  }
  return { bytes, count };
}

function psql(sql) {
  return execFileSync(cfg.psql, [cfg.conninfo, '-XAtqc', sql], { encoding: 'utf8' }).trim();
}

// Stored messages over every slice schema, the database's size, and the simulator's own records
// (simulator_deliveries: a Cloud API slice has none of these, so they are reported apart).
function storage() {
  // Only migrated schemas: the warm slice being provisioned may not have its tables yet.
  const schemas = psql(
    "SELECT string_agg(n.nspname, ' ') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
      "WHERE c.relname = 'messages' AND n.nspname ~ '^slice_[0-9]+$'",
  ).split(' ').filter(Boolean);
  const parts = schemas.map((s) => `(SELECT count(*) FROM ${s}.messages)`);
  const sim = schemas.map((s) => `coalesce(pg_total_relation_size(to_regclass('${s}.simulator_deliveries')), 0)`);
  const messages = parts.length ? Number(psql(`SELECT ${parts.join(' + ')}`)) : 0;
  const simBytes = sim.length ? Number(psql(`SELECT ${sim.join(' + ')}`)) : 0;
  const dbBytes = Number(psql('SELECT pg_database_size(current_database())'));
  return { messages, dbBytes, simBytes };
}

function memory() {
  const crmd = pssOfTree(cfg.crmdPid);
  const pg = pssOfTree(cfg.pgPid);
  const backends = Number(psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"));
  return { crmd, pg, total: crmd.bytes + pg.bytes, backends };
}

// --- tenants ----------------------------------------------------------------------------------
const tenants = [];
let pauseFailures = 0;
let phoneSeq = 0;
const phone = () => `+1555${String(1000000 + phoneSeq++).slice(-7)}`;

async function register(i) {
  // A sign-up limit counts per client address: each tenant comes from its own (the gateway
  // trusts X-Forwarded-For from loopback in this run).
  const res = await expect(201, 'POST', '/auth/register', {
    body: { email: `tenant${i}@bench.example.com`, password: 'correct horse battery staple' },
    headers: { 'X-Forwarded-For': `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
  });
  const cookie = /crm_session=([^;]+)/.exec([].concat(res.headers['set-cookie'] ?? []).join('\n'))?.[1];
  if (!cookie) throw new Error(`tenant ${i}: no session cookie`);
  const t = { i, cookie, slice: res.json.slice?.id, streams: [], broadcast: null, contacts: [] };
  await until(`tenant ${i}'s channel connected`, 60, async () => {
    const s = await request('GET', '/api/status', { cookie });
    return s.status === 200 && s.json?.channel?.state === 'connected';
  });
  for (let c = 0; c < cfg.contacts; ++c) t.contacts.push(phone());
  return t;
}

async function sendMessages(t, count) {
  for (let m = 0; m < count; ++m) {
    // Text of a typical business message (about 120 characters).
    const text = `Hello from tenant ${t.i}: your order #${1000 + m} is ready for pickup at our store. Reply STOP to opt out. Thanks!`;
    await expect(202, 'POST', '/api/messages', {
      cookie: t.cookie,
      body: { phone: t.contacts[m % t.contacts.length], text },
    });
  }
}

async function status(t) {
  const s = await expect(200, 'GET', '/api/status', { cookie: t.cookie });
  return s.json;
}

function openStream(t) {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: gw.hostname, port: gw.port, path: '/api/events', agent: false,
        headers: { Cookie: `crm_session=${t.cookie}`, Accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`GET /api/events for tenant ${t.i}: HTTP ${res.statusCode}`));
          return;
        }
        res.on('data', () => {});
        res.on('error', () => {});
        t.streams.push(req);
        resolve();
      },
    );
    req.on('error', (e) => {
      if (!t.streams.includes(req)) reject(e);
    });
  });
}

function closeStreams(t) {
  for (const req of t.streams) req.destroy();
  t.streams = [];
}

async function pendingBroadcast(t) {
  const recipients = Array.from({ length: cfg.broadcastSize }, phone);
  const b = await expect(202, 'POST', '/api/broadcasts', {
    cookie: t.cookie, body: { name: `bench ${t.i}`, text: 'Our spring sale starts Monday: 20 % off everything in store.', recipients },
  });
  t.broadcast = b.json.id;
  // A pause has been seen to fail with 500 once in a run at 200 tenants (the slice's log is kept
  // in bench/out/fidelity/): retried once, else the broadcast drains and the run goes on.
  for (let attempt = 0; attempt < 2; ++attempt) {
    const r = await request('POST', `/api/broadcasts/${b.json.id}/pause`, { cookie: t.cookie });
    if (r.status === 200) return;
    say(`  tenant ${t.i}: POST /api/broadcasts/${b.json.id}/pause: HTTP ${r.status}: ${r.text.slice(0, 200)}`);
    pauseFailures += 1;
    await sleep(500);
  }
}

async function cancelBroadcast(t) {
  if (t.broadcast === null) return;
  await expect(200, 'POST', `/api/broadcasts/${t.broadcast}/cancel`, { cookie: t.cookie });
  t.broadcast = null;
}

async function logout(t) {
  await expect(200, 'POST', '/api/channel/simulator/logout', { cookie: t.cookie });
}

async function repair(t) {
  const ch = await expect(200, 'GET', '/api/channel', { cookie: t.cookie });
  if (ch.json.state === 'connected') return;
  await expect(200, 'POST', '/api/channel/simulator/pair', { cookie: t.cookie, body: { qr: ch.json.qr } });
}

// The day's traffic scaled into the run: while `pulse.on`, every tenant sends a message every
// `pulseSeconds` and reads its inbox in between, so each slice stays active (a slice closes its
// database connections after a minute without use: an idle tenant costs less, measured apart).
const pulse = { on: false, sent: 0, loop: null };
function startPulse() {
  pulse.on = true;
  pulse.loop = (async () => {
    let k = 0;
    while (pulse.on) {
      const round = Date.now();
      await pool(tenants, 4, async (t) => {
        if (!pulse.on) return;
        if (k % 3 === 0) {
          await expect(202, 'POST', '/api/messages', {
            cookie: t.cookie, body: { phone: t.contacts[k % t.contacts.length], text: `Pulse ${k}: see you tomorrow at 10.` },
          });
          pulse.sent += 1;
        } else {
          await expect(200, 'GET', '/api/conversations?limit=5', { cookie: t.cookie });
        }
      });
      k += 1;
      const wait = (cfg.pulseSeconds * 1000) / 3 - (Date.now() - round);
      if (wait > 0) await sleep(wait);
    }
  })();
}
async function stopPulse() {
  pulse.on = false;
  await pulse.loop;
}

// Holds the current state for `samples` telemetry samples, so every phase is on record.
async function hold(what, samples = 3) {
  say(`  ${what}: holding ${samples} telemetry intervals`);
  await sleep(samples * cfg.telemetryInterval * 1000 + 500);
}

function crmctl(args) {
  return execFileSync(cfg.crmctl, args, { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
}

// What `crmctl plan --engine crmd` predicts for the workload (bytes): the per-tenant demand
// (sessions, websockets, queue, buffers) plus the engine's runtime base, i.e. the plan's RAM
// without the host's OS and shared services reservation.
function predict(n, pending, rules) {
  const args = [
    ...(rules ? ['--rules', rules] : []), '-o', 'json', 'plan', '--engine', 'crmd',
    '--customers', String(n), '--devices-per-customer', '1',
    '--dashboard-tabs-per-customer', String(cfg.streams),
    '--peak-pending-tasks', String(pending),
    '--messages-per-customer-day', String(cfg.messagesPerDay),
  ];
  let plan;
  try {
    plan = JSON.parse(crmctl(args));
  } catch (e) {
    say(`crmctl plan ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
    return { ram: NaN, diskPerMessage: NaN };
  }
  const r = plan.demand.ram_bytes;
  return {
    ram: r.sessions + r.websockets + r.queue + r.buffers + (r.engine_base ?? 0),
    diskPerMessage:
      plan.demand.disk_bytes.messages / (plan.demand.messages_per_day * plan.workload.retention_days),
  };
}

// --- the run ----------------------------------------------------------------------------------
const started = Date.now();
const rows = [];
// The runtime with no tenant: gateway, PostgreSQL, the warm slice (the engine's base_ram); held
// for a few samples so the calibration sees the fixed part on its own.
await hold('no tenant', 5);
const base = memory();
say(`no tenant: crmd ${(base.crmd.bytes / MiB).toFixed(1)} MiB, PostgreSQL ${(base.pg.bytes / MiB).toFixed(1)} MiB, ${base.backends} client backends`);
for (const n of cfg.tenants) {
  say(`${n} tenants: signing up ${n - tenants.length} more`);
  const fresh = [];
  // One at a time: concurrent sign-ups race for the one warm slice (CRM_WARM_SLICES=1).
  await pool(Array.from({ length: n - tenants.length }, (_, k) => tenants.length + k), 1, async (i) => {
    fresh.push(await register(i));
  });
  tenants.push(...fresh);
  tenants.sort((a, b) => a.i - b.i);
  if (!pulse.on) startPulse();

  // Disk: the messages of this step alone (schemas and empty tables came with the sign-ups),
  // first a new tenant's first messages (their first pages of every table and index), then as
  // many again for every tenant (what one more message costs a tenant that has some).
  const disk = [];
  for (const [what, who, count] of [['new tenants', fresh, cfg.firstMessages], ['every tenant', tenants, cfg.messages]]) {
    const before = storage();
    const sentBefore = pulse.sent;
    const t0 = Date.now();
    say(`  sending ${count} messages for each of ${who.length} ${what}`);
    await pool(who, 8, (t) => sendMessages(t, count));
    await until('every queued message sent', 300, async () => {
      let pending = 0;
      await pool(tenants, 8, async (t) => { const v = (await status(t)).pending_tasks; pending += v; });
      return pending === 0;
    });
    await sleep(2 * cfg.simulatorLatencyMs + 500);  // deliveries, reads and replies land
    const after = storage();
    disk.push({
      what, seconds: (Date.now() - t0) / 1000, messages: after.messages - before.messages,
      pulse: pulse.sent - sentBefore,
      bytes: after.dbBytes - before.dbBytes, simBytes: after.simBytes - before.simBytes,
    });
  }

  // Telemetry phases: what the fit needs is load that varies independently.
  await hold('quiet (no streams, no backlog)');
  const quiet = memory();
  await pool(tenants, 16, async (t) => {
    for (let k = 0; k < cfg.streams; ++k) await openStream(t);
  });
  await hold(`${cfg.streams} event streams per tenant`);
  const withBroadcast = tenants.filter((t) => t.i % cfg.broadcastEvery === 0);
  await pool(withBroadcast, 4, pendingBroadcast);
  let pending = 0;
  await pool(tenants, 8, async (t) => { const v = (await status(t)).pending_tasks; pending += v; });
  await sleep(1000);
  // The measured state: every tenant connected, its streams open, the backlog queued.
  const mem = memory();
  say(`  measured: crmd ${(mem.crmd.bytes / MiB).toFixed(1)} MiB (${mem.crmd.count} processes), PostgreSQL ${(mem.pg.bytes / MiB).toFixed(1)} MiB (${mem.pg.count} processes, ${mem.backends} client backends), ${pending} tasks pending`);
  await hold(`a paused broadcast on every ${cfg.broadcastEvery}th tenant`);
  const offline = tenants.filter((t) => t.i % 3 === 1);
  await pool(offline, 8, logout);
  await hold(`simulator logged out on ${offline.length} tenants`);
  await pool(tenants, 16, async (t) => closeStreams(t));
  await hold('streams closed');
  await pool(withBroadcast, 4, cancelBroadcast);
  await pool(offline, 8, repair);
  await hold('backlog cancelled, everyone connected', 2);
  rows.push({ n, mem, quiet, pending, disk });
}

// Idle: no traffic, no streams, for longer than a slice keeps an unused database connection
// (60 s, checked every 30 s).
await stopPulse();
say(`idle: no traffic for ${cfg.idleSeconds} s`);
await sleep(cfg.idleSeconds * 1000);
const idle = memory();
say(`  idle: crmd ${(idle.crmd.bytes / MiB).toFixed(1)} MiB, PostgreSQL ${(idle.pg.bytes / MiB).toFixed(1)} MiB, ${idle.backends} client backends`);

say('calibrating from the deployment\'s telemetry (crmctl calibrate --from-db)');
let calibration = '';
let calibrated = false;
try {
  calibration = execFileSync(
    cfg.crmctl,
    // A connected simulator costs nothing measurable, and an event stream's tens of KB are within
    // the noise of summed PSS over hundreds of processes (±100 KB a stream): both are held at the
    // catalog's values (docs/capacity-model.md, "Held rules").
    ['calibrate', '--from-db', '--engine', 'crmd', '--hold', 'ram_per_device', '--hold', 'ram_per_websocket', '--hours', '1', '--write', cfg.override],
    { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', CRM_DATABASE_URL: cfg.conninfo }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  calibrated = true;
} catch (e) {
  calibration = `${e.stdout ?? ''}${e.stderr ?? ''}`;
}

// What one more open event stream costs crmd (STREAM_COST streams spread over the tenants; the
// browser's GET /api/events is relayed by the gateway to the tenant's slice): PSS of the gateway
// process and of the slices before and after, and the streams' count from the slices' status.
let streamCost = null;
if (cfg.streamCost > 0) {
  const pssOf = (pid) => {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  };
  const split = () => {
    const gateway = pssOf(cfg.crmdPid);
    return { gateway, slices: pssOfTree(cfg.crmdPid).bytes - gateway };
  };
  say(`stream cost: ${cfg.streamCost} event streams over ${tenants.length} tenants`);
  await sleep(3000);
  const before = split();
  const targets = Array.from({ length: cfg.streamCost }, (_, k) => tenants[k % tenants.length]);
  await pool(targets, 32, openStream);
  await sleep(5000);  // every relay set up, first events through
  const after = split();
  let open = 0;
  // Not `open += (await …)`: that reads `open` before the await, and concurrent workers overwrite
  // each other's sums.
  await pool(tenants, 8, async (t) => {
    const { streams } = await status(t);
    open += streams;
  });
  await pool(tenants, 16, async (t) => closeStreams(t));
  streamCost = {
    n: cfg.streamCost, open,
    gateway: (after.gateway - before.gateway) / cfg.streamCost,
    slices: (after.slices - before.slices) / cfg.streamCost,
  };
  say(`  ${open} streams open at the slices: gateway ${(streamCost.gateway / 1024).toFixed(1)} KB, slices ${(streamCost.slices / 1024).toFixed(1)} KB per stream`);
}

const pct = (measured, predicted) => ((predicted - measured) / measured) * 100;
const fmtPct = (p) => `${p >= 0 ? '+' : ''}${p.toFixed(1)} %`;
const lines = [];
lines.push(`Workload per tenant: 1 simulator channel; ${cfg.firstMessages} messages to ${cfg.contacts} contacts when it signs up, then ${cfg.messages} more at each step; throughout, a message every ${cfg.pulseSeconds} s and an inbox read in between (${pulse.sent} pulse messages in all); ${cfg.streams} event streams and a paused broadcast of ${cfg.broadcastSize} on every ${cfg.broadcastEvery}th tenant in the measured phase; telemetry every ${cfg.telemetryInterval} s.`);
lines.push('');
lines.push('| tenants | crmd PSS | PostgreSQL PSS | client backends | measured | plan (engine crmd) | error | after calibrate | error |');
lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const before = predict(r.n, r.pending, null);
  r.predicted = before.ram;
  r.diskPredicted = before.diskPerMessage;
  const after = calibrated ? predict(r.n, r.pending, cfg.override) : null;
  const m = r.mem.total / MiB;
  lines.push(`| ${r.n} | ${(r.mem.crmd.bytes / MiB).toFixed(1)} MiB | ${(r.mem.pg.bytes / MiB).toFixed(1)} MiB | ${r.mem.backends} | **${m.toFixed(1)} MiB** | ${(before.ram / MiB).toFixed(1)} MiB | ${fmtPct(pct(r.mem.total, before.ram))} | ${after ? `${(after.ram / MiB).toFixed(1)} MiB` : '—'} | ${after ? fmtPct(pct(r.mem.total, after.ram)) : '—'} |`);
}
lines.push('');
lines.push(`No tenant: crmd ${(base.crmd.bytes / MiB).toFixed(1)} MiB, PostgreSQL ${(base.pg.bytes / MiB).toFixed(1)} MiB (${base.backends} client backends), total ${(base.total / MiB).toFixed(1)} MiB.`);
lines.push('');
lines.push(`Idle, ${tenants.length} tenants after ${cfg.idleSeconds} s without traffic or streams: crmd ${(idle.crmd.bytes / MiB).toFixed(1)} MiB, PostgreSQL ${(idle.pg.bytes / MiB).toFixed(1)} MiB (${idle.backends} client backends), total ${(idle.total / MiB).toFixed(1)} MiB: ${((idle.total - base.total) / tenants.length / MiB).toFixed(2)} MiB per tenant over no tenant.`);
lines.push('');
lines.push('| tenants | quiet: crmd | quiet: PostgreSQL | quiet total | per tenant over no tenant | client backends per tenant |');
lines.push('|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  lines.push(`| ${r.n} | ${(r.quiet.crmd.bytes / MiB).toFixed(1)} MiB | ${(r.quiet.pg.bytes / MiB).toFixed(1)} MiB | ${(r.quiet.total / MiB).toFixed(1)} MiB | ${((r.quiet.total - base.total) / r.n / MiB).toFixed(2)} MiB | ${((r.mem.backends - base.backends) / r.n).toFixed(2)} |`);
}
lines.push('');
lines.push('| tenants | messages of | messages stored | send time | database growth | per message | without the simulator\'s records | plan (engine crmd) |');
lines.push('|---:|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  for (const d of r.disk) {
    lines.push(`| ${r.n} | ${d.what} | ${d.messages} | ${d.seconds.toFixed(1)} s | ${(d.bytes / MiB).toFixed(1)} MiB | ${(d.bytes / d.messages).toFixed(0)} B | ${((d.bytes - d.simBytes) / d.messages).toFixed(0)} B | ${Number.isNaN(r.diskPredicted) ? '—' : `${r.diskPredicted.toFixed(0)} B`} |`);
  }
}
lines.push('');
lines.push(`\`crmctl calibrate --from-db --engine crmd --hold ram_per_device --hold ram_per_websocket\`${calibrated ? '' : ' (refused)'}:`);
lines.push('');
lines.push('```');
lines.push(calibration.trimEnd());
lines.push('```');
lines.push('');
if (streamCost) {
  lines.push(`Event streams: ${streamCost.n} opened over ${tenants.length} tenants (${streamCost.open} counted open by the slices): per stream, PSS of the gateway +${(streamCost.gateway / 1024).toFixed(1)} KB, of the slices +${(streamCost.slices / 1024).toFixed(1)} KB, together ${((streamCost.gateway + streamCost.slices) / 1024).toFixed(1)} KB.`, '');
}
if (pauseFailures) lines.push(`Failed pauses (retried): ${pauseFailures}.`, '');
lines.push(`Run time (sign-ups to the last measurement and calibration): ${((Date.now() - started) / 1000).toFixed(0)} s.`);
process.stdout.write(`${lines.join('\n')}\n`);
writeFileSync(cfg.rowsFile, JSON.stringify({ base, idle, rows, streamCost }, null, 2));
agent.destroy();
process.exit(0);
