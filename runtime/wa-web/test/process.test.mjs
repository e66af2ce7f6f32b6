// The real sidecar process with the real Baileys engine and no network (its own empty network
// namespace): it reports connecting, backs off with the failure as detail, and exits 0 on SIGTERM.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { commandLine } from '../lib/util.mjs';
import { LineClient, tempDir, waitFor } from './helpers.mjs';

const sidecar = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'sidecar.mjs');

// `unshare -rn` gives the process a network namespace with only a downed loopback, so the test
// behaves the same on a machine that can reach WhatsApp.
function noNetworkPrefix() {
  const probe = spawnSync('unshare', ['-rn', 'true']);
  if (probe.status !== 0) {
    throw new Error(`unshare -rn is needed to run the sidecar without network: ${probe.stderr}`);
  }
  return ['unshare', '-rn'];
}

// Every process on the machine whose command line names `dir` (a browser keeps running after
// its parent died, reparented, so looking only below the sidecar would miss it).
function browsers(dir) {
  return fs.readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p) && commandLine(Number(p)).includes(dir) && /chrom/.test(commandLine(Number(p))));
}

// Starts the real sidecar for `engine` with no network (`loopback`: with the loopback up, as
// puppeteer needs to reach its chromium) and waits for its socket; killed when the test ends.
async function startSidecar(t, dir, engine, { loopback = false } = {}) {
  const socketPath = path.join(dir, 'wa-web.sock');
  const [cmd, ...prefix] = noNetworkPrefix();
  const up = loopback ? ['sh', '-c', 'ip link set lo up && exec "$0" "$@"'] : [];
  const child = spawn(cmd, [...prefix, ...up, process.execPath, sidecar, '--socket', socketPath,
    '--auth', path.join(dir, 'auth'), '--engine', engine], { stdio: ['ignore', 'pipe', 'pipe'] });
  const run = { child, socketPath, stderr: '' };
  child.stderr.on('data', (d) => {
    run.stderr += d;
  });
  t.after(() => child.kill('SIGKILL'));
  await waitFor(() => fs.existsSync(socketPath) || child.exitCode !== null, 'the socket', 15000);
  assert.equal(child.exitCode, null, `the sidecar exited early: ${run.stderr}`);
  return run;
}

function exited(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve([child.exitCode, child.signalCode]);
    else child.once('exit', (code, signal) => resolve([code, signal]));
  });
}

test('noweb without network: connecting, then a backoff with the error, exit 0 on SIGTERM', async (t) => {
  const dir = tempDir(t);
  const run = await startSidecar(t, dir, 'noweb');
  const { child, socketPath } = run;
  assert.equal(fs.statSync(socketPath).mode & 0o777, 0o600);

  const client = await LineClient.connect(socketPath);
  t.after(() => client.close());
  const hello = await client.request('hello', { version: 1 });
  assert.deepEqual([hello.ok, hello.engine, hello.state], [true, 'noweb', 'connecting']);
  const first = await client.event((e) => e.event === 'state', 'the first state');
  assert.equal(first.state, 'connecting');
  const backoff = await waitFor(
    () => client.lines.find((l) => l.event === 'state' && /reconnecting in [0-9.]+ s/.test(l.detail ?? '')),
    'a backoff after the failed connection',
    15000,
  );
  assert.equal(backoff.state, 'connecting');
  assert.match(backoff.detail, /ENOTFOUND|EAI_AGAIN|ENETUNREACH|ECONNREFUSED|WebSocket|Connection/i);
  const status = await client.request('status');
  assert.equal(status.state, 'connecting');
  assert.ok(status.rss_bytes > 0);

  child.kill('SIGTERM');
  const [code, signal] = await exited(child);
  assert.deepEqual([code, signal], [0, null], run.stderr);
  assert.ok(!fs.existsSync(socketPath), 'the socket is removed');
  assert.doesNotMatch(run.stderr, /Unhandled|TypeError|ReferenceError/);
});

test('webjs without network: chromium starts, fails to reach WhatsApp, is gone before the retry and on SIGTERM', async (t) => {
  const dir = tempDir(t);
  const run = await startSidecar(t, dir, 'webjs', { loopback: true });
  const { child, socketPath } = run;
  const client = await LineClient.connect(socketPath);
  t.after(() => client.close());
  assert.equal((await client.request('hello', { version: 1 })).engine, 'webjs');
  const backoff = await waitFor(
    () => client.lines.find((l) => l.event === 'state' && /reconnecting in [0-9.]+ s/.test(l.detail ?? '')),
    'a backoff after chromium failed to load WhatsApp Web',
    30000,
  );
  assert.match(backoff.detail, /ERR_INTERNET_DISCONNECTED|ERR_NAME_NOT_RESOLVED|ERR_ADDRESS_UNREACHABLE/);
  // The backoff is announced after the failed attempt's browser was ended, and the next attempt
  // starts at least 0.8 s later: none of this profile's browsers runs now.
  assert.deepEqual(browsers(dir), [], 'no browser of the failed attempt is left');
  child.kill('SIGTERM');
  const [code, signal] = await exited(child);
  assert.deepEqual([code, signal], [0, null], run.stderr);
  assert.deepEqual(browsers(dir), [], 'chromium is gone after SIGTERM');
});

test('bad arguments exit 2 with a usage line', () => {
  const r = spawnSync(process.execPath, [sidecar, '--socket', '/tmp/x.sock', '--auth', '/tmp/x'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--engine is required/);
  const pace = spawnSync(process.execPath, [sidecar, '--socket', '/tmp/x.sock', '--auth', '/tmp/x', '--engine', 'noweb', '--pace-ms', '9,3'], { encoding: 'utf8' });
  assert.equal(pace.status, 1);
  assert.match(pace.stderr, /--pace-ms/);
});
