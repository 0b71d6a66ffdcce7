#!/usr/bin/env bash
# The same WebSocket broadcast workload against `pushpoll serve`, the notes'
# Node `ws` server and socket.io's chat server, stepping the publish rate up
# (×√2 a step) until a step misses p99 ≤ 50 ms or loses a message (a missed
# step is tried once more before it counts), then bisecting twice between the
# last pass and the first miss (to within ≈ 9 %). Per server: the highest
# sustained deliveries/s that met both, the p99 there and at the Node `ws`
# server's highest passing ladder rate (same load), the server's CPU seconds per
# million deliveries and its RSS, all as ratios to the Node `ws` server
# measured in the same run.
#
#   cargo build --release -p pushpoll && scripts/peers/install.sh
#   scripts/bench-peers.sh                                   # ~5 minutes on 2 cores
#   scripts/bench-peers.sh --subscribers 100 --duration 2 --max-rate 400   # a dry run
#   scripts/bench-peers.sh --out results/<dir>/peers         # keep table, steps, JSON
#
# Fairness: every server gets one core and the generator the other
# (`taskset`: server on CPU 0, `pushpoll load` on CPU 1; `--no-pin` shares
# both). So pushpoll's multi-threaded runtime runs one worker, like Node's
# one thread. Each step records the generator's own CPU use: a step whose
# generator was near 100 % of its core is marked, since there the generator,
# not the server, may have been the limit.
#
# Server CPU is utime+stime from /proc/PID/stat over the whole `load` command
# (ramp-up and grace included); RSS is VmRSS after the step. The machine's
# load average is printed before and after (other work on the machine skews
# everything). Every step is bounded (`timeout`), the whole run too.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
subs=500 duration=5 out="" pin=1 min_rate=25 max_rate=12800 payload=64 servers="pushpoll,node-ws,socket.io,floor"
while [ $# -gt 0 ]; do
  case "$1" in
    --subscribers) subs="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --min-rate) min_rate="$2"; shift ;;
    --max-rate) max_rate="$2"; shift ;;
    --servers) servers="$2"; shift ;;
    --payload-bytes) payload="$2"; shift ;;
    --out) out="$2"; shift ;;
    --no-pin) pin=0 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done
for v in "$subs" "$duration" "$min_rate" "$max_rate" "$payload"; do
  [[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -ge 1 ] || { echo "--subscribers, --duration, --min-rate, --max-rate and --payload-bytes take positive integers, got $v" >&2; exit 64; }
done
[ "$subs" -le 5000 ] || { echo "--subscribers $subs: at most 5000 (file descriptors, and a bounded run)" >&2; exit 64; }
[ "$duration" -le 30 ] || { echo "--duration $duration: at most 30 s a step (a bounded run)" >&2; exit 64; }
bin="$root/target/release/pushpoll"
[ -x "$bin" ] || { echo "$bin missing: cargo build --release -p pushpoll" >&2; exit 2; }
[ -d scripts/peers/node_modules ] || { echo "scripts/peers/node_modules missing: scripts/peers/install.sh" >&2; exit 2; }
floor_bin="$root/target/release/examples/floor_broadcast"
if [[ ",$servers," == *",floor,"* ]] && [ ! -x "$floor_bin" ]; then
  echo "$floor_bin missing: cargo build --release -p pushpoll-server --example floor_broadcast (or leave floor out of --servers)" >&2; exit 2
fi
ulimit -n $((subs * 2 + 512)) 2>/dev/null || true

if [ "$pin" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 0) gen_cpu=(taskset -c 1) pinning="server on CPU 0, generator on CPU 1 (taskset)"
else
  server_cpu=() gen_cpu=() pinning="not pinned: server and generator share $(nproc) CPUs"
fi
work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
# ×√2 per step from 25 msg/s, up to --max-rate.
rates=()
for r in 25 35 50 70 100 140 200 280 400 560 800 1120 1600 2240 3200 4480 6400 8960 12800; do
  [ "$r" -ge "$min_rate" ] && [ "$r" -le "$max_rate" ] && rates+=("$r")
done
hz=$(getconf CLK_TCK)
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# start NAME CMD...: starts a server that prints "listening PORT" or
# "127.0.0.1:PORT" once it listens; sets $pid and $port.
start() {
  local name="$1"; shift
  "${server_cpu[@]}" "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 1 100); do
    port=$(grep -oE '(listening |127\.0\.0\.1:)[0-9]+' "$work/$name.log" | head -n1 | grep -oE '[0-9]+$' || true)
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "$name did not start" >&2; cat "$work/$name.log" >&2; return 1
}

stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }

# step NAME URL RATE TRY [load args...]: one load run; appends a line to
# $work/steps.tsv; succeeds when the step met p99 ≤ 50 ms with no loss and
# no error.
step() {
  local name="$1" url="$2" rate="$3" try="$4"; shift 4
  local json="$work/$name-$rate-$try.json" t0 t1 w0 w1 gen status=0
  rm -f "$json"
  t0=$(cpu_ticks "$pid"); w0=$(date +%s.%N)
  # `times` prints the subshell's children's CPU (the generator) on its 2nd line.
  gen=$( { "${gen_cpu[@]}" timeout --kill-after=5 120 "$bin" load --url "$url" \
      --subscribers "$subs" --rate "$rate" --duration "$duration" --payload-bytes "$payload" \
      --grace 2 --json "$json" "$@" >"$work/$name-$rate-$try.txt" 2>&1 || true; times; } | tail -n1)
  t1=$(cpu_ticks "$pid"); w1=$(date +%s.%N)
  python3 - "$json" "$name" "$rate" "$try" "$((t1 - t0))" "$hz" "$w0" "$w1" "$(rss_kib "$pid")" "$gen" >>"$work/steps.tsv" <<'PY' || status=1
import json, re, sys
path, name, rate, tr, ticks, hz, w0, w1, rss, gen = sys.argv[1:]
wall = float(w1) - float(w0)
m = re.findall(r'(\d+)m([\d.]+)s', gen)
gen_cpu = sum(int(a) * 60 + float(b) for a, b in m)
try:
    r = json.load(open(path))['runs'][0]
except Exception:
    print(f"{name}\t{rate}\t{tr}\t0\t0\t0\t0\t-\t{int(ticks)/int(hz):.3f}\t{gen_cpu:.3f}\t{wall:.3f}\t{rss}\tno-result")
    sys.exit(1)
errors = sum(r['errors'].values())
ok = r['lost'] == 0 and errors == 0 and r['latency_us']['p99'] <= 50_000 and r['delivered'] > 0
print("\t".join(str(x) for x in [name, rate, tr, r['delivered'], f"{r['delivered'] / r['active_s']:.0f}",
      r['latency_us']['p99'], r['lost'], errors, f"{int(ticks) / int(hz):.3f}", f"{gen_cpu:.3f}",
      f"{wall:.3f}", rss, "pass" if ok else "miss"]))
sys.exit(0 if ok else 1)
PY
  [ "$status" = 0 ]
}

# try_rate NAME URL RATE TAG [load args...]: one rate; a miss is tried once
# more (TAG1, TAG2 in the try column). Succeeds when a try passed.
try_rate() {
  local name="$1" url="$2" rate="$3" tag="$4"; shift 4
  if step "$name" "$url" "$rate" "${tag}1" "$@"; then
    echo "  $name $rate msg/s: $(tail -n1 "$work/steps.tsv" | cut -f5,6 | awk '{printf "%s deliveries/s, p99 %.1f ms", $1, $2/1000}')" >&2
    return 0
  fi
  echo "  $name $rate msg/s: missed ($(tail -n1 "$work/steps.tsv" | cut -f5-8 | awk '{printf "%s deliveries/s, p99 %.1f ms, lost %s, errors %s", $1, $2/1000, $3, $4}')); once more" >&2
  sleep 2
  step "$name" "$url" "$rate" "${tag}2" "$@"
}

# bench NAME URL [load args...]: steps the rate up the ×√2 ladder until a
# rate misses twice, then bisects twice (on a log scale) between the last
# passing and the first missed rate, so the highest sustained rate is known
# within ×2^(1/8) ≈ 9 % instead of ×√2 ≈ 41 %. Every server gets the same
# procedure.
bench() {
  local name="$1" url="$2"; shift 2
  local pass=0 fail=0 mid
  for rate in "${rates[@]}"; do
    if try_rate "$name" "$url" "$rate" "" "$@"; then pass=$rate; else fail=$rate; break; fi
    sleep 1
  done
  [ "$pass" -gt 0 ] && [ "$fail" -gt 0 ] || return 0
  for _ in 1 2; do
    mid=$(python3 -c "import math; print(round(math.sqrt($pass * $fail)))")
    [ "$mid" -gt "$pass" ] && [ "$mid" -lt "$fail" ] || break
    sleep 1
    if try_rate "$name" "$url" "$mid" "b" "$@"; then pass=$mid; else fail=$mid; fi
  done
}

: >"$work/steps.tsv"
echo "load average before: $load_before" >&2
for server in ${servers//,/ }; do
  echo "$server" >&2
  case "$server" in
    pushpoll) start pushpoll "$bin" serve --addr 127.0.0.1:0
      bench pushpoll "ws://127.0.0.1:$port/ws" ;;
    node-ws) start node-ws node scripts/peers/ws-broadcast.js 0
      bench node-ws "ws://127.0.0.1:$port/" ;;
    socket.io) start socket.io node scripts/peers/socketio-chat.js 0
      bench socket.io "http://127.0.0.1:$port" --transport socket.io --socketio-transport websocket ;;
    floor) start floor "$floor_bin" 0
      bench floor "ws://127.0.0.1:$port/" ;;
    *) echo "--servers: unknown server $server (pushpoll, node-ws, socket.io, floor)" >&2; exit 64 ;;
  esac
  stop
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

machine="$(nproc) CPUs ($(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), node $(node --version)"
command="scripts/bench-peers.sh --subscribers $subs --duration $duration --min-rate $min_rate --max-rate $max_rate --payload-bytes $payload --servers $servers$([ "$pin" = 1 ] || echo ' --no-pin')"
report=$(python3 - "$work/steps.tsv" "$subs" "$duration" "$payload" "$pinning" "$load_before" "$load_after" "$machine" "$command" "$started" <<'PY'
import sys
path, subs, duration, payload, pinning, load_before, load_after, machine, command, started = sys.argv[1:]
cols = ["server", "rate", "try", "delivered", "dps", "p99", "lost", "errors", "server_cpu", "gen_cpu", "wall", "rss", "verdict"]
steps = [dict(zip(cols, l.rstrip("\n").split("\t"))) for l in open(path) if l.strip()]
servers = list(dict.fromkeys(s["server"] for s in steps))
best = {}
for s in steps:
    if s["verdict"] == "pass":
        b = best.get(s["server"])
        if b is None or int(s["rate"]) > int(b["rate"]):
            best[s["server"]] = s
def f(s, k): return float(s[k])
def cpu_per_m(s): return f(s, "server_cpu") / max(f(s, "delivered"), 1) * 1e6
def gen_share(s): return f(s, "gen_cpu") / max(f(s, "wall"), 1e-9)
base = best.get("node-ws")
# The p99 comparison is made at node ws's highest passing *ladder* rate,
# which every server ran (bisection rates differ per server).
ladder_best = max((s for s in steps if s["server"] == "node-ws" and s["verdict"] == "pass" and not s["try"].startswith("b")),
                  key=lambda s: int(s["rate"]), default=None)
def at_rate(server, rate):
    ok = [s for s in steps if s["server"] == server and s["rate"] == rate and s["verdict"] == "pass"]
    return ok[-1] if ok else None
def p99_at(server, rate):
    ok = [s for s in steps if s["server"] == server and s["rate"] == rate and s["verdict"] == "pass"]
    return f(ok[-1], "p99") / 1000 if ok else None
def ratio(v, b): return f"{v / b:.2f}×" if b else "–"
print(f"WebSocket broadcast: {subs} subscribers, 1 publisher, {payload}-byte text messages, {duration} s a step,")
print("rate ×√2 a step until p99 > 50 ms, loss or an error (a miss is tried once more), then two")
print("bisections between the last pass and the first miss (tries b1/b2; resolution ×2^(1/8) ≈ 9 %);")
print(f"{pinning}. Started {started}; load average before {load_before}, after {load_after}.")
print(f"Machine: {machine}.")
print()
print("| server | highest passing rate (msg/s) | deliveries/s | vs node ws | p99 there (ms) | p99 at node ws's highest ladder rate (ms) | server CPU s per 1M deliveries | vs node ws | server CPU µs / delivery at node ws's ladder rate | server RSS (MiB) | vs node ws | generator CPU there |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name in servers:
    b = best.get(name)
    if b is None:
        print(f"| {name} | none passed | | | | | | | | | | |")
        continue
    at_base = p99_at(name, ladder_best["rate"]) if ladder_best else None
    there = at_rate(name, ladder_best["rate"]) if ladder_best else None
    cpu_there = "–" if there is None else f"{cpu_per_m(there):.1f}"
    print(f"| {name} | {b['rate']} | {f(b, 'dps'):,.0f} | {ratio(f(b, 'dps'), f(base, 'dps')) if base else '–'} | "
          f"{f(b, 'p99') / 1000:.1f} | {'–' if at_base is None else f'{at_base:.1f}'} | {cpu_per_m(b):.2f} | "
          f"{ratio(cpu_per_m(b), cpu_per_m(base)) if base else '–'} | {cpu_there} | {f(b, 'rss') / 1024:.1f} | "
          f"{ratio(f(b, 'rss'), f(base, 'rss')) if base else '–'} | {gen_share(b) * 100:.0f} % |")
print()
if base:
    for name, target in [("pushpoll", 3.0)]:
        if name in best:
            r = f(best[name], "dps") / f(base, "dps")
            print(f"- pushpoll vs node ws: {r:.2f}× the sustained deliveries/s (target ≥ 3×: {'met' if r >= target else 'NOT met'})")
    if "pushpoll" in best and "socket.io" in best:
        r = f(best["pushpoll"], "dps") / f(best["socket.io"], "dps")
        print(f"- pushpoll vs socket.io: {r:.2f}× the sustained deliveries/s (target ≥ 10×: {'met' if r >= 10 else 'NOT met'})")
    if "pushpoll" in best and ladder_best:
        at = p99_at("pushpoll", ladder_best["rate"])
        node_at = p99_at("node-ws", ladder_best["rate"])
        if at is not None:
            print(f"- p99 at node ws's highest passing ladder rate ({ladder_best['rate']} msg/s): pushpoll {at:.1f} ms, node ws {node_at:.1f} ms "
                  f"({'equal or lower' if at <= node_at else 'HIGHER'})")
    if "floor" in best and ladder_best:
        rate = ladder_best["rate"]
        per = {n: at_rate(n, rate) for n in ("floor", "pushpoll", "node-ws")}
        if all(per.values()):
            print(f"- the floor (native, a thread per connection, one write(2) per delivery, nothing batched) spends "
                  f"{cpu_per_m(per['floor']):.1f} µs of server CPU per delivery at {rate} msg/s; pushpoll "
                  f"{cpu_per_m(per['pushpoll']):.1f} µs, node ws {cpu_per_m(per['node-ws']):.1f} µs")
print()
print("Every step (server CPU and generator CPU in seconds over the whole `load` command, wall included ramp-up and grace):")
print()
print("| server | rate | try | deliveries/s | p99 (ms) | lost | errors | server CPU s | server CPU % | generator CPU % | RSS (MiB) | verdict |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for s in steps:
    busy = " (generator busy)" if gen_share(s) >= 0.9 else ""
    print(f"| {s['server']} | {s['rate']} | {s['try']} | {f(s, 'dps'):,.0f} | {f(s, 'p99') / 1000:.1f} | {s['lost']} | {s['errors']} | "
          f"{f(s, 'server_cpu'):.2f} | {f(s, 'server_cpu') / f(s, 'wall') * 100:.0f} % | {gen_share(s) * 100:.0f} % | {int(s['rss']) / 1024:.1f} | {s['verdict']}{busy} |")
print()
print(f"command: {command}")
PY
)
echo "$report"
if [ -n "$out" ]; then
  mkdir -p "$out"
  echo "$report" >"$out/peers.md"
  cp "$work/steps.tsv" "$out/steps.tsv"
  mkdir -p "$out/json"
  cp "$work"/*.json "$out/json/" 2>/dev/null || true
  echo "wrote $out/peers.md, $out/steps.tsv and $out/json/" >&2
fi
