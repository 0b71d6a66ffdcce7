// The Node `ws` chat server from the notes this project grew from:
// every message (text or binary) goes to every open client, binary flag kept.
// Usage: node ws-broadcast.js [port]   (0 = any free port; prints "listening PORT")
// WS_DEFLATE=1 accepts permessage-deflate (RFC 7692) from clients that offer
// it, compressing messages of WS_DEFLATE_THRESHOLD bytes and more (ws's own
// default: 1024). Off by default, as in `ws` itself.
'use strict';
const WebSocket = require('ws');

const port = Number(process.argv[2] || process.env.PORT || 8080);
const perMessageDeflate = process.env.WS_DEFLATE === '1'
  ? { threshold: Number(process.env.WS_DEFLATE_THRESHOLD || 1024) }
  : false;
const wss = new WebSocket.Server({ host: '127.0.0.1', port, perMessageDeflate });

wss.on('listening', () => console.log(`listening ${wss.address().port}`));
wss.on('connection', (ws, req) => {
  if (process.env.VERBOSE) console.error('connection from', req.socket.remoteAddress);
  ws.on('message', (data, isBinary) => {
    wss.clients.forEach((client) => {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    });
  });
  ws.on('close', (code, reason) => {
    if (process.env.VERBOSE) console.error('closed', code, reason.toString());
  });
  ws.on('error', (err) => console.error('error', err.message));
});
