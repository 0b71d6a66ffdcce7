// A Node `ws` ECHO server: the reference testee for Autobahn's fuzzingclient
// (scripts/autobahn/test-server.sh). Every message goes back to its sender
// only, text stays text and binary stays binary. Any path is accepted.
// Usage: node echo-server.js [port]   (0 = any free port; prints "listening PORT")
// Needs `ws` from scripts/peers/node_modules (scripts/peers/install.sh).
'use strict';
const path = require('path');
const WebSocket = require(path.join(__dirname, '../peers/node_modules/ws'));

const port = Number(process.argv[2] || process.env.PORT || 9001);
const wss = new WebSocket.Server({
  host: '127.0.0.1',
  port,
  perMessageDeflate: false, // Autobahn groups 12/13 (compression) are excluded
  maxPayload: 64 * 1024 * 1024, // cases 9.1.6 / 9.2.6 send 16 MiB messages
  // ws >= 8.18's anti-DoS defaults (16384 fragments, 256Ki buffered chunks
  // per message) close with 1008 on 9.3.1/9.3.2/9.4.1/9.4.2 (4 MiB in 64- or
  // 256-byte fragments): 0 lifts them, as this is only a conformance testee.
  maxFragments: 0,
  maxBufferedChunks: 0,
});

wss.on('listening', () => console.log(`listening ${wss.address().port}`));
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', (err) => {
    if (process.env.VERBOSE) console.error('error', err.message);
  });
});
