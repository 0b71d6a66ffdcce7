#!/usr/bin/env bash
# Bytes per delivered WebSocket message, split into payload, frame header,
# control frames (pings and pongs, shown apart) and TCP/IP segments (from the
# kernel's TCP_INFO counters), against `pushpoll serve` and the notes' Node
# `ws` server. The runs at 1 msg/s last 40 s so that one round of the
# server's 30-s pings falls inside them.
#
#   cargo build --release -p pushpoll && scripts/peers/install.sh
#   scripts/wire-overhead.sh [--out FILE]          # ~80 s
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done
bin="$root/target/release/pushpoll"
[ -x "$bin" ] || { echo "$bin missing: cargo build --release -p pushpoll" >&2; exit 2; }
work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

start() {
  "$@" >"$work/server.log" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 1 100); do
    port=$(grep -oE '(listening |127\.0\.0\.1:)[0-9]+' "$work/server.log" | head -n1 | grep -oE '[0-9]+$' || true)
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  cat "$work/server.log" >&2; echo "server did not start" >&2; exit 1
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; }

runs=()
measure() { # NAME URL RATE DURATION
  timeout 120 "$bin" load --url "$2" --subscribers 100 --rate "$3" --duration "$4" --payload-bytes 64 \
    --json "$work/$1-$3.json" >"$work/$1-$3.txt" 2>&1
  runs+=("$1|$3|$4|$work/$1-$3.json")
  grep ' on the wire' "$work/$1-$3.txt" >&2 || true
}
start "$bin" serve --addr 127.0.0.1:0
measure pushpoll "ws://127.0.0.1:$port/ws" 1 40
measure pushpoll "ws://127.0.0.1:$port/ws" 10 10
stop
if [ -d scripts/peers/node_modules ]; then
  start node scripts/peers/ws-broadcast.js 0
  measure node-ws "ws://127.0.0.1:$port/" 1 40
  measure node-ws "ws://127.0.0.1:$port/" 10 10
  stop
fi

report=$(python3 - "${runs[@]}" <<'PY'
import json, sys
print("WebSocket, 100 subscribers, 64-byte payloads; per delivered message, over the publishing window:")
print()
print("| server | rate (msg/s) | s | payload B | frame header B | socket B without control frames | vs payload + header "
      "| control frames B / subscriber-minute | TCP segments in + out | IP+TCP header B (52 B a segment) | messages per received segment |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for arg in sys.argv[1:]:
    name, rate, dur, path = arg.split("|")
    r = json.load(open(path))["runs"][0]
    w = r["wire"]
    n = w["data_frames"]
    minimum = (w["payload_bytes"] + w["framing_bytes"]) / n
    socket = (w["payload_bytes"] + w["framing_bytes"] + w["other_bytes"]) / n
    subs_min = r["subscribers_connected"] * r["active_s"] / 60
    t = w["tcp"]
    if t:
        tcp = "%.2f | %.1f | %.2f" % ((t["segments_in"] + t["segments_out"]) / n, t["header_bytes_per_message"], t["messages_per_segment"])
    else:
        tcp = "– | – | –"
    print("| %s | %s | %s | %.1f | %.2f | %.2f | %+.2f %% | %.1f | %s |" % (
        name, rate, dur, w["payload_bytes"] / n, w["framing_bytes"] / n, socket,
        (socket / minimum - 1) * 100, w["control_bytes"] / subs_min, tcp))
print()
print("socket B: what the subscribers' sockets moved in the window (bytes up + down), less control frames;")
print("the minimum is payload + frame header. TCP figures: getsockopt(TCP_INFO) deltas on every subscriber socket.")
PY
)
{
  echo "$report"
  echo
  for r in "${runs[@]}"; do
    IFS='|' read -r name rate dur path <<<"$r"
    echo "$name, $rate msg/s: $(grep ' on the wire' "$work/$name-$rate.txt" || echo 'no wire line')"
  done
  echo
  echo "command: scripts/wire-overhead.sh ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -sr))"
} | tee "${out:-/dev/null}"
