#!/usr/bin/env bash
# The big run on one machine: 19,000+ concurrent subscribers of one
# `pushpoll serve`, one broadcast per second, first over WebSocket, then the
# same over long polling to show where polling breaks.
#
#   cargo build --release -p pushpoll
#   scripts/scale.sh target/release/pushpoll                 # 19,000 subscribers, 60 s each
#   SUBSCRIBERS=12000 DURATION=30 scripts/scale.sh target/release/pushpoll
#   TRANSPORTS=ws OUT=/tmp/scale scripts/scale.sh target/release/pushpoll
#
# For each transport, with a fresh server (`serve --addr 127.0.0.1:0
# --max-connections SUBSCRIBERS+1000`):
# 1. the server's VmRSS is read (before);
# 2. `pushpoll load --subscribers SUBSCRIBERS --subscribers-per-worker
#    PER_WORKER --source-ips 127.0.0.2,127.0.0.3 --rate 1 --idle 10
#    --slo p99=100ms,loss=0` runs: the generator splits its subscribers over
#    worker processes (one process may hold ~19,900 descriptors here, and the
#    server alone needs 19,000) and binds them to two loopback source
#    addresses; the parent publishes, the workers subscribe, the results
#    are merged exactly;
# 3. every half second the server's VmRSS and connection gauge
#    (`/metrics`) and every generator process's VmRSS are sampled
#    (`samples-TRANSPORT.tsv`). Memory per connection is read when every
#    subscriber is connected and nothing is published yet (the idle
#    window): server (RSS then - RSS before) / subscribers, generator
#    worker RSS / its subscribers.
#
# Writes OUT (default results/<UTC date>-<N>cpu/scale): TRANSPORT.json
# (the load document), TRANSPORT.txt (its summary and SLO verdict),
# samples-TRANSPORT.tsv and summary.md (the table, the machine's load
# average before and after each phase, and the commands). A missed SLO is
# recorded, not an error: long polling is expected to miss it.
#
# Bounded: each phase has a hard timeout (PHASE_TIMEOUT, default 180 s).
# Only 127.0.0.0/8 is contacted.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PATH/TO/pushpoll   (build it: cargo build --release -p pushpoll)" >&2
  exit 2
fi
binary="$(realpath "$1")"
subscribers="${SUBSCRIBERS:-19000}"
per_worker="${PER_WORKER:-9500}"
duration="${DURATION:-60}"
transports="${TRANSPORTS:-ws long-poll}"
out="${OUT:-results/$(date -u +%F)-$(nproc)cpu/scale}"
phase_timeout="${PHASE_TIMEOUT:-180}"
[[ "$subscribers" =~ ^[0-9]+$ ]] || { echo "SUBSCRIBERS must be an integer" >&2; exit 2; }

# The server holds every subscriber socket plus the listener and the
# publisher's; the limit is per process (workers each hold their share).
need=$((subscribers + 200))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null || {
    echo "the server needs $need descriptors; ulimit -n is $(ulimit -n) (hard $(ulimit -Hn))" >&2
    exit 2
  }
fi
mkdir -p "$out"

exec python3 - "$binary" "$subscribers" "$per_worker" "$duration" "$transports" "$out" "$phase_timeout" <<'PY'
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

BINARY = sys.argv[1]
SUBS, PER_WORKER, DURATION = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
TRANSPORTS, OUT, PHASE_TIMEOUT = sys.argv[5].split(), sys.argv[6], float(sys.argv[7])
HOST = "127.0.0.1"
SOURCES = "127.0.0.2,127.0.0.3"
IDLE_S = 10
GAUGE = {"ws": "ws", "long-poll": "long_poll", "sse": "sse", "short-poll": "short_poll"}


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """User + system CPU seconds of a process so far (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def start_server():
    proc = subprocess.Popen(
        [BINARY, "serve", "--addr", f"{HOST}:0", "--max-connections", str(SUBS + 1000)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "RUST_LOG": "error"},
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stderr.readline().decode(errors="replace")
        if not line:
            break
        m = re.search(r"serving on http://127\.0\.0\.1:(\d+)/", line)
        if m:
            subprocess.Popen(["cat"], stdin=proc.stderr, stdout=subprocess.DEVNULL)
            return proc, int(m.group(1))
    proc.kill()
    raise RuntimeError("the server did not say where it serves")


def gauge(port):
    """Every transport's open connections, from the server's /metrics."""
    try:
        with socket.create_connection((HOST, port), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            chunks = []
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
    except OSError:
        return {}
    found = {}
    for line in b"".join(chunks).decode(errors="replace").splitlines():
        m = re.match(r'pushpoll_connections\{transport="([a-z_]+)"\} (\S+)', line)
        if m:
            found[m.group(1)] = int(float(m.group(2)))
    return found


def phase(transport):
    server, port = start_server()
    time.sleep(1)
    before = rss_kib(server.pid)
    url = f"ws://{HOST}:{port}/ws" if transport == "ws" else f"http://{HOST}:{port}/messages"
    doc = os.path.join(OUT, f"{transport}.json")
    argv = [BINARY, "load", "--url", url, "--transport", transport,
            "--subscribers", str(SUBS), "--subscribers-per-worker", str(PER_WORKER),
            "--source-ips", SOURCES, "--rate", "1", "--duration", str(DURATION),
            "--idle", str(IDLE_S), "--ramp-timeout", "60",
            "--slo", "p99=100ms,loss=0", "--label", f"{SUBS} subscribers",
            "--json", doc]
    load_before = loadavg()
    started = time.monotonic()
    load = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "error"})
    text = []
    reader = threading.Thread(target=lambda: text.extend(load.stdout.read().decode(errors="replace").splitlines()))
    reader.start()
    samples = []
    key = GAUGE[transport]
    while load.poll() is None:
        if time.monotonic() - started > PHASE_TIMEOUT:
            load.send_signal(signal.SIGINT)
            time.sleep(15)
            load.kill()
            break
        g = gauge(port)
        workers = children(load.pid)
        samples.append({
            "t": round(time.monotonic() - started, 2),
            "connections": g.get(key, 0),
            "server_rss_kib": rss_kib(server.pid),
            "generator_rss_kib": rss_kib(load.pid),
            "workers": [(w, rss_kib(w)) for w in workers],
            "server_cpu_s": cpu_s(server.pid),
            "generator_cpu_s": sum(c for c in [cpu_s(load.pid)] + [cpu_s(w) for w in workers] if c),
        })
        time.sleep(0.5)
    load.wait()
    reader.join()
    elapsed = time.monotonic() - started
    load_after = loadavg()
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
    with open(os.path.join(OUT, f"{transport}.txt"), "w") as f:
        f.write("$ " + " ".join(argv).replace(BINARY, "pushpoll").replace(f"{HOST}:{port}", "HOST:PORT") + "\n")
        f.write("\n".join(text) + f"\nexit code {load.returncode}\n")
    with open(os.path.join(OUT, f"samples-{transport}.tsv"), "w") as f:
        f.write("t_s\tconnections\tserver_rss_kib\tgenerator_rss_kib\tworker_rss_kib\tserver_cpu_s\tgenerator_cpu_s\n")
        for s in samples:
            ws = ",".join(str(r) for _, r in s["workers"])
            f.write(f"{s['t']}\t{s['connections']}\t{s['server_rss_kib']}\t{s['generator_rss_kib']}\t{ws}"
                    f"\t{s['server_cpu_s']}\t{s['generator_cpu_s']:.2f}\n")
    run = json.load(open(doc))["runs"][0] if os.path.exists(doc) else None
    # The idle window: every subscriber connected, nothing published yet.
    # Its last sample with the most connections is the memory reading.
    full = [s for s in samples if s["connections"] >= SUBS and s["workers"]]
    held = full[min(len(full) - 1, 2 * IDLE_S - 4)] if full else None
    # CPU from the memory reading (idle, everything connected) to the
    # generator's last sample: publishing and grace, nothing else.
    last = [s for s in samples if s["workers"]]
    cpu = None
    if held and last and held["server_cpu_s"] is not None and last[-1]["server_cpu_s"] is not None:
        cpu = (last[-1]["server_cpu_s"] - held["server_cpu_s"],
               last[-1]["generator_cpu_s"] - held["generator_cpu_s"],
               last[-1]["t"] - held["t"])
    peak_server = max((s["server_rss_kib"] or 0 for s in samples), default=0)
    peak_workers = max((r or 0 for s in samples for _, r in s["workers"]), default=0)
    return {
        "transport": transport, "run": run, "exit": load.returncode,
        "server_before_kib": before, "held": held, "peak_server_kib": peak_server,
        "peak_worker_kib": peak_workers, "load_before": load_before,
        "load_after": load_after, "elapsed_s": elapsed, "cpu": cpu,
    }


def ms(us):
    return f"{us / 1000:.1f}"


results = [phase(t) for t in TRANSPORTS]
lines = [
    f"# {SUBS:,} concurrent subscribers on one machine",
    "",
    f"`scripts/scale.sh` (SUBSCRIBERS={SUBS} PER_WORKER={PER_WORKER} DURATION={DURATION:g}): one "
    "`pushpoll serve` (release), one `pushpoll load` whose subscribers are split over "
    f"{-(-SUBS // PER_WORKER)} worker processes and bound to {SOURCES}, one broadcast per second, "
    f"{IDLE_S} s idle window before publishing, SLO p99 ≤ 100 ms and zero loss.",
    "",
    "| transport | connected | published | delivered / expected | lost | p50 ms | p99 ms | max ms | requests / delivered | SLO |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
]
for r in results:
    run = r["run"]
    if run is None:
        lines.append(f"| {r['transport']} | no result (exit {r['exit']}) | | | | | | | | |")
        continue
    lat = run["latency_us"]
    rpd = run["requests_per_delivered"]
    verdict = {0: "met", 3: "missed"}.get(r["exit"], f"exit {r['exit']}")
    lines.append(
        f"| {r['transport']} | {run['subscribers_connected']:,} | {run['published']} | "
        f"{run['delivered']:,} / {run['expected_deliveries']:,} | {run['lost']:,} | "
        f"{ms(lat['p50'])} | {ms(lat['p99'])} | {ms(lat['max'])} | "
        f"{'-' if rpd is None else f'{rpd:.3f}'} | {verdict} |")
lines += ["", "Memory, read in the idle window (every subscriber connected, nothing published):", "",
          "| transport | server RSS before (MiB) | server RSS held (MiB) | server KiB / connection | generator workers RSS (MiB) | generator KiB / subscriber | server peak (MiB) | worker peak (MiB) |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
for r in results:
    h = r["held"]
    if h is None or r["server_before_kib"] is None:
        lines.append(f"| {r['transport']} | not all {SUBS:,} subscribers were held at once | | | | | | |")
        continue
    conns = h["connections"]
    server_per = (h["server_rss_kib"] - r["server_before_kib"]) / conns
    worker_rss = [x for _, x in h["workers"] if x]
    gen_per = sum(worker_rss) / SUBS
    lines.append(
        f"| {r['transport']} | {r['server_before_kib'] / 1024:.1f} | {h['server_rss_kib'] / 1024:.1f} | "
        f"{server_per:.2f} | {' + '.join(f'{x / 1024:.0f}' for x in worker_rss)} | {gen_per:.2f} | "
        f"{r['peak_server_kib'] / 1024:.1f} | {r['peak_worker_kib'] / 1024:.1f} |")
lines += ["", "CPU from the idle window's reading to the end of the run (publishing and grace), "
          "from /proc/PID/stat, all generator processes together:", "",
          "| transport | window (s) | server CPU (s) | server µs / delivery | generator CPU (s) | generator µs / delivery |",
          "|---|---:|---:|---:|---:|---:|"]
for r in results:
    if r["cpu"] is None or r["run"] is None or not r["run"]["delivered"]:
        lines.append(f"| {r['transport']} | not measured | | | | |")
        continue
    srv, gen, window = r["cpu"]
    d = r["run"]["delivered"]
    lines.append(f"| {r['transport']} | {window:.1f} | {srv:.1f} | {srv * 1e6 / d:.1f} | "
                 f"{gen:.1f} | {gen * 1e6 / d:.1f} |")
lines += ["", "Load on the machine (/proc/loadavg, 1/5/15 min; 2 cores, shared with other work):", ""]
for r in results:
    lines.append(f"- {r['transport']}: before {r['load_before']}, after {r['load_after']} "
                 f"(phase {r['elapsed_s']:.0f} s)")
lines += ["", "Errors by kind:", ""]
for r in results:
    errs = (r["run"] or {}).get("errors") or {}
    lines.append(f"- {r['transport']}: " + (", ".join(f"{k} {v:,}" for k, v in errs.items()) or "none"))
lines += ["", "Server KiB / connection = (RSS held - RSS before) / connections the server counted; "
          "generator KiB / subscriber = the workers' RSS together / subscribers (the parent, which "
          "only publishes, is left out). Kernel socket buffers are not in RSS. Samples every 0.5 s: "
          "`samples-TRANSPORT.tsv`; each run's output and command: `TRANSPORT.txt`; results "
          "documents: `TRANSPORT.json` (`pushpoll report TRANSPORT.json` renders them).", ""]
with open(os.path.join(OUT, "summary.md"), "w") as f:
    f.write("\n".join(lines))
print("\n".join(lines))
PY
