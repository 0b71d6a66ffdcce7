#!/usr/bin/env bash
# Server memory per idle connection, pushpoll beside the Node `ws` peer, in
# one run, written as a Markdown table (issue #18).
#
#   cargo build --release -p pushpoll
#   scripts/peers/install.sh                        # the `ws` package
#   scripts/conn-cost.sh target/release/pushpoll                 # N = 10000
#   scripts/conn-cost.sh target/release/pushpoll 2000 > cost.md  # other N
#   SERVERS="pushpoll-ws node-ws" scripts/conn-cost.sh target/release/pushpoll
#
# Rows (SERVERS picks among them; all by default):
# - pushpoll-ws: `pushpoll serve`, N plain WebSockets on /ws, nothing sent.
# - node-ws: scripts/peers/ws-broadcast.js, N WebSockets, nothing sent.
# - pushpoll-sse: `pushpoll serve`, N `GET /events` streams open, idle.
# - pushpoll-long-poll: `pushpoll serve --long-poll-max 120`, N held
#   `GET /messages?since=S&wait=110` (nothing is published, so all are held).
#
# Each row is a fresh server process (memory one row freed cannot hide the
# next row's), and the client holding the connections is an independent
# process: `pushpoll load --idle 120`, which opens its subscribers and then
# sends nothing for 120 s. For each row:
# 1. 16 connections are opened and closed (warms the server up: the runtime,
#    its threads and the allocator's first arenas are not per connection).
# 2. The server's VmRSS (/proc/PID/status) is read: `before`.
# 3. N connections are opened; once the server holds all of them (pushpoll:
#    its `pushpoll_connections` gauge; Node: the established TCP
#    connections on its port, /proc/net/tcp) and a second has
#    passed, its VmRSS is read again: `after`.
# KiB per connection = (after - before) / N. Kernel socket buffers are not in
# RSS and not counted, on either side.
#
# Bounded: every wait has a timeout and the whole run 900 s. N must stay
# under the 19,900 file descriptors a process may open here. Only
# 127.0.0.1 is contacted.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PATH/TO/pushpoll [N ...]   (build it: cargo build --release -p pushpoll)" >&2
  exit 2
fi
binary="$(realpath "$1")"
shift
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(10000)
servers="${SERVERS:-pushpoll-ws node-ws pushpoll-sse pushpoll-long-poll}"
here="$(cd "$(dirname "$0")" && pwd)"
peer="$here/peers/ws-broadcast.js"

max_n=0
for n in "${counts[@]}"; do
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -gt 16 ] || { echo "N must be an integer above 16, got $n" >&2; exit 2; }
  [ "$n" -gt "$max_n" ] && max_n="$n"
done
if [ "$max_n" -gt 19000 ]; then
  echo "N=$max_n: over the 19,900 file descriptors a process may open here" >&2
  exit 2
fi
if [[ " $servers " == *" node-ws "* ]]; then
  command -v node >/dev/null || { echo "node-ws needs node on PATH" >&2; exit 2; }
  [ -d "$here/peers/node_modules/ws" ] || { echo "node-ws needs the ws package: run scripts/peers/install.sh" >&2; exit 2; }
fi
need=$((max_n + 200))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null || {
    echo "cannot raise the open-file limit to $need (ulimit -n is $(ulimit -n))" >&2
    exit 2
  }
fi

exec timeout --kill-after=10 900 python3 - "$binary" "$peer" "$servers" "${counts[@]}" <<'PY'
import os
import re
import signal
import socket
import subprocess
import sys
import time

BINARY, PEER, SERVERS, COUNTS = sys.argv[1], sys.argv[2], sys.argv[3].split(), [int(n) for n in sys.argv[4:]]
HOST = "127.0.0.1"
WARMUP = 16
SETTLE_S = 1.0
STEP_TIMEOUT_S = 60
HOLD_S = 120
# row -> (server kind, client transport, pushpoll gauge label or None)
ROWS = {
    "pushpoll-ws": ("pushpoll", "ws", "ws"),
    "node-ws": ("node", "ws", None),
    "pushpoll-sse": ("pushpoll", "sse", "sse"),
    "pushpoll-long-poll": ("pushpoll", "long-poll", "long_poll"),
}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def established(port):
    """Established TCP connections whose local end is 127.0.0.1:port."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        return sum(1 for line in f
                   if (parts := line.split())[1] == want and parts[3] == "01")


def start(kind):
    if kind == "pushpoll":
        argv = [BINARY, "serve", "--addr", f"{HOST}:0", "--long-poll-max", str(HOLD_S)]
        pattern, stream = r"serving on http://127\.0\.0\.1:(\d+)/", "stderr"
    else:
        argv = ["node", PEER, "0"]
        pattern, stream = r"^listening (\d+)", "stdout"
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
        stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "error"},
    )
    out = proc.stdout if stream == "stdout" else proc.stderr
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = out.readline().decode(errors="replace")
        if not line:
            break
        m = re.search(pattern, line)
        if m:
            subprocess.Popen(["cat"], stdin=out, stdout=subprocess.DEVNULL)
            return proc, int(m.group(1))
    proc.kill()
    raise RuntimeError(f"{argv[0]} did not say where it serves")


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_load(kind, port, transport, n):
    if transport == "ws":
        url = f"ws://{HOST}:{port}/ws" if kind == "pushpoll" else f"ws://{HOST}:{port}/"
    else:
        url = f"http://{HOST}:{port}"
    argv = [BINARY, "load", "--url", url, "--transport", transport,
            "--subscribers", str(n), "--idle", str(HOLD_S),
            "--rate", "1", "--duration", "1", "--ramp-timeout", str(STEP_TIMEOUT_S)]
    if kind == "pushpoll":
        argv += ["--publish-url", f"http://{HOST}:{port}/messages"]
    if transport == "long-poll":
        argv += ["--long-poll-wait", str(HOLD_S - 10)]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "error"})


def gauge(port, label):
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    key = f'pushpoll_connections{{transport="{label}"}} '
    for line in b"".join(chunks).decode().splitlines():
        if line.startswith(key):
            return int(float(line[len(key):]))
    raise RuntimeError(f"no {key.strip()} in /metrics")


def held(server, port, label):
    """Connections the server holds now."""
    if label is not None:
        return gauge(port, label)
    return established(port)


def enough(label, got, want):
    """Node's count holds the generator's publisher too (its WebSocket,
    opened at the start, idle), and for a moment sockets of the warm-up
    whose FIN Node has not read yet; pushpoll's gauge leaves out the
    publisher's idle keep-alive connection. Both servers hold the publisher,
    so it is in both (a few extra sockets make Node's figure higher by under
    0.1 % at N = 10,000)."""
    return got == want if label is not None else want <= got <= want + 4


def wait_held(server, port, label, want, load=None):
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        got = held(server, port, label)
        if enough(label, got, want):
            return
        if load is not None and load.poll() is not None:
            raise RuntimeError(f"pushpoll load exited ({load.returncode}) at {got} of {want}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server holds {got} connections, expected {want}")
        time.sleep(0.05)


def hold(kind, server, port, transport, label, n):
    load = start_load(kind, port, transport, n)
    try:
        wait_held(server, port, label, n, load)
        time.sleep(SETTLE_S)
    except BaseException:
        stop(load, signal.SIGKILL)
        raise
    return load


def measure(row, n):
    kind, transport, label = ROWS[row]
    server, port = start(kind)
    try:
        time.sleep(0.2)
        warm = hold(kind, server, port, transport, label, WARMUP)
        stop(warm, signal.SIGKILL)
        wait_held(server, port, label, 0)
        time.sleep(SETTLE_S)
        before = rss_kib(server.pid)
        load = hold(kind, server, port, transport, label, n)
        try:
            after = rss_kib(server.pid)
            still = held(server, port, label)
            if not enough(label, still, n):
                raise RuntimeError(f"{row}: {still} of {n} connections left after the reading")
        finally:
            stop(load, signal.SIGKILL)
        return before, after
    finally:
        stop(server)


def main():
    rows = []
    for row in SERVERS:
        if row not in ROWS:
            raise SystemExit(f"unknown server row {row!r} (one of {', '.join(ROWS)})")
        for n in COUNTS:
            before, after = measure(row, n)
            rows.append((row, n, before, after, (after - before) / n))
            print(f"  {row} x {n}: {before:,} -> {after:,} KiB", file=sys.stderr, flush=True)
    node = {n: per for row, n, _, _, per in rows if row == "node-ws"}
    print("| server | connections | RSS before (KiB) | RSS after (KiB) | KiB per connection | vs Node `ws` |")
    print("|---|---:|---:|---:|---:|---:|")
    for row, n, before, after, per in rows:
        ratio = f"{per / node[n]:.2f}x" if n in node and node[n] > 0 else ""
        print(f"| {row} | {n:,} | {before:,} | {after:,} | {per:.2f} | {ratio} |")


main()
PY
