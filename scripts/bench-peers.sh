#!/usr/bin/env bash
# The same WebSocket broadcast workload against pushpoll serve, the notes'
# Node `ws` server and a socket.io server, stepping the publish rate up until
# p99 latency passes 50 ms or a message is lost. Reports, per server, the
# highest sustained deliveries/s that met both, the server's CPU seconds per
# million deliveries and its RSS, as ratios to the Node `ws` server measured
# in the same run.
#
# Usage: scripts/bench-peers.sh [--subscribers N] [--duration S] [--out FILE]
# Needs: cargo build --release -p pushpoll; scripts/peers/install.sh.
# Generator and servers share this machine: on 2 cores the generator may be
# the limit; the table says which server saturated first all the same.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
subs=200 duration=5 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --subscribers) subs="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --out) out="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
  shift
done
bin="$root/target/release/pushpoll"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
rates=(20 50 100 200 400 800 1600 3200)

# start NAME CMD...: starts a server whose output says "... PORT" on its
# first listening line, sets $pid and $port.
start() {
  local name="$1"; shift
  "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 1 100); do
    port=$(grep -oE '(listening |127\.0\.0\.1:)[0-9]+' "$work/$name.log" | head -n1 | grep -oE '[0-9]+$' || true)
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "$name did not start" >&2; cat "$work/$name.log" >&2; return 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }

# bench NAME URL [load args...]: steps the rate up, prints one result line.
bench() {
  local name="$1" url="$2"; shift 2
  local best_rate=0 best_dps=0 best_cpu=0 best_rss=0 best_p99=0
  for rate in "${rates[@]}"; do
    local t0; t0=$(cpu_ticks "$pid")
    if timeout 120 "$bin" load --url "$url" --subscribers "$subs" --rate "$rate" --duration "$duration" \
        --json "$work/$name-$rate.json" --slo p99=50ms,loss=0 "$@" >"$work/$name-$rate.txt" 2>&1; then
      local t1; t1=$(cpu_ticks "$pid")
      read -r dps p99 < <(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['runs'][0]; print(r['delivered']/r['active_s'], r['latency_us']['p99'])" "$work/$name-$rate.json")
      best_rate=$rate best_dps=$dps best_p99=$p99 best_rss=$(rss_kib "$pid")
      # CPU seconds per million deliveries (clock ticks are 1/100 s).
      best_cpu=$(python3 -c "import sys,json; r=json.load(open(sys.argv[1]))['runs'][0]; print(($2-$3)/100/max(r['delivered'],1)*1e6)" "$work/$name-$rate.json" "$t1" "$t0")
    else
      echo "  $name: missed at $rate msg/s: $(grep -m1 'SLO missed' "$work/$name-$rate.txt" || tail -n1 "$work/$name-$rate.txt")" >&2
      break
    fi
  done
  echo "$name $best_rate $best_dps $best_p99 $best_cpu $best_rss"
}

results="$work/results.txt"
: >"$results"
start pushpoll "$bin" serve --addr 127.0.0.1:0
bench pushpoll "ws://127.0.0.1:$port/ws" >>"$results"; kill "$pid"; wait "$pid" 2>/dev/null || true
start node-ws node scripts/peers/ws-broadcast.js 0
bench node-ws "ws://127.0.0.1:$port/" >>"$results"; kill "$pid"; wait "$pid" 2>/dev/null || true
if "$bin" load --help | grep -q -- '--socketio-transport'; then
  start socket.io node scripts/peers/socketio-chat.js 0
  bench socket.io "http://127.0.0.1:$port" --transport socket.io --socketio-transport websocket >>"$results"
  kill "$pid"; wait "$pid" 2>/dev/null || true
fi
pid=""

report=$(python3 - "$results" "$subs" "$duration" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
base = next((r for r in rows if r[0] == 'node-ws'), None)
def ratio(v, b):
    return f"{v / b:.2f}x" if b else "-"
print(f"WebSocket broadcast, {sys.argv[2]} subscribers, {sys.argv[3]} s per step, rate doubled until p99 > 50 ms or loss")
print()
print("| server | highest passing rate (msg/s) | deliveries/s | vs node ws | p99 (ms) | CPU s per 1M deliveries | vs node ws | RSS (MiB) | vs node ws |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, rate, dps, p99, cpu, rss in rows:
    dps, p99, cpu, rss = float(dps), float(p99) / 1000, float(cpu), float(rss) / 1024
    b = [float(x) for x in base[2:]] if base else None
    print(f"| {name} | {rate} | {dps:,.0f} | {ratio(dps, b[0]) if b else '-'} | {p99:.1f} | {cpu:.1f} | "
          f"{ratio(cpu, b[2]) if b else '-'} | {rss:.1f} | {ratio(rss, b[3] / 1024) if b else '-'} |")
PY
)
echo "$report"
if [ -n "$out" ]; then
  mkdir -p "$(dirname "$out")"
  { echo "$report"; echo; echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), $(uname -sr)"; echo "command: scripts/bench-peers.sh --subscribers $subs --duration $duration"; } >"$out"
fi
