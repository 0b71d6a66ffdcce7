#!/usr/bin/env bash
# Unbatched fan-out: server CPU per delivered WebSocket message, pushpoll
# beside the native floor server, at N subscribers and one message a second,
# in one run, written as a Markdown table (issue #18, goal 3).
#
#   cargo build --release -p pushpoll -p pushpoll-server --bin pushpoll --example floor_broadcast
#   scripts/fanout-cost.sh target/release/pushpoll target/release/examples/floor_broadcast
#   scripts/fanout-cost.sh PUSHPOLL FLOOR 2000                 # other N (default 10000)
#   DURATION=30 OUT=/tmp/fanout scripts/fanout-cost.sh PUSHPOLL FLOOR
#   PIN=1 scripts/fanout-cost.sh PUSHPOLL FLOOR    # server on CPU 0, generator on CPU 1
#
# Rows (SERVERS picks among them; both by default):
# - pushpoll: `pushpoll serve --addr 127.0.0.1:0 --max-connections N+1000`,
#   subscribers on ws://.../ws.
# - floor: crates/server/examples/floor_broadcast.rs (a thread per
#   connection, one write(2) per delivery, nothing batched), on ws://.../.
#
# Each row is a fresh server process and an independent load process:
#   pushpoll load --transport ws --subscribers N --rate RATE --duration DURATION
#     --idle 5 --grace 2 --server-pid SERVER_PID
# The publisher sends over its own WebSocket to both servers (the same
# client, the same messages). The generator reads the server's CPU time
# (utime + stime, /proc/PID/stat, 10 ms ticks) when publishing starts and
# when the grace period ends, so connecting N subscribers (handshakes) and
# closing them are outside the figure, and divides it by the deliveries
# counted: server µs per delivery. With RATE = 1 every broadcast goes out on
# its own: nothing batches, on either server.
#
# By default the generator and the server share the machine's cores (not
# pinned), so pushpoll runs one runtime worker per core; PIN=1 gives the
# server CPU 0 and the generator CPU 1 (`taskset`, as scripts/bench-peers.sh
# does; pushpoll then runs one worker). Either way it is the same for both
# rows, so the ratio compares like with like. The absolute figures move with
# whatever else runs on the machine: each row also reports the CPU that
# other processes used meanwhile (/proc/stat's busy time less the server's
# and the generator's), in cores on average.
#
# Bounded: N ≤ 19,000 (the server holds N descriptors, plus a few, under
# the ~19,900 a process may open here), DURATION ≤ 300 s, RATE ≤ 100 msg/s;
# each load run is killed after DURATION + 240 s. Only 127.0.0.1 is
# contacted.
set -euo pipefail

usage="usage: $0 PATH/TO/pushpoll PATH/TO/floor_broadcast [N]   (build them: cargo build --release -p pushpoll -p pushpoll-server --bin pushpoll --example floor_broadcast)"
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "$usage" >&2
  exit 2
fi
[ -x "$1" ] || { echo "$1: not an executable (the pushpoll binary); $usage" >&2; exit 2; }
[ -x "$2" ] || { echo "$2: not an executable (the floor_broadcast example); $usage" >&2; exit 2; }
binary="$(realpath "$1")"
floor="$(realpath "$2")"
n="${3:-10000}"
duration="${DURATION:-60}"
rate="${RATE:-1}"
servers="${SERVERS:-pushpoll floor}"
pin="${PIN:-0}"
out="${OUT:-}"
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 19000 ] ||
  { echo "N must be an integer from 1 to 19000 (file descriptors), got $n" >&2; exit 2; }
[[ "$duration" =~ ^[0-9]+$ ]] && [ "$duration" -ge 1 ] && [ "$duration" -le 300 ] ||
  { echo "DURATION must be whole seconds from 1 to 300, got $duration" >&2; exit 2; }
[[ "$rate" =~ ^[0-9]+$ ]] && [ "$rate" -ge 1 ] && [ "$rate" -le 100 ] ||
  { echo "RATE must be whole messages a second from 1 to 100, got $rate" >&2; exit 2; }
[ "$pin" = 0 ] || [ "$pin" = 1 ] || { echo "PIN must be 0 or 1, got $pin" >&2; exit 2; }
if [ "$pin" = 1 ]; then
  command -v taskset >/dev/null || { echo "PIN=1 needs taskset" >&2; exit 2; }
  [ "$(nproc)" -ge 2 ] || { echo "PIN=1 needs 2 CPUs, this machine has $(nproc)" >&2; exit 2; }
fi
for s in $servers; do
  case "$s" in pushpoll|floor) ;; *) echo "SERVERS: unknown server $s (pushpoll, floor)" >&2; exit 2 ;; esac
done
need=$((n + 200))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null || {
    echo "N=$n needs $need open files per process; ulimit -n is $(ulimit -n) (hard $(ulimit -Hn))" >&2
    exit 2
  }
fi
[ -z "$out" ] || mkdir -p "$out"

exec python3 - "$binary" "$floor" "$n" "$duration" "$rate" "$servers" "$out" "$pin" <<'PY'
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time

BINARY, FLOOR, N, DURATION, RATE, SERVERS, OUT, PIN = sys.argv[1:]
N, DURATION, RATE, SERVERS, PIN = int(N), int(DURATION), int(RATE), SERVERS.split(), PIN == "1"
SERVER_CPU = ["taskset", "-c", "0"] if PIN else []
GEN_CPU = ["taskset", "-c", "1"] if PIN else []
TICK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"
IDLE_S = 5
GRACE_S = 2
LOAD_TIMEOUT_S = DURATION + 240
WORK = OUT or tempfile.mkdtemp(prefix="fanout-cost-")


def busy_s():
    """CPU seconds the whole machine has spent busy (all CPUs, /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...: all but idle, iowait.
    return (sum(v[:8]) - v[3] - v[4]) / TICK


def cpu_s(pid):
    """utime + stime of a process, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def start(row):
    if row == "pushpoll":
        argv = [BINARY, "serve", "--addr", f"{HOST}:0", "--max-connections", str(N + 1000)]
        pattern, stream = r"serving on http://127\.0\.0\.1:(\d+)/", "stderr"
    else:
        argv = [FLOOR, "0"]
        pattern, stream = r"^listening (\d+)", "stdout"
    proc = subprocess.Popen(
        SERVER_CPU + argv, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
        stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "error"},
    )
    pipe = proc.stdout if stream == "stdout" else proc.stderr
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = pipe.readline().decode(errors="replace")
        if not line:
            break
        m = re.search(pattern, line)
        if m:
            # Keep draining what it prints, so it never blocks on a full pipe.
            subprocess.Popen(["cat"], stdin=pipe, stdout=subprocess.DEVNULL)
            return proc, int(m.group(1))
    proc.kill()
    raise SystemExit(f"{row}: {argv[0]} did not say where it listens")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure(row):
    server, port = start(row)
    path = "/ws" if row == "pushpoll" else "/"
    doc = os.path.join(WORK, f"{row}.json")
    argv = [BINARY, "load", "--url", f"ws://{HOST}:{port}{path}", "--transport", "ws",
            "--subscribers", str(N), "--rate", str(RATE), "--duration", str(DURATION),
            "--idle", str(IDLE_S), "--grace", str(GRACE_S), "--ramp-timeout", "120",
            "--server-pid", str(server.pid), "--label", f"{row} {N} subscribers",
            "--json", doc]
    try:
        time.sleep(0.5)
        busy0, server0, gen0, t0 = busy_s(), cpu_s(server.pid), children_cpu_s(), time.monotonic()
        load = subprocess.run(GEN_CPU + argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=LOAD_TIMEOUT_S, env={**os.environ, "RUST_LOG": "error"})
        busy1, server1, gen1, t1 = busy_s(), cpu_s(server.pid), children_cpu_s(), time.monotonic()
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{row}: pushpoll load ran past {LOAD_TIMEOUT_S} s")
    finally:
        stop(server)
    # Other processes' CPU while the row ran, in cores on average.
    others = max(0.0, (busy1 - busy0) - (server1 - server0) - (gen1 - gen0)) / (t1 - t0)
    text = load.stdout.decode(errors="replace") + load.stderr.decode(errors="replace")
    if OUT:
        with open(os.path.join(OUT, f"{row}.txt"), "w") as f:
            f.write("$ " + " ".join(argv).replace(BINARY, "pushpoll").replace(f"{HOST}:{port}", "HOST:PORT")
                    .replace(str(server.pid), "SERVER_PID") + "\n" + text + f"exit code {load.returncode}\n")
    if load.returncode != 0 or not os.path.exists(doc):
        sys.stderr.write(text)
        raise SystemExit(f"{row}: pushpoll load exited with {load.returncode}")
    run = json.load(open(doc))["runs"][0]
    print(f"  {row}: {run['delivered']:,} delivered, server {run['server_cpu_s']} s CPU", file=sys.stderr, flush=True)
    return run, others


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


rows = [(row, *measure(row)) for row in SERVERS]
floor = next((run for row, run, _ in rows if row == "floor"), None)
floor_us = floor and floor.get("server_cpu_us_per_delivered")
where = ("PIN=1: server on CPU 0, generator on CPU 1" if PIN
         else f"generator and server sharing {os.cpu_count()} CPUs, not pinned")
print(f"Unbatched fan-out: {N:,} WebSocket subscribers, {RATE} msg/s for {DURATION} s "
      f"(`scripts/fanout-cost.sh`, {where}).")
print()
print("| server | subscribers connected | published | delivered / expected | lost | server CPU (s) | server µs / delivery | vs floor | generator µs / delivery | other processes (cores) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for row, run, others in rows:
    us = run.get("server_cpu_us_per_delivered")
    ratio = f"{us / floor_us:.2f}×" if us is not None and floor_us else ""
    print(f"| {row} | {run['subscribers_connected']:,} | {run['published']:,} | "
          f"{run['delivered']:,} / {run['expected_deliveries']:,} | {run['lost']:,} | "
          f"{fmt(run.get('server_cpu_s'), '.2f')} | {fmt(us, '.2f')} | {ratio} | "
          f"{fmt(run.get('generator_cpu_us_per_delivered'), '.2f')} | {others:.2f} |")
PY
