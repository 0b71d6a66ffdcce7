// A SockJS chat server (npm `sockjs`, i.e. sockjs-node) on a Node http
// server: prefix `/chat`, every message written to every open connection
// (sender included), as in sockjs-node's echo/broadcast examples. All of
// sockjs-node's transports are on; `pushpoll load --transport sockjs` uses
// websocket, xhr-streaming and xhr-polling.
// Usage: node sockjs-chat.js [port] [prefix]   (prints "listening PORT")
// NO_WEBSOCKET=1 turns the WebSocket transport off (/info then says
// "websocket": false).
'use strict';
const http = require('http');
const sockjs = require('sockjs');

const port = Number(process.argv[2] || process.env.PORT || 3000);
const prefix = process.argv[3] || process.env.PREFIX || '/chat';
const connections = new Set();

const chat = sockjs.createServer({
  prefix,
  websocket: !process.env.NO_WEBSOCKET,
  // sockjs-node logs every request by default.
  log: (severity, line) => {
    if (severity === 'error' || process.env.VERBOSE) console.error(line);
  },
});
chat.on('connection', (conn) => {
  if (!conn) return;
  connections.add(conn);
  conn.on('data', (msg) => {
    for (const c of connections) c.write(msg);
  });
  conn.on('close', () => connections.delete(conn));
});

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end(`sockjs chat: connect a SockJS client to ${prefix}\n`);
});
chat.installHandlers(server);
server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
