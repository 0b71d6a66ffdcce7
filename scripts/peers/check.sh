#!/usr/bin/env bash
# Points `pushpoll load` at servers nobody here wrote (the notes' Node `ws`
# broadcast server, an express-ws `/talk` route, socket.io's chat example
# over each Engine.IO transport) and fails unless every message reaches
# every subscriber exactly once, in order.
# Usage: scripts/peers/check.sh [path/to/pushpoll]   (run install.sh first)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pushpoll="${1:-$here/../../target/release/pushpoll}"
out="${OUT_DIR:-$here/../../target/peers}"
mkdir -p "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# start_peer SCRIPT: starts it on a free port and sets $port.
start_peer() {
  local log="$out/$1.log"
  timeout 300 node "$here/$1" 0 >"$log" 2>&1 &
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

start_peer ws-broadcast.js
run_load node-ws "ws://127.0.0.1:$port/"
start_peer express-ws-talk.js
run_load express-ws "ws://127.0.0.1:$port/talk"
run_socketio() { # MODE URL
  echo "== pushpoll load against socket.io, --socketio-transport $1 ($2)"
  timeout 120 "$pushpoll" load --url "$2" --transport socket.io --socketio-transport "$1" \
    --subscribers 100 --rate 20 --duration 3 --payload-bytes 64 \
    --json "$out/socketio-$1.json" --slo loss=0,dup=0,reorder=0
}

start_peer socketio-chat.js
for mode in polling websocket upgrade; do
  run_socketio "$mode" "http://127.0.0.1:$port"
done
echo "peers OK"
