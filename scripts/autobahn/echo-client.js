// A Node `ws` Autobahn|Testsuite client: the reference testee for
// scripts/autobahn/test-client.sh (wstest -m fuzzingserver). It follows the
// standard protocol: GET /getCaseCount, then for each case N
// /runCase?case=N&agent=AGENT echoing every message back (text stays text,
// binary stays binary), then /updateReports?agent=AGENT.
// Usage: AUTOBAHN_URL=ws://127.0.0.1:9001 [AUTOBAHN_AGENT=node-ws] node echo-client.js
// Needs `ws` from scripts/peers/node_modules (scripts/peers/install.sh).
'use strict';
const path = require('path');
const WebSocket = require(path.join(__dirname, '../peers/node_modules/ws'));

const base = (process.env.AUTOBAHN_URL || 'ws://127.0.0.1:9001').replace(/\/+$/, '');
const agent = process.env.AUTOBAHN_AGENT || 'node-ws';
const options = {
  perMessageDeflate: false, // groups 12/13 are excluded
  maxPayload: 64 * 1024 * 1024,
  maxFragments: 0, // see echo-server.js: lift ws's anti-DoS fragment limits
  maxBufferedChunks: 0,
};

// Opens URL, calls onMessage(ws, data, isBinary) per message, resolves on close.
function session(url, onMessage) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options);
    ws.on('message', (data, isBinary) => onMessage(ws, data, isBinary));
    ws.on('error', (err) => {
      if (process.env.VERBOSE) console.error(url, 'error', err.message);
    });
    ws.on('close', () => resolve());
  });
}

async function main() {
  let count = null;
  await session(`${base}/getCaseCount`, (_ws, data) => {
    count = Number(data.toString());
  });
  if (!Number.isInteger(count) || count < 0) throw new Error(`bad case count from ${base}/getCaseCount: ${count}`);
  console.log(`autobahn client: ${count} cases at ${base} as agent ${agent}`);
  const a = encodeURIComponent(agent);
  for (let n = 1; n <= count; n++) {
    await session(`${base}/runCase?case=${n}&agent=${a}`, (ws, data, isBinary) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary: isBinary });
    });
    if (n % 50 === 0 || n === count) console.log(`autobahn client: ${n}/${count} cases run`);
  }
  await session(`${base}/updateReports?agent=${a}`, () => {});
  console.log('autobahn client: reports updated');
}

main().catch((err) => {
  console.error('autobahn client:', err.message);
  process.exit(1);
});
