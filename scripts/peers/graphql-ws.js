// A GraphQL subscription server (graphql-ws, the `graphql-transport-ws`
// subprotocol) with a room-scoped chat: a client sends `connection_init`,
// waits for `connection_ack`, then `subscribe`s to
// `subscription($r: String!) { messageAdded(room: $r) { room text } }`.
// Messages are published by an HTTP mutation, as such APIs are written to:
// `POST /graphql` with `{"query":"mutation($r: String!, $t: String!) {
// post(room: $r, text: $t) }","variables":{...}}`, answered
// `{"data":{"post":true}}` once every subscriber of the room has it queued.
// Usage: node graphql-ws.js [port]   (prints "listening PORT")
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');
const { useServer } = require('graphql-ws/use/ws');
const { buildSchema, graphql } = require('graphql');

const port = Number(process.argv[2] || process.env.PORT || 4000);

const schema = buildSchema(`
  type Message { room: String! text: String! }
  type Query { ok: Boolean }
  type Mutation { post(room: String!, text: String!): Boolean }
  type Subscription { messageAdded(room: String!): Message }
`);

// Room -> set of subscriber queues (each an async iterator's feed).
const rooms = new Map();
function subscribe(room) {
  const queue = [];
  let wake = null;
  let done = false;
  const feed = (msg) => {
    queue.push(msg);
    if (wake) { wake(); wake = null; }
  };
  if (!rooms.has(room)) rooms.set(room, new Set());
  rooms.get(room).add(feed);
  return {
    [Symbol.asyncIterator]() { return this; },
    async next() {
      while (!done && queue.length === 0) await new Promise((r) => { wake = r; });
      if (done) return { value: undefined, done: true };
      return { value: { messageAdded: queue.shift() }, done: false };
    },
    async return() {
      done = true;
      rooms.get(room)?.delete(feed);
      if (wake) { wake(); wake = null; }
      return { value: undefined, done: true };
    },
  };
}

const root = {
  ok: () => true,
  post: ({ room, text }) => {
    for (const feed of rooms.get(room) || []) feed({ room, text });
    return true;
  },
  messageAdded: ({ room }) => subscribe(room),
};

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/graphql') {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('POST /graphql (mutations), or a graphql-transport-ws WebSocket at /graphql\n');
    return;
  }
  let body = '';
  req.on('data', (c) => { body += c; if (body.length > 1e6) req.destroy(); });
  req.on('end', async () => {
    let q;
    try { q = JSON.parse(body); } catch (e) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: 'body is not JSON' }] }));
      return;
    }
    const result = await graphql({ schema, source: q.query, rootValue: root, variableValues: q.variables });
    res.writeHead(result.errors ? 400 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(result));
  });
});

const wss = new WebSocketServer({ server, path: '/graphql' });
useServer({
  schema,
  roots: { subscription: { messageAdded: (args) => root.messageAdded(args) } },
}, wss);

server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
