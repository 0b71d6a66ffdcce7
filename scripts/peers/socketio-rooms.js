// A socket.io chat with rooms and per-user tokens, as deployed chats are:
// clients connect to the `/chat` namespace with `auth: {user, token}`, which
// a middleware checks against a users file (CSV `name,token`; a wrong or
// missing token is refused with a connect error); a `join` event puts the
// socket in a room and is answered `joined`; a `chat message` event
// `{room, text}` is emitted to that room only (sender included).
// Usage: node socketio-rooms.js [port] USERS.csv   (prints "listening PORT")
'use strict';
const fs = require('fs');
const http = require('http');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || process.env.PORT || 3000);
const usersFile = process.argv[3] || process.env.USERS;
if (!usersFile) {
  console.error('usage: node socketio-rooms.js PORT USERS.csv');
  process.exit(2);
}
const tokens = new Map();
for (const line of fs.readFileSync(usersFile, 'utf8').split('\n').slice(1)) {
  const [name, token] = line.trim().split(',');
  if (name) tokens.set(name, token);
}
let refused = 0;

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('socket.io rooms chat\n');
});
const io = new Server(server, { maxHttpBufferSize: 1e6 });
const chat = io.of('/chat');
chat.use((socket, next) => {
  const { user, token } = socket.handshake.auth || {};
  if (user && tokens.has(user) && tokens.get(user) === token) return next();
  refused += 1;
  return next(new Error('unauthorized'));
});
chat.on('connection', (socket) => {
  socket.on('join', (room) => {
    if (typeof room !== 'string') return;
    socket.join(room);
    socket.emit('joined', room);
  });
  socket.on('chat message', (msg) => {
    if (!msg || typeof msg.room !== 'string' || !socket.rooms.has(msg.room)) return;
    chat.to(msg.room).emit('chat message', msg);
  });
});
process.on('SIGTERM', () => {
  console.error(`refused ${refused}`);
  process.exit(0);
});

server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
