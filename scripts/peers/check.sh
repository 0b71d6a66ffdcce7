#!/usr/bin/env bash
# Points `pushpoll load` at servers nobody here wrote (the notes' Node `ws`
# broadcast server, an express-ws `/talk` route, socket.io's chat example
# over each Engine.IO transport, a sockjs-node chat over websocket,
# xhr-streaming and xhr-polling, a Faye server over both Bayeux transports)
# and fails unless every message reaches every subscriber exactly once, in
# order.
# Then cross-checks pushpoll's counting against ref-client.js, an independent
# Node `ws` client (see its header): same peer, same run shape, delivered
# counts equal and bytes per delivered message within 2 %.
# Usage: scripts/peers/check.sh [path/to/pushpoll]   (run install.sh first)
# Then servers that speak an application protocol: socket.io with a
# namespace, per-user tokens checked by a middleware and rooms joined by an
# event (socketio-rooms), and a GraphQL subscription server (graphql-ws,
# published to by HTTP mutations): `--rooms`, `--users`, `--on-connect`,
# `--publish-template` and `--socketio-auth`, measured exactly per room.
# PEERS_ONLY="crosscheck" (any of: node-ws express-ws socketio
# socketio-rooms graphql sockjs faye crosscheck) runs only the steps named.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pushpoll="${1:-$here/../../target/release/pushpoll}"
out="${OUT_DIR:-$here/../../target/peers}"
mkdir -p "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

want() { [ -z "${PEERS_ONLY:-}" ] || [[ " $PEERS_ONLY " == *" $1 "* ]]; }

# start_peer SCRIPT [LOGNAME [ARG...]]: starts it on a free port and sets $port.
start_peer() {
  local log="$out/${2:-$1}.log"
  timeout 300 node "$here/$1" 0 "${@:3}" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    port=$(awk '/^listening /{print $2; exit}' "$log")
    if [ -n "$port" ]; then return 0; fi
    sleep 0.1
  done
  echo "$1 did not start:" >&2
  cat "$log" >&2
  return 1
}

run_load() { # NAME URL
  echo "== pushpoll load against $1 ($2)"
  timeout 120 "$pushpoll" load --url "$2" --transport ws --subscribers 100 --rate 20 \
    --duration 3 --payload-bytes 64 --json "$out/$1.json" --slo loss=0,dup=0,reorder=0
}

if want node-ws; then
  start_peer ws-broadcast.js
  run_load node-ws "ws://127.0.0.1:$port/"
fi
if want express-ws; then
  start_peer express-ws-talk.js
  run_load express-ws "ws://127.0.0.1:$port/talk"
fi
run_socketio() { # MODE URL
  echo "== pushpoll load against socket.io, --socketio-transport $1 ($2)"
  timeout 120 "$pushpoll" load --url "$2" --transport socket.io --socketio-transport "$1" \
    --subscribers 100 --rate 20 --duration 3 --payload-bytes 64 \
    --json "$out/socketio-$1.json" --slo loss=0,dup=0,reorder=0
}

if want socketio; then
  start_peer socketio-chat.js
  for mode in polling websocket upgrade; do
    run_socketio "$mode" "http://127.0.0.1:$port"
  done
fi

run_bayeux() { # MODE URL
  echo "== pushpoll load against Faye, --bayeux-transport $1 ($2)"
  timeout 120 "$pushpoll" load --url "$2" --transport bayeux --bayeux-transport "$1" \
    --subscribers 100 --rate 20 --duration 3 --payload-bytes 64 \
    --json "$out/faye-$1.json" --slo loss=0,dup=0,reorder=0
}

if want faye; then
  start_peer faye.js
  for mode in long-polling websocket; do
    run_bayeux "$mode" "http://127.0.0.1:$port/faye"
  done
fi

# socket.io as deployed chats run it: 100 subscribers in 4 rooms, each user
# with its own token (a wrong one is refused by the server's middleware),
# joining its room by an event; 4 publishers, one a room, emitting
# `{room, text}` objects. Loss is counted per room and summed.
if want socketio-rooms; then
  users="$out/socketio-users.csv"
  { echo "name,token"; for i in $(seq 0 103); do echo "user$i,t$RANDOM$i"; done; } >"$users"
  start_peer socketio-rooms.js socketio-rooms "$users"
  # examples/socketio-rooms.toml holds the protocol; the port, the users
  # file and the transport are this run's.
  for mode in polling websocket upgrade; do
    echo "== pushpoll load --scenario examples/socketio-rooms.toml, --socketio-transport $mode"
    timeout 120 "$pushpoll" load --scenario "$here/../../examples/socketio-rooms.toml" \
      --url "http://127.0.0.1:$port" --socketio-transport "$mode" --users "$users" \
      --duration 3 --json "$out/socketio-rooms-$mode.json"
  done
  # The middleware is real: a token that is not the user's is refused.
  bad="$out/socketio-bad-users.csv"
  { echo "name,token"; for i in $(seq 0 3); do echo "user$i,wrong"; done; } >"$bad"
  if timeout 60 "$pushpoll" load --url "http://127.0.0.1:$port" --transport socket.io \
      --socketio-transport websocket --socketio-namespace /chat --users "$bad" \
      --socketio-auth '{"user":"{user.name}","token":"{user.token}"}' \
      --subscribers 3 --rate 5 --duration 1 --ramp-timeout 5 --json "$out/socketio-bad.json" \
      --slo loss=0 >/dev/null 2>&1; then
    echo "socketio-rooms: a run with wrong tokens met its SLO; the auth check is not real" >&2
    exit 1
  fi
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).runs[0];
    if (r.subscribers_connected !== 0 || !r.errors.sio_connect_error) {
      console.error("wrong tokens: expected 0 connected and sio_connect_error", r.subscribers_connected, r.errors);
      process.exit(1);
    }' "$out/socketio-bad.json"
fi

# A GraphQL subscription server: graphql-transport-ws over WebSocket
# (connection_init, wait for connection_ack, subscribe with the room as a
# variable), publishing by HTTP mutation with a JSON template.
if want graphql; then
  start_peer graphql-ws.js
  echo "== pushpoll load --scenario examples/graphql-ws.toml (subscriptions, mutations by POST)"
  timeout 120 "$pushpoll" load --scenario "$here/../../examples/graphql-ws.toml" \
    --url "ws://127.0.0.1:$port/graphql" --publish-url "http://127.0.0.1:$port/graphql" \
    --duration 3 --json "$out/graphql-ws.json"
fi

# The scenario files under examples/ (their port replaced by the peer's).
run_sockjs() { # MODE URL
  echo "== pushpoll load against sockjs, examples/sockjs-$1.toml ($2)"
  timeout 120 "$pushpoll" load --scenario "$here/../../examples/sockjs-$1.toml" --url "$2" \
    --subscribers 100 --rate 20 --duration 3 --payload-bytes 64 \
    --json "$out/sockjs-$1.json" --slo loss=0,dup=0,reorder=0
}

if want sockjs; then
  start_peer sockjs-chat.js
  for mode in websocket xhr-streaming xhr-polling; do
    run_sockjs "$mode" "http://127.0.0.1:$port/chat"
  done
fi

# Cross-check: ref-client.js and pushpoll load, each against a fresh
# ws-broadcast.js (so neither sees the other's connections), with one shape:
# 100 subscribers, 1 publisher, 60 messages (20/s for 3 s), 64-byte payloads,
# one URL (path /ws spelled out: pushpoll turns a bare `/` into `/ws`, and the
# request line is counted).
# Both count bytes at the subscriber sockets over the whole run, handshakes
# included (pushpoll: active = total - idle, and --idle is 0 here), and divide
# by delivered. The handshake is in both windows on purpose, as it is what a
# subscriber costs; it is the one place the clients could differ
# (tungstenite's upgrade request vs ws's, deflate not offered by either). As
# measured they do not: both send 156 bytes and read 129, so the rows match
# to the byte (70.75 B a delivery: 66 B frames + 285 B handshake / 60). After
# the handshake it is the same server writing the same frames of the same
# payload size, so a difference beyond 2 % is a counting error.
if want crosscheck; then
  echo "== cross-check: ref-client.js vs pushpoll load on ws-broadcast.js"
  start_peer ws-broadcast.js ws-broadcast-ref
  timeout 60 node "$here/ref-client.js" --url "ws://127.0.0.1:$port/ws" \
    --subscribers 100 --publishers 1 --messages 60 --rate 20 --payload-bytes 64 \
    --grace 2 >"$out/crosscheck-ref.json"
  start_peer ws-broadcast.js ws-broadcast-pushpoll
  timeout 120 "$pushpoll" load --url "ws://127.0.0.1:$port/ws" --transport ws \
    --subscribers 100 --publishers 1 --rate 20 --duration 3 --payload-bytes 64 \
    --idle 0 --grace 2 --json "$out/crosscheck-pushpoll.json" >"$out/crosscheck-pushpoll.txt"
  node - "$out/crosscheck-ref.json" "$out/crosscheck-pushpoll.json" <<'JS'
const fs = require('fs');
const [ref, ppFile] = process.argv.slice(2).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
const pp = ppFile.runs[0];
const rows = [
  ['ref-client.js', ref.subscribers, ref.published, ref.delivered, ref.bytes_up, ref.bytes_down, ref.bytes_per_delivered],
  ['pushpoll load', pp.subscribers_connected, pp.published, pp.delivered, pp.bytes_up, pp.bytes_down, pp.bytes_per_delivered],
];
console.log(['tool', 'subscribers', 'published', 'delivered', 'bytes_up', 'bytes_down', 'bytes/delivered'].join('\t'));
for (const r of rows) console.log(r.map((v) => (typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : v)).join('\t'));
const fails = [];
for (const [name, subs, pub, del] of rows) {
  if (del !== subs * pub) fails.push(`${name}: delivered ${del} != subscribers ${subs} x published ${pub}`);
}
if (ref.duplicated || pp.duplicated) fails.push(`duplicates: ref ${ref.duplicated}, pushpoll ${pp.duplicated}`);
if (ref.delivered !== pp.delivered) fails.push(`delivered differs: ref ${ref.delivered}, pushpoll ${pp.delivered}`);
const diff = Math.abs(pp.bytes_per_delivered - ref.bytes_per_delivered) / ref.bytes_per_delivered;
console.log(`bytes per delivered differ by ${(100 * diff).toFixed(2)} % (bound 2 %)`);
if (!(diff <= 0.02)) fails.push(`bytes per delivered differ by ${(100 * diff).toFixed(2)} %, more than 2 %`);
if (fails.length) {
  console.error(`cross-check FAILED:\n  ${fails.join('\n  ')}`);
  process.exit(1);
}
JS
fi
echo "peers OK"
