// express-ws as in the notes: a WebSocket route `/talk` mounted beside plain
// HTTP routes on one port; every message is broadcast to every client.
// Usage: node express-ws-talk.js [port]   (prints "listening PORT")
'use strict';
const express = require('express');
const expressWs = require('express-ws');

const app = express();
const wsInstance = expressWs(app);

app.get('/data', (req, res) => res.json({ clients: wsInstance.getWss().clients.size }));
app.ws('/talk', (ws) => {
  ws.on('message', (data, isBinary) => {
    wsInstance.getWss().clients.forEach((client) => {
      if (client.readyState === 1) client.send(data, { binary: isBinary });
    });
  });
});

const server = app.listen(Number(process.argv[2] || process.env.PORT || 8080), '127.0.0.1', () =>
  console.log(`listening ${server.address().port}`),
);
