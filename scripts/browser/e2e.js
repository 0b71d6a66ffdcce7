#!/usr/bin/env node
// The chat page of `pushpoll serve` in a real browser (Debian's Chromium,
// headless, driven by playwright-core), on every transport:
//
//   node scripts/browser/e2e.js [path/to/pushpoll]   (default target/release/pushpoll)
//
// It starts `pushpoll serve --addr 127.0.0.1:0`, opens four tabs (WebSocket,
// long polling, SSE, short polling), and checks that they talk to each other
// both ways, that the counters move (short polling's requests climb while
// nobody speaks; the page's received bytes match the server's socket count),
// that a `<script>` message is shown as text and never runs, that switching
// transports loses nothing, and that every tab survives a server restart on
// the same port. Exits non-zero on the first failure; every wait is bounded.
// Screenshot: target/browser/chat.png.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.resolve(process.argv[2] || path.join(ROOT, 'target/release/pushpoll'));
const OUT_DIR = path.join(ROOT, 'target', 'browser');
const SCREENSHOT = path.join(OUT_DIR, 'chat.png');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
/** The whole run; a hang anywhere ends it with a failure. */
const RUN_LIMIT_MS = 240_000;
/** One wait for something the page should do. */
const WAIT_MS = 15_000;

const XSS = '<script>window.__xss=1</script><b>bold</b>';

let server = null;
let context = null;
let userDataDir = null;

function log(line) {
  process.stderr.write(`${line}\n`);
}

function fail(message) {
  throw new Error(message);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` (async, returns a truthy value when done) until it holds or `ms` pass. */
async function until(what, check, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) fail(`timed out after ${ms} ms waiting for ${what} (last: ${describe(last)})`);
    await sleep(50);
  }
}

function describe(v) {
  if (v instanceof Error) return v.message;
  try {
    return JSON.stringify(v).slice(0, 300);
  } catch {
    return String(v);
  }
}

// ------------------------------------------------------------------ server

/** Starts `pushpoll serve` on `addr`; resolves with the address it printed. */
function startServer(addr) {
  return startServerArgs(['--addr', addr]);
}

function startServerArgs(args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, ['serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`pushpoll serve did not announce its address in 15 s: ${stderr}`));
    }, 15_000);
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      stderr += chunk;
      const m = stderr.match(/serving on http:\/\/([0-9.]+:[0-9]+)\//);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, addr: m[1], exited: new Promise((r) => proc.once('exit', r)) });
      }
      if (stderr.length > 65536) stderr = stderr.slice(-16384);
    });
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`starting ${BIN}: ${e.message}`));
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`pushpoll serve exited (${code ?? signal}) before serving: ${stderr.trim()}`));
    });
  });
}

/** The same port again: retried while the old socket is being released. */
async function restartServer(addr) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await startServer(addr);
    } catch (e) {
      if (Date.now() > deadline || !/binding|in use/i.test(e.message)) throw e;
      await sleep(200);
    }
  }
}

async function stopServer(s, signal) {
  if (!s || s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  s.proc.kill(signal);
  await Promise.race([s.exited, sleep(10_000)]);
}

async function serverMetrics(addr) {
  const text = await (await fetch(`http://${addr}/metrics`)).text();
  const m = {};
  for (const line of text.split('\n')) {
    const match = line.match(/^([a-z_]+)(?:\{transport="([a-z_]+)"\})? ([0-9.e+-]+)$/);
    if (match) m[match[2] ? `${match[1]}{${match[2]}}` : match[1]] = Number(match[3]);
  }
  return m;
}

async function publish(addr, text) {
  const r = await fetch(`http://${addr}/messages`, { method: 'POST', body: text });
  if (r.status !== 201) fail(`POST /messages: ${r.status} ${await r.text()}`);
  return (await r.json()).seq;
}

// -------------------------------------------------------------------- page

/** Everything the test looks at, read from the DOM as a person would see it. */
function snapshot(page) {
  return page.evaluate(() => {
    const stats = {};
    for (const td of document.querySelectorAll('#stats-body td')) {
      const [, t, ...key] = td.id.split('-');
      stats[t] ??= {};
      stats[t][key.join('-')] = td.dataset.value === '' ? null : Number(td.dataset.value);
    }
    const status = document.getElementById('status');
    return {
      state: status.dataset.state,
      statusText: status.textContent,
      transport: document.getElementById('transport').value,
      msgs: [...document.querySelectorAll('#messages li.msg')].map((li) => ({
        seq: Number(li.dataset.seq),
        text: li.querySelector('.text').textContent,
        own: li.classList.contains('own'),
        elements: li.querySelector('.text').childElementCount,
      })),
      notices: [...document.querySelectorAll('#messages li.notice')].map((li) => ({
        kind: li.dataset.kind,
        text: li.querySelector('.text').textContent,
      })),
      stats,
      xss: typeof window.__xss,
    };
  });
}

async function openTab(addr, transport, errors) {
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`${transport}: uncaught ${e.message}`));
  page.on('console', (msg) => {
    // Refused connections while the server is down are expected; a blocked
    // load (Content-Security-Policy) or a script error is not.
    if (msg.type() === 'error' && /Content Security Policy|Uncaught|TypeError|SyntaxError/.test(msg.text())) {
      errors.push(`${transport}: console: ${msg.text()}`);
    }
  });
  await page.goto(`http://${addr}/?transport=${transport}`, { timeout: WAIT_MS });
  await until(`the ${transport} tab to connect`, async () => (await snapshot(page)).state === 'connected');
  return page;
}

async function say(page, text, how = 'enter') {
  await page.fill('#input', text);
  if (how === 'click') await page.click('#send');
  else await page.press('#input', 'Enter');
  await until('the input to empty after sending', async () => (await page.inputValue('#input')) === '');
}

/** Waits until every tab lists a message with exactly `text`. */
async function seenEverywhere(tabs, text) {
  for (const [name, page] of Object.entries(tabs)) {
    await until(`${JSON.stringify(text.slice(0, 40))} on the ${name} tab`, async () =>
      (await snapshot(page)).msgs.some((m) => m.text === text));
  }
}

/** Each seq once, in order, none skipped, per numbering epoch (restarts begin again at 1). */
function checkContiguous(name, msgs) {
  for (let i = 1; i < msgs.length; i++) {
    const prev = msgs[i - 1].seq;
    const cur = msgs[i].seq;
    if (cur !== prev + 1 && !(cur === 1 && prev >= 1)) {
      fail(`${name} tab: #${cur} follows #${prev} (lost, duplicated or reordered)`);
    }
  }
}

// -------------------------------------------------------------------- main

async function main() {
  if (!fs.existsSync(BIN)) fail(`no pushpoll binary at ${BIN}: cargo build --release -p pushpoll`);
  if (!fs.existsSync(CHROMIUM)) fail(`no Chromium at ${CHROMIUM}: run scripts/browser/install.sh`);
  fs.mkdirSync(OUT_DIR, { recursive: true });

  server = await startServer('127.0.0.1:0');
  const addr = server.addr;
  log(`server on ${addr}`);

  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushpoll-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
    ],
    viewport: { width: 1100, height: 1150 },
    timeout: 30_000,
  });
  context.setDefaultTimeout(WAIT_MS);
  const errors = [];

  // Two tabs on different transports talk both ways.
  const tabs = {};
  tabs.ws = await openTab(addr, 'ws', errors);
  tabs.long = await openTab(addr, 'long', errors);
  await say(tabs.ws, 'hello from WebSocket', 'click');
  await say(tabs.long, 'hello from long polling');
  await seenEverywhere(tabs, 'hello from WebSocket');
  await seenEverywhere(tabs, 'hello from long polling');
  log('ok - WebSocket and long polling tabs exchange messages both ways');

  tabs.sse = await openTab(addr, 'sse', errors);
  tabs.short = await openTab(addr, 'short', errors);
  await say(tabs.sse, 'hello from SSE');
  await say(tabs.short, 'hello from short polling');
  await seenEverywhere(tabs, 'hello from SSE');
  await seenEverywhere(tabs, 'hello from short polling');
  log('ok - SSE and short polling tabs exchange messages with the others');

  for (const [name, page] of Object.entries(tabs)) {
    const snap = await snapshot(page);
    const own = snap.msgs.filter((m) => m.own);
    if (own.length !== 1) fail(`${name} tab: ${own.length} own messages marked, expected 1`);
    // The table is redrawn at most ten times a second.
    await until(`the ${name} tab's counters to move`, async () => {
      const s = (await snapshot(page)).stats[name];
      return s.requests >= 1 && s.received > 0 && s.sent > 0 && s.messages >= 2 && s['lat-n'] === 1
        && s['lat-last'] >= 0;
    }, 2000);
  }
  log('ok - every tab counts requests, bytes, messages and the latency of its own message');

  // Idle: short polling keeps asking, push transports do not; the short-poll
  // tab's received bytes are exactly what the server's socket sent it.
  await sleep(300);
  const before = Object.fromEntries(await Promise.all(
    Object.entries(tabs).map(async ([n, p]) => [n, (await snapshot(p)).stats[n]])));
  const serverBefore = await serverMetrics(addr);
  await sleep(4200);
  const after = Object.fromEntries(await Promise.all(
    Object.entries(tabs).map(async ([n, p]) => [n, (await snapshot(p)).stats[n]])));
  const serverAfter = await serverMetrics(addr);
  const d = (n, k) => after[n][k] - before[n][k];
  if (d('short', 'requests') < 3) fail(`short polling sent ${d('short', 'requests')} requests in 4.2 idle seconds`);
  if (d('short', 'empty') < 3) fail(`short polling counted ${d('short', 'empty')} empty polls`);
  for (const n of ['ws', 'sse', 'long']) {
    if (d(n, 'requests') !== 0) fail(`${n} sent ${d(n, 'requests')} requests while idle`);
  }
  const sd = (k) => serverAfter[`${k}{short_poll}`] - serverBefore[`${k}{short_poll}`];
  const pagePerPoll = d('short', 'received') / d('short', 'empty');
  const serverPerPoll = sd('pushpoll_bytes_sent_total') / sd('pushpoll_requests_total');
  if (Math.abs(pagePerPoll - serverPerPoll) > 0.5) {
    fail(`an empty short poll: the page counted ${pagePerPoll} bytes received, the server sent ${serverPerPoll}`);
  }
  const hidden = sd('pushpoll_bytes_received_total') / sd('pushpoll_requests_total') - d('short', 'sent') / d('short', 'requests');
  log(`ok - idle 4.2 s: short polling sent ${d('short', 'requests')} requests (${d('short', 'empty')} empty), `
    + 'WebSocket, SSE and long polling none');
  log(`ok - an empty short poll: ${pagePerPoll} bytes received by the page = ${serverPerPoll} sent by the server; `
    + `the request: ${d('short', 'sent') / d('short', 'requests')} bytes the page sees + ${hidden.toFixed(0)} bytes of `
    + 'headers Chromium adds (server-side count)');

  // A script in a message is text.
  await say(tabs.ws, XSS);
  await seenEverywhere(tabs, XSS);
  for (const [name, page] of Object.entries(tabs)) {
    const snap = await snapshot(page);
    const m = snap.msgs.find((x) => x.text === XSS);
    if (m.elements !== 0) fail(`${name} tab: the message made ${m.elements} elements`);
    if (snap.xss !== 'undefined') fail(`${name} tab: window.__xss is ${snap.xss}: the script ran`);
    const bold = await page.$$eval('#messages b, #messages script', (els) => els.length);
    if (bold !== 0) fail(`${name} tab: ${bold} <b>/<script> elements in the list`);
  }
  log('ok - a <script> message is shown literally on every transport and never runs');

  // The input stops at 4,000 characters and says so.
  await tabs.ws.fill('#input', 'x'.repeat(5000));
  const limited = await tabs.ws.evaluate(() => ({
    len: document.getElementById('input').value.length,
    warn: document.getElementById('limit').classList.contains('warn'),
    text: document.getElementById('limit').textContent,
  }));
  if (limited.len !== 4000 || !limited.warn) fail(`message limit: ${describe(limited)}`);
  await tabs.ws.fill('#input', '');
  log(`ok - the input stops at 4,000 characters: "${limited.text}"`);

  // Switching transports while others publish loses nothing.
  const switcher = tabs.ws;
  let published = 0;
  let publishing = true;
  const burst = (async () => {
    while (publishing) {
      await publish(addr, `burst ${published}`);
      published += 1;
      await sleep(25);
    }
  })();
  for (const t of ['sse', 'short', 'long', 'ws', 'long', 'sse', 'short', 'ws']) {
    const had = (await snapshot(switcher)).stats[t].messages;
    await switcher.selectOption('#transport', t);
    await until(`the switching tab to connect over ${t} and receive`, async () => {
      const s = await snapshot(switcher);
      return s.state === 'connected' && s.transport === t && s.stats[t].messages > had;
    });
  }
  publishing = false;
  await burst;
  const lastBurst = `burst ${published - 1}`;
  await seenEverywhere(tabs, lastBurst);
  for (const [name, page] of Object.entries(tabs)) {
    const snap = await snapshot(page);
    checkContiguous(name, snap.msgs);
    const bursts = snap.msgs.filter((m) => m.text.startsWith('burst ')).length;
    if (bursts !== published) fail(`${name} tab: ${bursts} of ${published} burst messages`);
    const bad = snap.notices.filter((n) => n.kind === 'loss' || n.kind === 'gap' || n.kind === 'error');
    if (bad.length) fail(`${name} tab: ${describe(bad)}`);
  }
  log(`ok - switching WebSocket → SSE → short → long → … during ${published} publishes: every tab has every message once, in order`);

  // Server restart on the same port: reconnecting, then connected, then talking.
  const [, port] = addr.split(':');
  await stopServer(server, 'SIGKILL');
  log('server killed');
  for (const [name, page] of Object.entries(tabs)) {
    await until(`the ${name} tab to show reconnecting`, async () => (await snapshot(page)).state === 'reconnecting');
  }
  log('ok - every tab shows reconnecting');
  await sleep(1500);
  server = await restartServer(`127.0.0.1:${port}`);
  log(`server restarted on ${server.addr}`);
  for (const [name, page] of Object.entries(tabs)) {
    await until(`the ${name} tab to reconnect`, async () => (await snapshot(page)).state === 'connected', 30_000);
  }
  await say(tabs.long, 'after the restart, from long polling');
  await say(tabs.ws, 'after the restart, from WebSocket');
  await say(tabs.sse, 'after the restart, from SSE');
  await say(tabs.short, 'after the restart, from short polling');
  for (const text of ['long polling', 'WebSocket', 'SSE', 'short polling']) {
    await seenEverywhere(tabs, `after the restart, from ${text}`);
  }
  for (const [name, page] of Object.entries(tabs)) {
    const snap = await snapshot(page);
    if (!snap.notices.some((n) => n.kind === 'restart')) fail(`${name} tab: no restart notice`);
    checkContiguous(name, snap.msgs);
    if (!snap.msgs.some((m) => m.text === 'hello from short polling')) fail(`${name} tab lost its history`);
    const after = snap.msgs.filter((m) => m.text.startsWith('after the restart'));
    if (after.length !== 4 || after.map((m) => m.seq).sort().join() !== '1,2,3,4') {
      fail(`${name} tab after the restart: ${describe(after)}`);
    }
  }
  log('ok - every tab survived the restart: reconnecting → connected, restart noticed, history kept, new messages arrive');

  await switcher.evaluate(() => {
    document.getElementById('how').open = true;
    const l = document.getElementById('messages');
    l.scrollTop = l.scrollHeight;
  });
  await sleep(300);
  await switcher.screenshot({ path: SCREENSHOT, fullPage: true });
  log(`screenshot: ${path.relative(ROOT, SCREENSHOT)}`);

  await gaps(errors);

  if (errors.length) fail(`errors in the pages:\n  ${errors.join('\n  ')}`);
}

/**
 * A second server that keeps only 4 messages: a tab that falls behind is
 * told what it missed on every transport (WebSocket gap frame, SSE gap
 * event, poll 410) and carries on from what the server still holds.
 */
async function gaps(errors) {
  const gapServer = await startServerArgs(['--addr', '127.0.0.1:0', '--history', '4']);
  const addr = gapServer.addr;
  try {
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(`gaps: uncaught ${e.message}`));
    await page.goto(`http://${addr}/?transport=short&interval=5000`, { timeout: WAIT_MS });
    await until('the gap tab to connect', async () => (await snapshot(page)).state === 'connected');
    let n = 0;
    const fall = async () => {
      for (let i = 0; i < 10; i++) await publish(addr, `gap test ${n++}`);
    };
    const gapsSeen = async (k) => until(`${k} gap notice(s) and the newest message`, async () => {
      const snap = await snapshot(page);
      const notices = snap.notices.filter((x) => x.kind === 'gap');
      return notices.length === k && snap.msgs.some((m) => m.text === `gap test ${n - 1}`) && snap;
    }, 20_000);

    // Poll: the next poll (5 s later) asks for a since the ring lost: 410.
    await fall();
    await gapsSeen(1);
    // WebSocket: reconnecting with an old since gets gap frame 0x03.
    await fall();
    await page.selectOption('#transport', 'ws');
    await gapsSeen(2);
    // SSE: an old since gets `event: gap`.
    await page.selectOption('#transport', 'short');
    await until('the gap tab to poll', async () => (await snapshot(page)).state === 'connected');
    await fall();
    await page.selectOption('#transport', 'sse');
    const snap = await gapsSeen(3);
    const seqs = snap.msgs.map((m) => m.seq);
    if (seqs.some((q, i) => i > 0 && q <= seqs[i - 1])) fail(`gap tab: seqs out of order ${seqs}`);
    if (snap.msgs.length !== 12) fail(`gap tab: ${snap.msgs.length} messages shown, expected 3 × the 4 held`);
    log(`ok - a tab that fell behind a 4-message history is told on every transport: ${
      snap.notices.filter((x) => x.kind === 'gap').map((x) => `"${x.text}"`).join(', ')}`);
    await page.close();
  } finally {
    await stopServer(gapServer, 'SIGKILL');
  }
}

async function cleanup() {
  try {
    if (context) await Promise.race([context.close(), sleep(10_000)]);
  } catch {
    // the browser may already be gone
  }
  await stopServer(server, 'SIGTERM').catch(() => {});
  await stopServer(server, 'SIGKILL').catch(() => {});
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
}

const limit = setTimeout(async () => {
  log(`FAIL: the browser test ran past ${RUN_LIMIT_MS / 1000} s`);
  await cleanup();
  process.exit(1);
}, RUN_LIMIT_MS);

main().then(
  async () => {
    clearTimeout(limit);
    await cleanup();
    log('browser test passed');
    process.exit(0);
  },
  async (e) => {
    clearTimeout(limit);
    log(`FAIL: ${e.stack || e.message}`);
    try {
      const page = context && context.pages()[0];
      if (page) {
        fs.mkdirSync(OUT_DIR, { recursive: true });
        await page.screenshot({ path: path.join(OUT_DIR, 'failure.png'), fullPage: true });
        log('failure screenshot: target/browser/failure.png');
      }
    } catch {
      // no screenshot, the failure above is what matters
    }
    await cleanup();
    process.exit(1);
  },
);
