#!/usr/bin/env bash
# Memory per idle connection, on both sides: the server's RSS per held
# WebSocket, SSE stream and long poll, and the load generator's RSS per
# subscriber holding one.
#
#   cargo build --release -p pushpoll
#   scripts/idle-memory.sh target/release/pushpoll            # N = 1000 and 10000
#   scripts/idle-memory.sh target/release/pushpoll 2000 5000  # other N
#   TRANSPORTS="ws long-poll" scripts/idle-memory.sh target/release/pushpoll
#
# For each transport and each N, with a fresh `pushpoll serve --addr
# 127.0.0.1:0 --long-poll-max 120` (a fresh process, so memory freed by one
# measurement cannot hide the next one's):
#
# 1. `pushpoll load` with 16 idle subscribers of that kind (warms the
#    server up and gives the generator's own baseline): once the server's
#    gauge (`pushpoll_connections{transport}`) counts 16 and a second has
#    passed, the generator's VmRSS (/proc/PID/status) is read, then it is
#    killed and the gauge waited back to 0.
# 2. The server's VmRSS is read (before).
# 3. `pushpoll load` with N idle subscribers; once the gauge counts N and a
#    second has passed, both processes' VmRSS are read (after).
#
# server KiB/conn = (after - before) / N; generator KiB/conn = (RSS with N -
# RSS with 16) / (N - 16). The generator runs with `--idle 120`, so nothing
# is published while it is measured; publishers post to `/messages` and do
# not count in the gauge. What each subscriber holds:
#
# - ws: a plain WebSocket (no subprotocol), nothing sent.
# - sse: `GET /events`, the stream open, nothing sent.
# - long-poll: `GET /messages?since=S&wait=110` with nothing published: the
#   server holds every one (the server's cap is raised to 120 s so none is
#   answered while the run lasts).
#
# It builds nothing: pass the binary. Bounded: every step has a timeout, and
# N must stay under the 19,900 file descriptors a process may open here
# (server and generator each hold N sockets). Only 127.0.0.1 is contacted.
# Kernel socket buffers are not in RSS and are not counted.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PATH/TO/pushpoll [N ...]   (build it: cargo build --release -p pushpoll)" >&2
  exit 2
fi
binary="$(realpath "$1")"
shift
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000 10000)
transports="${TRANSPORTS:-ws sse long-poll}"

max_n=0
for n in "${counts[@]}"; do
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || { echo "N must be a positive integer, got $n" >&2; exit 2; }
  [ "$n" -gt "$max_n" ] && max_n="$n"
done
if [ "$max_n" -gt 19000 ]; then
  echo "N=$max_n: over the 19,900 file descriptors a process may open here" >&2
  exit 2
fi
# Room for N sockets plus the process's own files, in the generator and the
# server (both inherit this limit).
need=$((max_n + 200))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null || {
    echo "cannot raise the open-file limit to $need (ulimit -n is $(ulimit -n))" >&2
    exit 2
  }
fi

exec timeout --kill-after=10 900 python3 - "$binary" "$transports" "${counts[@]}" <<'PY'
import os
import re
import signal
import socket
import subprocess
import sys
import time

BINARY, TRANSPORTS, COUNTS = sys.argv[1], sys.argv[2].split(), [int(n) for n in sys.argv[3:]]
HOST = "127.0.0.1"
GAUGE = {"ws": "ws", "sse": "sse", "long-poll": "long_poll"}
WARMUP = 16          # subscribers of the warm-up run, the generator's baseline
SETTLE_S = 1.0       # after the gauge counts all of them, before reading RSS
STEP_TIMEOUT_S = 60  # each wait for the gauge (ramp-ups included)
HOLD_S = 120         # long-poll cap of the server, idle window of the generator


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def start_server():
    proc = subprocess.Popen(
        [BINARY, "serve", "--addr", f"{HOST}:0", "--long-poll-max", str(HOLD_S)],
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
            # Keep draining stderr so the server never blocks on it.
            subprocess.Popen(["cat"], stdin=proc.stderr, stdout=subprocess.DEVNULL)
            return proc, int(m.group(1))
    proc.kill()
    raise RuntimeError("the server did not say where it serves")


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_load(port, transport, n):
    """`pushpoll load` with n subscribers that stay idle for HOLD_S."""
    url = f"ws://{HOST}:{port}/ws" if transport == "ws" else f"http://{HOST}:{port}"
    return subprocess.Popen(
        [BINARY, "load", "--url", url, "--transport", transport,
         "--subscribers", str(n), "--idle", str(HOLD_S),
         "--long-poll-wait", str(HOLD_S - 10),
         "--publish-url", f"http://{HOST}:{port}/messages",
         "--rate", "1", "--duration", "1", "--ramp-timeout", str(STEP_TIMEOUT_S)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "error"},
    )


def gauge(port, transport):
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    body = b"".join(chunks).decode()
    key = f'pushpoll_connections{{transport="{GAUGE[transport]}"}} '
    for line in body.splitlines():
        if line.startswith(key):
            return int(float(line[len(key):]))
    raise RuntimeError(f"no {key.strip()} in /metrics")


def wait_gauge(port, transport, want, load=None):
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        got = gauge(port, transport)
        if got == want:
            return
        if load is not None and load.poll() is not None:
            raise RuntimeError(f"{transport}: pushpoll load exited ({load.returncode}) at {got} of {want}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{transport}: the server counts {got} connections, expected {want}")
        time.sleep(0.05)


def hold(port, transport, n):
    """Starts a generator with n idle subscribers and waits until the server
    holds them all; returns the generator."""
    load = start_load(port, transport, n)
    try:
        wait_gauge(port, transport, n, load)
        time.sleep(SETTLE_S)
    except BaseException:
        stop(load, signal.SIGKILL)
        raise
    return load


def measure(transport, n):
    server, port = start_server()
    try:
        warm = hold(port, transport, WARMUP)
        gen_base = rss_kib(warm.pid)
        stop(warm, signal.SIGKILL)
        wait_gauge(port, transport, 0)
        time.sleep(SETTLE_S)
        server_before = rss_kib(server.pid)
        load = hold(port, transport, n)
        try:
            server_after, gen_after = rss_kib(server.pid), rss_kib(load.pid)
            still = gauge(port, transport)
            if still != n:
                raise RuntimeError(f"{transport}: {still} of {n} connections left after the reading")
        finally:
            stop(load, signal.SIGKILL)
        return server_before, server_after, gen_base, gen_after
    finally:
        stop(server)


def main():
    rows = []
    for transport in TRANSPORTS:
        if transport not in GAUGE:
            raise SystemExit(f"unknown transport {transport!r} (ws, sse, long-poll)")
        for n in COUNTS:
            if n <= WARMUP:
                raise SystemExit(f"N must be above the {WARMUP} warm-up subscribers, got {n}")
            sb, sa, gb, ga = measure(transport, n)
            rows.append((transport, n, sb, sa, (sa - sb) / n, gb, ga, (ga - gb) / (n - WARMUP)))
            print(f"  {transport} x {n}: server {sb:,} -> {sa:,} KiB, generator {gb:,} -> {ga:,} KiB",
                  file=sys.stderr, flush=True)
    print(f"idle connections: one `pushpoll serve`, one `pushpoll load` ({os.path.basename(BINARY)}); "
          f"RSS from /proc/PID/status")
    print(f"server KiB/conn = (after - before) / N; generator KiB/conn = "
          f"(RSS with N - RSS with {WARMUP}) / (N - {WARMUP})")
    head = ("transport", "N", "server before", "server after", "server KiB/conn",
            f"gen {WARMUP}", "gen N", "gen KiB/conn")
    print(f"{head[0]:<10} {head[1]:>6} {head[2]:>14} {head[3]:>13} {head[4]:>16} "
          f"{head[5]:>9} {head[6]:>9} {head[7]:>13}")
    print("-" * 100)
    for t, n, sb, sa, per, gb, ga, gper in rows:
        print(f"{t:<10} {n:>6} {sb:>14,} {sa:>13,} {per:>16.2f} {gb:>9,} {ga:>9,} {gper:>13.2f}")


main()
PY
