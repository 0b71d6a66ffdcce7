// An independent reference measurement of one broadcast run, for the
// cross-check in check.sh (issue #13, item 10).
//
// What the cross-check proves: `pushpoll load` (Rust, tokio-tungstenite, its
// own byte-counting stream, its own marker and delivery accounting) and this
// script (Node, the `ws` package, Node's own net.Socket counters, a marker
// format of its own) share no code. Run against a fresh copy of the same
// peer (ws-broadcast.js) with the same shape (subscribers, one publisher,
// message count and rate, payload size), both must find every message at
// every subscriber, and both must charge the same bytes to each delivered
// message (within 2 %). If pushpoll's accounting dropped or double-counted
// deliveries, or its counting stream missed or invented bytes (framing,
// handshakes), the two rows would disagree.
//
// What is measured, defined as pushpoll defines it (crates/loadgen/README.md,
// "Which phase the counts belong to"; run.rs: active_io = total - idle, and
// the check runs with --idle 0, so active = the socket totals):
//   bytes_up / bytes_down = everything read and written on the subscriber
//     sockets from connect to the end: the HTTP upgrade request and 101
//     answer, every frame header and payload, nothing else. Publisher sockets
//     are not counted. At the end the sockets are destroyed without a closing
//     handshake, after the counters were read (as pushpoll drops them).
//   bytes_per_delivered = (bytes_up + bytes_down) / delivered.
//   delivered = distinct (message, subscriber) pairs carrying this run's
//     marker; lost = subscribers x published - delivered.
// For diagnosis it also prints the same ratio over the publishing window only
// (counters snapshotted after every subscriber is open, before the first
// publish), which leaves the handshakes out.
//
// Usage: node ref-client.js --url ws://127.0.0.1:PORT/ [--subscribers 100]
//   [--publishers 1] [--messages 60] [--rate 20] [--payload-bytes 64]
//   [--grace 2] [--connect-timeout 10]
// Prints one JSON object on stdout. Connects to 127.0.0.1 only.
'use strict';
const net = require('net');
const crypto = require('crypto');
const WebSocket = require('ws');

function parseArgs(argv) {
  const o = {
    url: '', subscribers: 100, publishers: 1, messages: 60, rate: 20,
    'payload-bytes': 64, grace: 2, 'connect-timeout': 10,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in o) || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    o[k] = k === 'url' ? argv[i + 1] : Number(argv[i + 1]);
    if (k !== 'url' && !(Number.isFinite(o[k]) && o[k] >= 0)) throw new Error(`bad ${argv[i]}`);
  }
  const u = new URL(o.url);
  if (u.protocol !== 'ws:' || u.hostname !== '127.0.0.1') {
    throw new Error('--url must be ws://127.0.0.1:PORT/...');
  }
  if (!(o.subscribers >= 1 && o.subscribers <= 10000)) throw new Error('--subscribers 1..10000');
  if (!(o.publishers >= 1 && o.publishers <= 100)) throw new Error('--publishers 1..100');
  if (!(o.messages >= 1 && o.messages <= 1e6)) throw new Error('--messages 1..1e6');
  if (!(o.rate > 0)) throw new Error('--rate > 0');
  if (o['payload-bytes'] > 1 << 20) throw new Error('--payload-bytes at most 1 MiB');
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const S = opts.subscribers;
const P = opts.publishers;
const N = opts.messages;
const run = crypto.randomBytes(4).toString('hex');
const prefix = `ref.${run}.`;
const markerRe = /^ref\.([0-9a-f]+)\.(\d+)\./;

// Message i's payload: `ref.<run>.<i>.` padded with 'x' to --payload-bytes
// (the marker alone when it is longer). ASCII, so bytes = characters.
function payload(i) {
  const m = `${prefix}${i}.`;
  return m.length >= opts['payload-bytes'] ? m : m + 'x'.repeat(opts['payload-bytes'] - m.length);
}

// Each WebSocket gets a net.Socket we open ourselves, so its bytesRead /
// bytesWritten (handshake and framing included) can be read at any time.
function open(sockets) {
  return new WebSocket(opts.url, {
    perMessageDeflate: false, // pushpoll's subscribers offer no extension either
    createConnection: (o) => {
      const s = net.connect({ host: '127.0.0.1', port: Number(o.port) });
      if (sockets) sockets.push(s);
      return s;
    },
  });
}

const subSockets = [];
const subs = [];
let delivered = 0;
let duplicated = 0;
let otherMessages = 0;
let published = 0;
let publishErrors = 0;
let allDone = null; // resolves once every subscriber holds every published message
let finished = false;

function subscriber() {
  const seen = new Uint8Array(N);
  const sub = { count: 0 };
  const ws = open(subSockets);
  ws.on('message', (data, isBinary) => {
    if (finished || isBinary) { otherMessages += 1; return; }
    const m = markerRe.exec(data.toString('latin1', 0, Math.min(data.length, 64)));
    if (!m || m[1] !== run) { otherMessages += 1; return; }
    const i = Number(m[2]);
    if (!(i < N)) { otherMessages += 1; return; }
    if (seen[i]) { duplicated += 1; return; }
    seen[i] = 1;
    sub.count += 1;
    delivered += 1;
    if (allDone && delivered === S * published && published === N) allDone();
  });
  ws.on('error', () => {});
  sub.ws = ws;
  subs.push(sub);
  return new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('close', () => reject(new Error('closed before open')));
  });
}

function counters() {
  let up = 0;
  let down = 0;
  for (const s of subSockets) { up += s.bytesWritten; down += s.bytesRead; }
  return { up, down };
}

function withDeadline(p, s, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`${what}: no answer in ${s} s`)), s * 1000); }),
  ]).finally(() => clearTimeout(t));
}

async function main() {
  // Ramp-up: every subscriber open before anything is published.
  await withDeadline(Promise.all(Array.from({ length: S }, subscriber)), opts['connect-timeout'], 'subscribers');
  const rampIo = counters();

  const pubs = Array.from({ length: P }, () => open(null));
  await withDeadline(Promise.all(pubs.map((ws) => new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('error', rej);
  }))), opts['connect-timeout'], 'publishers');
  const startIo = counters();

  // Open loop: message k is due at t0 + k/rate; publisher k mod P sends it.
  const done = new Promise((res) => { allDone = res; });
  const t0 = performance.now();
  await new Promise((resolve) => {
    let k = 0;
    let acked = 0;
    const tick = () => {
      while (k < N && performance.now() >= t0 + (k * 1000) / opts.rate) {
        const i = k;
        pubs[i % P].send(payload(i), (err) => {
          if (err) publishErrors += 1; else published += 1;
          acked += 1;
          if (acked === N) resolve();
        });
        k += 1;
      }
      if (k < N) setTimeout(tick, Math.max(0, t0 + (k * 1000) / opts.rate - performance.now()));
    };
    tick();
  });
  if (delivered === S * published && published === N) allDone();

  // Grace: until every subscriber has every published message, or --grace.
  await Promise.race([done, new Promise((r) => setTimeout(r, opts.grace * 1000))]);
  finished = true;
  const endIo = counters();
  for (const s of subSockets) s.destroy();
  for (const ws of pubs) ws.terminate();

  const expected = S * published;
  const ratio = (a, b) => (b > 0 ? a / b : null);
  const out = {
    tool: 'ref-client.js (node ws)',
    run,
    subscribers: S,
    publishers: P,
    published,
    publish_errors: publishErrors,
    expected_deliveries: expected,
    delivered,
    lost: expected - delivered,
    duplicated,
    other_messages: otherMessages,
    payload_bytes: Buffer.byteLength(payload(0)),
    bytes_up: endIo.up,
    bytes_down: endIo.down,
    bytes_per_delivered: ratio(endIo.up + endIo.down, delivered),
    handshake_bytes_per_subscriber: (rampIo.up + rampIo.down) / S,
    publishing_bytes_per_delivered: ratio(endIo.up + endIo.down - startIo.up - startIo.down, delivered),
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

// Every wait above has its own bound; this one catches anything they miss.
const hardDeadline = opts['connect-timeout'] * 2 + N / opts.rate + opts.grace + 10;
setTimeout(() => {
  console.error(`ref-client: still running after ${hardDeadline} s, giving up`);
  process.exit(1);
}, hardDeadline * 1000).unref();

main().then(() => process.exit(0), (err) => {
  console.error(`ref-client: ${err.message}`);
  process.exit(1);
});
