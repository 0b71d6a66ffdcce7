#!/usr/bin/env bash
# A server's CPU per delivered WebSocket message split into user space and
# kernel, at N idle subscribers and one broadcast a second: where a fan-out's
# time goes (issue #18). scripts/fanout-cost.sh gives the total beside the
# floor; this reads utime and stime apart.
#
#   cargo build --release -p pushpoll -p pushpoll-server --bin pushpoll --example floor_broadcast
#   scripts/cpu-split.sh target/release/pushpoll                          # pushpoll serve
#   scripts/cpu-split.sh target/release/examples/floor_broadcast          # the floor
#   N=2000 DURATION=40 scripts/cpu-split.sh target/release/pushpoll
#
# The server starts on 127.0.0.1:0; target/release/pushpoll's `load` holds
# N WebSocket subscribers and publishes 1 msg/s for DURATION s over its own
# WebSocket. The server's utime and stime (/proc/PID/stat) are read 6 s
# after all N are connected and 2 s before publishing ends; divided by the
# deliveries in between (N per second). Bounded: N ≤ 19,000, DURATION 20 to
# 300 s; the load run stops by itself.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:?usage: $0 PATH/TO/pushpoll-or-floor_broadcast}"
n="${N:-10000}"
d="${DURATION:-30}"
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 19000 ] || { echo "N must be 1 to 19000" >&2; exit 2; }
[[ "$d" =~ ^[0-9]+$ ]] && [ "$d" -ge 20 ] && [ "$d" -le 300 ] || { echo "DURATION must be 20 to 300 s" >&2; exit 2; }
ulimit -n $((n + 200)) 2>/dev/null || { echo "needs $((n + 200)) open files (ulimit -n)" >&2; exit 2; }
load="$root/target/release/pushpoll"
[ -x "$load" ] || { echo "build the generator first: cargo build --release -p pushpoll" >&2; exit 2; }
log="$(mktemp)"
out="$(mktemp)"
cleanup() { kill "$spid" "$lpid" 2>/dev/null || true; rm -f "$log" "$out"; }
trap cleanup EXIT
if [[ "$bin" == *floor_broadcast ]]; then
  "$bin" 0 >"$log" 2>&1 &
  spid=$!
  pattern='s/^listening \([0-9]*\)$/\1/p'; path=/
else
  RUST_LOG=error "$bin" serve --addr 127.0.0.1:0 --max-connections $((n + 1000)) 2>"$log" &
  spid=$!
  pattern='s|.*serving on http://127.0.0.1:\([0-9]*\)/.*|\1|p'; path=/ws
fi
port=""
for _ in $(seq 1 100); do
  port="$(sed -n "$pattern" "$log" | head -1)"
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "the server did not say where it listens" >&2; exit 1; }
timeout $((d + 120)) "$load" load --url "ws://127.0.0.1:$port$path" --transport ws \
  --subscribers "$n" --rate 1 --duration "$d" --idle 5 --grace 2 >"$out" 2>&1 &
lpid=$!
for _ in $(seq 1 240); do
  [ "$(ls /proc/$spid/fd | wc -l)" -ge "$n" ] && break
  sleep 0.5
done
sleep 6
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$spid/stat)
sleep $((d - 8))
read -r u2 s2 < <(awk '{print $14, $15}' /proc/$spid/stat)
wait "$lpid" || true
deliveries=$((n * (d - 8)))
tick=$(getconf CLK_TCK)
python3 -c "
u, s, d, t = $((u2 - u1)), $((s2 - s1)), $deliveries, $tick
print(f'$(basename "$bin"): {d:,} deliveries: user {u / t * 1e6 / d:.2f} us, kernel {s / t * 1e6 / d:.2f} us per delivery')"
grep -E 'delivered / expected|lost / dup' "$out" || true
