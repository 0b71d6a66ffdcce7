#!/usr/bin/env bash
# Load generator headroom: is `pushpoll load` ever the bottleneck?
#
# 1. Short polling against wrk: the same `pushpoll serve`, the same endpoint
#    (`GET /messages?since=…`, answered empty), the same number of keep-alive
#    connections, each tool polling back to back for the same time; wrk's
#    request rate is the reference (pushpoll must reach ≥ 90 % of it).
# 2. WebSocket: the generator's CPU per received message (its process CPU
#    time over the publishing window ÷ deliveries) at rising rates against
#    `pushpoll serve`, a server that only relays, and which of the two used
#    up its core first.
#
#   cargo build --release -p pushpoll && apt-get install wrk
#   scripts/wrk-vs-pushpoll.sh                                   # ~2 minutes
#   scripts/wrk-vs-pushpoll.sh --connections 100 --duration 10 --out results/<dir>/generator
#
# Server on CPU 0, generator (wrk or pushpoll load) on CPU 1 (`taskset`;
# `--no-pin` shares both). Each pair alternates wrk and pushpoll `--rounds`
# times so drift on a shared machine hits both alike; medians are compared.
# CPU figures: utime+stime from /proc (server) and the shell's `times`
# (generator), over the whole command.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
conns=100 duration=5 rounds=3 out="" pin=1 subs=500
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) conns="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    --ws-subscribers) subs="$2"; shift ;;
    --out) out="$2"; shift ;;
    --no-pin) pin=0 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done
for v in "$conns" "$duration" "$rounds" "$subs"; do
  [[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -ge 1 ] || { echo "--connections, --duration, --rounds and --ws-subscribers take positive integers, got $v" >&2; exit 64; }
done
[ "$conns" -le 5000 ] && [ "$subs" -le 5000 ] && [ "$duration" -le 60 ] && [ "$rounds" -le 10 ] || {
  echo "bounds: --connections and --ws-subscribers ≤ 5000, --duration ≤ 60, --rounds ≤ 10" >&2; exit 64; }
bin="$root/target/release/pushpoll"
[ -x "$bin" ] || { echo "$bin missing: cargo build --release -p pushpoll" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 2; }
ulimit -n $((conns + subs + 512)) 2>/dev/null || true
if [ "$pin" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  srv=(taskset -c 0) gen=(taskset -c 1) pinning="server on CPU 0, generator on CPU 1 (taskset)"
else
  srv=() gen=() pinning="not pinned"
fi
work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

"${srv[@]}" "$bin" serve --addr 127.0.0.1:0 >"$work/serve.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(grep -oE '127\.0\.0\.1:[0-9]+' "$work/serve.log" | head -n1 | cut -d: -f2 || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/serve.log" >&2; echo "server did not start" >&2; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
# secs "0m1.230s 0m0.450s": the sum of a `times` line, seconds.
secs() { python3 -c 'import re,sys; print(sum(int(a)*60+float(b) for a,b in re.findall(r"(\d+)m([\d.]+)s", sys.argv[1])))' "$1"; }

# Nothing is published before wrk runs, so `since=0` is answered empty, as
# pushpoll's polls (since = the last sequence number) mostly are.
url="http://127.0.0.1:$port/messages"
: >"$work/poll.tsv"
for round in $(seq 1 "$rounds"); do
  t0=$(ticks)
  g=$( { "${gen[@]}" timeout 120 wrk -t1 -c"$conns" -d"${duration}s" "$url?since=0" >"$work/wrk-$round.txt" 2>&1 || true; times; } | tail -n1)
  t1=$(ticks)
  rps=$(awk '/^Requests\/sec:/{print $2}' "$work/wrk-$round.txt")
  total=$(awk '/requests in/{print $1}' "$work/wrk-$round.txt")
  printf 'wrk\t%s\t%s\t%s\t%s\t%s\n' "$round" "$rps" "$total" "$(secs "$g")" "$(echo "($t1 - $t0) / $hz" | bc -l)" >>"$work/poll.tsv"
  echo "  wrk round $round: $rps requests/s" >&2
  t0=$(ticks)
  # --rate 2: a message every 0.5 s keeps the publishing window as long as the
  # run, and almost every answer stays empty, like wrk's.
  g=$( { "${gen[@]}" timeout 120 "$bin" load --url "$url" --transport short-poll --subscribers "$conns" \
      --poll-interval 0.0001 --rate 2 --duration "$duration" --grace 1 --json "$work/poll-$round.json" \
      >"$work/poll-$round.txt" 2>&1 || true; times; } | tail -n1)
  t1=$(ticks)
  read -r rps total gcpu < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["runs"][0]; print(r["requests"]/r["active_s"], r["requests"], r["generator_cpu_s"])' "$work/poll-$round.json")
  printf 'pushpoll\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$rps" "$total" "$(secs "$g")" "$(echo "($t1 - $t0) / $hz" | bc -l)" "$gcpu" >>"$work/poll.tsv"
  echo "  pushpoll round $round: $rps requests/s" >&2
done

# WebSocket: rising rates, generator CPU per delivery.
: >"$work/ws.tsv"
for rate in 20 50 100 200 400; do
  t0=$(ticks)
  g=$( { "${gen[@]}" timeout 120 "$bin" load --url "ws://127.0.0.1:$port/ws" --subscribers "$subs" --rate "$rate" \
      --duration "$duration" --grace 2 --server-metrics-url "http://127.0.0.1:$port/metrics" --json "$work/ws-$rate.json" >"$work/ws-$rate.txt" 2>&1 || true; times; } | tail -n1)
  t1=$(ticks)
  python3 - "$work/ws-$rate.json" "$rate" "$(echo "($t1 - $t0) / $hz" | bc -l)" >>"$work/ws.tsv" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["runs"][0]
print("\t".join(str(x) for x in [sys.argv[2], r["delivered"], r["delivered"] / r["active_s"], r["active_s"],
      r["generator_cpu_s"], r["server_cpu_s"] if r["server_cpu_s"] is not None else float(sys.argv[3]),
      r["latency_us"]["p99"], r["lost"], sum(r["errors"].values())]))
PY
  echo "  ws $rate msg/s: done" >&2
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

machine="$(nproc) CPUs ($(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)), $(uname -sr), $( (wrk -v 2>&1 || true) | head -n1 | cut -d" " -f1-2)"
command="scripts/wrk-vs-pushpoll.sh --connections $conns --duration $duration --rounds $rounds --ws-subscribers $subs$([ "$pin" = 1 ] || echo ' --no-pin')"
report=$(python3 - "$work/poll.tsv" "$work/ws.tsv" "$conns" "$duration" "$subs" "$pinning" "$load_before" "$load_after" "$machine" "$command" "$started" <<'PY'
import statistics, sys
poll, ws, conns, duration, subs, pinning, lb, la, machine, command, started = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(poll) if l.strip()]
print(f"Generator headroom, started {started}; {pinning}; load average before {lb}, after {la}.")
print(f"Machine: {machine}.")
print()
print(f"Short polling, {conns} keep-alive connections polling back to back for {duration} s, `GET /messages?since=…` answered empty:")
print()
print("| tool | round | requests/s | requests | generator CPU s (whole command) | µs generator CPU / request | server CPU s |")
print("|---|---:|---:|---:|---:|---:|---:|")
rates = {"wrk": [], "pushpoll": []}
for r in rows:
    tool, rnd, rps, total, gcpu, scpu = r[:6]
    rates[tool].append(float(rps))
    print(f"| {tool} | {rnd} | {float(rps):,.0f} | {int(float(total)):,} | {float(gcpu):.2f} | {float(gcpu) / max(float(total), 1) * 1e6:.1f} | {float(scpu):.2f} |")
w, p = statistics.median(rates["wrk"]), statistics.median(rates["pushpoll"])
print()
print(f"Median: wrk {w:,.0f} requests/s, pushpoll load {p:,.0f} requests/s = {p / w * 100:.0f} % of wrk "
      f"(target ≥ 90 %: {'met' if p >= 0.9 * w else 'NOT met'}).")
print()
print(f"WebSocket, {subs} subscribers, 64-byte messages, {duration} s per rate, against `pushpoll serve` (it only relays):")
print()
print("| rate (msg/s) | deliveries/s | p99 (ms) | lost | errors | generator CPU µs / delivery | generator core busy | server CPU µs / delivery | server core busy |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for l in open(ws):
    if not l.strip():
        continue
    rate, d, dps, active, gcpu, scpu, p99, lost, errors = l.split("\t")
    d, dps, active, gcpu, scpu = int(d), float(dps), float(active), float(gcpu), float(scpu)
    print(f"| {rate} | {dps:,.0f} | {int(p99) / 1000:.1f} | {lost} | {errors.strip()} | {gcpu / max(d, 1) * 1e6:.2f} | {gcpu / active * 100:.0f} % | "
          f"{scpu / max(d, 1) * 1e6:.2f} | {scpu / active * 100:.0f} % |")
print()
print("Both CPU figures cover the publishing window: the generator's process time (`generator_cpu_s` in")
print("the JSON) and the server's `process_cpu_seconds_total` read from its /metrics before and after")
print("(`server_cpu_s`); \"core busy\" is that CPU time over the window's length.")
print()
print(f"command: {command}")
PY
)
echo "$report"
if [ -n "$out" ]; then
  mkdir -p "$out"
  echo "$report" >"$out/wrk-vs-pushpoll.md"
  echo "wrote $out/wrk-vs-pushpoll.md" >&2
fi
