#!/usr/bin/env bash
# Load generator headroom: is `pushpoll load` ever the bottleneck?
#
# 1. Short polling against wrk: the same endpoint (`GET /messages?since=…`,
#    answered empty), the same number of keep-alive connections, each tool
#    polling back to back for the same time; wrk's request rate is the
#    reference (pushpoll must reach ≥ 90 % of it). Every round of either tool
#    gets a fresh `pushpoll serve`: pushpoll load publishes (2 msg/s) and
#    wrk polls `since=0`, so on a shared server wrk's answers would carry
#    the earlier rounds' messages and grow round by round. The script checks
#    that both tools got answers of the same size (bytes read ÷ requests,
#    within 2 %) and exits 3 without writing --out when they did not.
# 2. WebSocket: the generator's CPU per received message (its process CPU
#    time over the publishing window ÷ deliveries) at rising rates against
#    `pushpoll serve` (a fresh one per rate), a server that only relays, and
#    which of the two used up its core first.
#
#   cargo build --release -p pushpoll && apt-get install wrk
#   scripts/wrk-vs-pushpoll.sh                                   # ~2 minutes
#   scripts/wrk-vs-pushpoll.sh --connections 100 --duration 10 --out results/<dir>/generator
#   scripts/wrk-vs-pushpoll.sh --bin /path/to/pushpoll           # another build (or PUSHPOLL_BIN=…)
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
bin="${PUSHPOLL_BIN:-$root/target/release/pushpoll}"
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) conns="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    --ws-subscribers) subs="$2"; shift ;;
    --out) out="$2"; shift ;;
    --bin) bin="$2"; shift ;;
    --no-pin) pin=0 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done
for v in "$conns" "$duration" "$rounds" "$subs"; do
  [[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -ge 1 ] || { echo "--connections, --duration, --rounds and --ws-subscribers take positive integers, got $v" >&2; exit 64; }
done
[ "$conns" -le 5000 ] && [ "$subs" -le 5000 ] && [ "$duration" -le 60 ] && [ "$rounds" -le 10 ] || {
  echo "bounds: --connections and --ws-subscribers ≤ 5000, --duration ≤ 60, --rounds ≤ 10" >&2; exit 64; }
[ -x "$bin" ] || { echo "$bin missing: cargo build --release -p pushpoll (or --bin PATH)" >&2; exit 2; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 2; }
ulimit -n $((conns + subs + 512)) 2>/dev/null || true
if [ "$pin" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  srv=(taskset -c 0) gen=(taskset -c 1) pinning="server on CPU 0, generator on CPU 1 (taskset)"
else
  srv=() gen=() pinning="not pinned"
fi
work="$(mktemp -d)"
pid="" port=""
# A fresh `pushpoll serve` on 127.0.0.1:0 for every round: sets pid and port
# (read back from its log); $1 names the log.
start_server() {
  "${srv[@]}" "$bin" serve --addr 127.0.0.1:0 >"$work/serve-$1.log" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 1 100); do
    port=$(grep -oE '127\.0\.0\.1:[0-9]+' "$work/serve-$1.log" | head -n1 | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$work/serve-$1.log" >&2; echo "server did not start" >&2; exit 1; }
}
stop_server() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  pid="" port=""
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
# secs "0m1.230s 0m0.450s": the sum of a `times` line, seconds.
secs() { python3 -c 'import re,sys; print(sum(int(a)*60+float(b) for a,b in re.findall(r"(\d+)m([\d.]+)s", sys.argv[1])))' "$1"; }

# wrk's server is fresh and nothing is published to it, so `since=0` is
# answered empty, as pushpoll's polls (since = the last sequence number)
# mostly are. wrk reports its exact bytes read and requests from a `done`
# hook (no per-request Lua, so its speed is unchanged).
cat >"$work/count.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("answer_bytes %d %d\n", summary.bytes, summary.requests))
end
LUA
: >"$work/poll.tsv"
for round in $(seq 1 "$rounds"); do
  start_server "wrk-$round"
  url="http://127.0.0.1:$port/messages"
  t0=$(ticks)
  g=$( { "${gen[@]}" timeout 120 wrk -t1 -c"$conns" -d"${duration}s" -s "$work/count.lua" "$url?since=0" >"$work/wrk-$round.txt" 2>&1 || true; times; } | tail -n1)
  t1=$(ticks)
  stop_server
  rps=$(awk '/^Requests\/sec:/{print $2}' "$work/wrk-$round.txt")
  total=$(awk '/requests in/{print $1}' "$work/wrk-$round.txt")
  bpr=$(awk '/^answer_bytes /{ if ($3 > 0) printf "%.2f", $2 / $3 }' "$work/wrk-$round.txt")
  [ -n "$rps" ] && [ -n "$total" ] && [ -n "$bpr" ] || { cat "$work/wrk-$round.txt" >&2; echo "wrk round $round gave no figures" >&2; exit 1; }
  printf 'wrk\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$rps" "$total" "$(secs "$g")" "$(echo "($t1 - $t0) / $hz" | bc -l)" "$bpr" >>"$work/poll.tsv"
  echo "  wrk round $round: $rps requests/s, $bpr bytes an answer" >&2
  start_server "pushpoll-$round"
  url="http://127.0.0.1:$port/messages"
  t0=$(ticks)
  # --rate 2: a message every 0.5 s keeps the publishing window as long as the
  # run, and almost every answer stays empty, like wrk's.
  g=$( { "${gen[@]}" timeout 120 "$bin" load --url "$url" --transport short-poll --subscribers "$conns" \
      --poll-interval 0.0001 --rate 2 --duration "$duration" --grace 1 --json "$work/poll-$round.json" \
      >"$work/poll-$round.txt" 2>&1 || true; times; } | tail -n1)
  t1=$(ticks)
  stop_server
  [ -s "$work/poll-$round.json" ] || { cat "$work/poll-$round.txt" >&2; echo "pushpoll round $round wrote no JSON" >&2; exit 1; }
  read -r rps total bpr < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["runs"][0]; print(r["requests"]/r["active_s"], r["requests"], "%.2f" % (r["bytes_down"]/max(r["requests"],1)))' "$work/poll-$round.json")
  printf 'pushpoll\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$rps" "$total" "$(secs "$g")" "$(echo "($t1 - $t0) / $hz" | bc -l)" "$bpr" >>"$work/poll.tsv"
  echo "  pushpoll round $round: $rps requests/s, $bpr bytes an answer" >&2
done

# WebSocket: rising rates, generator CPU per delivery.
: >"$work/ws.tsv"
for rate in 20 50 100 200 400; do
  start_server "ws-$rate"
  t0=$(ticks)
  g=$( { "${gen[@]}" timeout 120 "$bin" load --url "ws://127.0.0.1:$port/ws" --subscribers "$subs" --rate "$rate" \
      --duration "$duration" --grace 2 --server-metrics-url "http://127.0.0.1:$port/metrics" --json "$work/ws-$rate.json" >"$work/ws-$rate.txt" 2>&1 || true; times; } | tail -n1)
  t1=$(ticks)
  stop_server
  [ -s "$work/ws-$rate.json" ] || { cat "$work/ws-$rate.txt" >&2; echo "ws $rate msg/s wrote no JSON" >&2; exit 1; }
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
binary="$bin ($("$bin" --version 2>/dev/null | head -n1 || true))"
set +e
report=$(python3 - "$work/poll.tsv" "$work/ws.tsv" "$conns" "$duration" "$subs" "$pinning" "$load_before" "$load_after" "$machine" "$command" "$started" "$binary" <<'PY'
import statistics, sys
poll, ws, conns, duration, subs, pinning, lb, la, machine, command, started, binary = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(poll) if l.strip()]
print(f"Generator headroom, started {started}; {pinning}; load average before {lb}, after {la}.")
print(f"Machine: {machine}. Binary: {binary}.")
print()
print(f"Short polling, {conns} keep-alive connections polling back to back for {duration} s, `GET /messages?since=…` answered empty,")
print("a fresh `pushpoll serve` for every round of either tool. Bytes / answer is what the tool read per request, headers")
print("included (wrk: its summary's bytes ÷ requests; pushpoll: `bytes_down` ÷ `requests`):")
print()
print("| tool | round | requests/s | requests | bytes / answer | generator CPU s (whole command) | µs generator CPU / request | server CPU s |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
rates = {"wrk": [], "pushpoll": []}
sizes = {"wrk": [], "pushpoll": []}
for r in rows:
    tool, rnd, rps, total, gcpu, scpu, bpr = r[:7]
    rates[tool].append(float(rps))
    sizes[tool].append(float(bpr))
    print(f"| {tool} | {rnd} | {float(rps):,.0f} | {int(float(total)):,} | {float(bpr):.1f} | {float(gcpu):.2f} | "
          f"{float(gcpu) / max(float(total), 1) * 1e6:.1f} | {float(scpu):.2f} |")
w, p = statistics.median(rates["wrk"]), statistics.median(rates["pushpoll"])
print()
print(f"Median: wrk {w:,.0f} requests/s, pushpoll load {p:,.0f} requests/s = {p / w * 100:.0f} % of wrk "
      f"(target ≥ 90 %: {'met' if p >= 0.9 * w else 'NOT met'}).")
print("Round by round (pushpoll ÷ the wrk round just before it): "
      + ", ".join(f"{b / a * 100:.0f} %" for a, b in zip(rates["wrk"], rates["pushpoll"])) + ".")
lo, hi = min(sizes["wrk"] + sizes["pushpoll"]), max(sizes["wrk"] + sizes["pushpoll"])
same = hi <= lo * 1.02
print(f"Answer size: wrk {min(sizes['wrk']):.1f}–{max(sizes['wrk']):.1f} bytes, pushpoll {min(sizes['pushpoll']):.1f}–{max(sizes['pushpoll']):.1f}: "
      + ("the same within 2 %, so the rates compare like for like." if same else
         f"NOT the same (spread {(hi / lo - 1) * 100:.1f} %, over 2 %): the rates do not compare."))
print()
print(f"WebSocket, {subs} subscribers, 64-byte messages, {duration} s per rate, against `pushpoll serve` (a fresh one per rate; it only relays):")
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
sys.exit(0 if same else 3)
PY
)
status=$?
set -e
echo "$report"
case "$status" in 0|3) ;; *) echo "the report could not be made (exit $status)" >&2; exit 1 ;; esac
if [ "$status" = 3 ]; then
  echo "wrk and pushpoll got answers of different sizes (see 'Answer size' above): not a like-for-like comparison; --out not written" >&2
  exit 3
fi
if [ -n "$out" ]; then
  mkdir -p "$out"
  echo "$report" >"$out/wrk-vs-pushpoll.md"
  echo "wrote $out/wrk-vs-pushpoll.md" >&2
fi
