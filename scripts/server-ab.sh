#!/usr/bin/env bash
# Two server binaries side by side: server CPU per delivered message (and
# loss, p99) under the same load, rounds alternating before/after so the
# shared machine's drift falls on both. Written as a Markdown table with the
# medians and their ratio.
#
#   scripts/server-ab.sh OLD/pushpoll NEW/pushpoll            # 4 rounds
#   ROUNDS=6 TRANSPORTS="sse long-poll ws" scripts/server-ab.sh A B > ab.md
#
# Each row is a fresh `A serve` or `B serve`, loaded by NEW's `pushpoll
# load` (the same generator for both): SUBSCRIBERS [1000] subscribers,
# RATE [20] msg/s for DURATION [8] s, the server's CPU read from its
# /metrics. Bounded: each load run 60 s at most. 127.0.0.1 only.
set -euo pipefail

if [ $# -ne 2 ] || [ ! -x "$1" ] || [ ! -x "$2" ]; then
  echo "usage: $0 BEFORE/pushpoll AFTER/pushpoll   (env: ROUNDS TRANSPORTS SUBSCRIBERS RATE DURATION)" >&2
  exit 2
fi
before="$(realpath "$1")"
after="$(realpath "$2")"
rounds="${ROUNDS:-4}"
transports="${TRANSPORTS:-sse long-poll}"
subscribers="${SUBSCRIBERS:-1000}"
rate="${RATE:-20}"
duration="${DURATION:-8}"
for v in "$rounds" "$subscribers" "$rate"; do
  [[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -gt 0 ] || { echo "ROUNDS, SUBSCRIBERS and RATE must be positive integers" >&2; exit 2; }
done
work="$(mktemp -d)"
server_pid=""
port=""
command -v curl >/dev/null || { echo "needs curl" >&2; exit 2; }
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

path_of() {
  case "$1" in
    sse) echo /events ;;
    long-poll | short-poll) echo /messages ;;
    ws) echo /ws ;;
    *) echo "unknown transport $1 (sse, long-poll, short-poll, ws)" >&2; exit 2 ;;
  esac
}

# Starts `$1 serve` on a free port below the ephemeral range (the
# generator's own sockets take ports there); sets `port` and `server_pid`.
start_server() {
  local bin="$1"
  for _ in 1 2 3 4 5 6 7 8; do
    port=$((10000 + RANDOM % 10000))
    "$bin" serve --addr "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 50); do
      if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
        return
      fi
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  done
  echo "could not start $bin serve: $(tail -1 "$work/serve.log")" >&2
  exit 1
}

echo "| round | transport | server | delivered | lost | server CPU µs per delivery | p99 ms |"
echo "|---:|---|---|---:|---:|---:|---:|"
for round in $(seq "$rounds"); do
  for t in $transports; do
    url_path="$(path_of "$t")"
    for side in before after; do
      bin="$before"
      [ "$side" = after ] && bin="$after"
      start_server "$bin"
      scheme=http
      [ "$t" = ws ] && scheme=ws
      json="$work/$t-$side-$round.json"
      timeout 60 "$after" load --url "$scheme://127.0.0.1:$port$url_path" --transport "$t" \
        --publish-url "http://127.0.0.1:$port/messages" \
        --subscribers "$subscribers" --rate "$rate" --duration "$duration" \
        --server-metrics-url "http://127.0.0.1:$port/metrics" --json "$json" >/dev/null 2>&1 || true
      kill "$server_pid" 2>/dev/null || true
      wait "$server_pid" 2>/dev/null || true
      server_pid=""
      python3 - "$json" "$round" "$t" "$side" <<'EOF'
import json, sys
path, rnd, t, side = sys.argv[1:]
try:
    r = json.load(open(path))["runs"][0]
except (OSError, ValueError, KeyError, IndexError):
    print(f"| {rnd} | {t} | {side} | run failed | | | |")
    sys.exit(0)
cpu = r.get("server_cpu_us_per_delivered")
p99 = (r.get("latency_us") or {}).get("p99")
cpu_s = f"{cpu:.2f}" if cpu is not None else ""
p99_s = f"{p99 / 1000:.1f}" if p99 is not None else ""
print(f"| {rnd} | {t} | {side} | {r['delivered']:,} | {r['lost']:,} | {cpu_s} | {p99_s} |")
EOF
    done
  done
done | tee "$work/rows.md"

echo
echo "Medians over $rounds rounds (after / before):"
echo
python3 - "$work/rows.md" <<'EOF'
import statistics, sys
cpu = {}
for line in open(sys.argv[1]):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 7 and cells[5]:
        try:
            cpu.setdefault((cells[1], cells[2]), []).append(float(cells[5]))
        except ValueError:
            pass
print("| transport | before µs | after µs | after / before |")
print("|---|---:|---:|---:|")
for t in sorted({t for t, _ in cpu}):
    b, a = cpu.get((t, "before")), cpu.get((t, "after"))
    if b and a:
        mb, ma = statistics.median(b), statistics.median(a)
        print(f"| {t} | {mb:.2f} | {ma:.2f} | {ma / mb:.2f}x |")
EOF
