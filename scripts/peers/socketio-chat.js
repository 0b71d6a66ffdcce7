// A socket.io chat server as in socket.io's own "chat" example: every
// `chat message` event is emitted to every connected client (sender included).
// Both Engine.IO transports are on: HTTP long-polling first, then the upgrade
// to WebSocket, unless the client asks for one transport only.
// Usage: node socketio-chat.js [port] [event]   (prints "listening PORT")
'use strict';
const http = require('http');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || process.env.PORT || 3000);
const event = process.argv[3] || process.env.EVENT || 'chat message';
const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('socket.io chat: connect with a socket.io client\n');
});
const io = new Server(server, { maxHttpBufferSize: 1e6 });

io.on('connection', (socket) => {
  if (process.env.VERBOSE) console.error('connection', socket.id, socket.conn.transport.name);
  socket.on(event, (msg) => io.emit(event, msg));
});

server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
