// A Faye server (npm `faye`), Bayeux over HTTP long-polling and WebSocket
// at /faye: clients handshake, subscribe to a channel and /meta/connect;
// every publish on a channel is relayed by Faye itself to its subscribers.
// A connect is held at most TIMEOUT seconds (default 25, short so that a run
// sees the held connect answered empty too).
// Usage: node faye.js [port] [timeout-seconds]   (prints "listening PORT")
'use strict';
const http = require('http');
const faye = require('faye');

const port = Number(process.argv[2] || process.env.PORT || 8000);
const timeout = Number(process.argv[3] || process.env.TIMEOUT || 25);
const bayeux = new faye.NodeAdapter({ mount: '/faye', timeout });
const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('Faye: the Bayeux endpoint is /faye\n');
});
bayeux.attach(server);
if (process.env.VERBOSE) {
  bayeux.on('handshake', (id) => console.error('handshake', id));
  bayeux.on('subscribe', (id, channel) => console.error('subscribe', id, channel));
  bayeux.on('publish', (id, channel) => console.error('publish', id, channel));
}

server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
