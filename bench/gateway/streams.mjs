// Opens N live event streams (GET /api/events) to one URL and holds them open, for
// bench/gateway/run's stream-cost phase (docs/benchmarks.md, "Gateway"): each is counted open
// once its 200 head and the slice's first frame ("retry: …") have arrived. Prints "open N" when
// all are, then holds them until stdin closes, and exits 0; a stream refused or cut short before
// that exits 1 with the reason.
//
// Usage: node bench/gateway/streams.mjs URL N [COOKIE]
import http from 'node:http';

const [url, countArg, cookie] = process.argv.slice(2);
const count = Number(countArg);
if (!url || !Number.isInteger(count) || count < 1) {
  console.error('usage: streams.mjs URL N [COOKIE]');
  process.exit(2);
}
const target = new URL(url);
const held = [];
let closing = false;

function open(i) {
  return new Promise((resolve, reject) => {
    const headers = { Accept: 'text/event-stream' };
    if (cookie) headers.Cookie = cookie;
    const req = http.get(
      { host: target.hostname, port: target.port, path: target.pathname, agent: false, headers },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`stream ${i}: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        let first = true;
        res.on('data', () => {
          if (first) {
            first = false;
            held.push(req);
            resolve();
          }
        });
        res.on('end', () => {
          if (!closing) fail(new Error(`stream ${i} ended while held`));
        });
        res.on('error', () => {});
      },
    );
    req.on('error', (e) => (held.includes(req) ? (closing ? null : fail(e)) : reject(e)));
  });
}

function fail(e) {
  console.error(`streams: ${e.message}`);
  process.exit(1);
}

// At most 64 connection attempts at once: the servers' accept queues stay short.
let next = 0;
async function worker() {
  while (next < count) {
    await open(next++);
  }
}
try {
  await Promise.all(Array.from({ length: Math.min(64, count) }, worker));
} catch (e) {
  fail(e);
}
console.log(`open ${held.length}`);
process.stdin.resume();
process.stdin.on('end', () => {
  closing = true;
  for (const req of held) req.destroy();
  process.exit(0);
});
