#!/usr/bin/env bash
# Memory per idle connection: server RSS (and the client's own) per held
# WebSocket, SSE stream and long poll.
#
#   cargo build --release -p pushpoll
#   scripts/idle-memory.sh target/release/pushpoll            # N = 1000 and 5000
#   scripts/idle-memory.sh target/release/pushpoll 2000 10000 # other N
#   TRANSPORTS="ws long-poll" scripts/idle-memory.sh target/release/pushpoll
#
# For each transport and each N it starts a fresh `pushpoll serve --addr
# 127.0.0.1:0` (a fresh process, so memory freed by one measurement cannot
# hide the next one's), opens and closes a few connections of that kind to
# warm it up, reads the server's VmRSS (/proc/PID/status), opens N idle
# connections, waits until the server's own gauge
# (`pushpoll_connections{transport}`) counts all N, reads VmRSS again, and
# prints (after - before) / N:
#
# - ws: a plain WebSocket handshake (`GET /ws`), then nothing.
# - sse: `GET /events`, the response head read, then nothing.
# - long-poll: `GET /messages?since=0&wait=30` with nothing published: the
#   server holds every one (the measurement ends well within the 30 s).
#
# The client is Python 3 (asyncio, plain sockets, nothing to install). It
# builds nothing: pass the binary. Bounded: every step has a timeout, and N
# must stay under the 19,900 file descriptors a process may open here
# (client and server each hold N sockets). Only 127.0.0.1 is contacted.
# Kernel socket buffers are not in RSS and are not counted.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PATH/TO/pushpoll [N ...]   (build it: cargo build --release -p pushpoll)" >&2
  exit 2
fi
binary="$(realpath "$1")"
shift
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000 5000)
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
# Room for N sockets plus the process's own files, in the client and (it
# inherits this limit) the server.
need=$((max_n + 200))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null || {
    echo "cannot raise the open-file limit to $need (ulimit -n is $(ulimit -n))" >&2
    exit 2
  }
fi

exec timeout --kill-after=10 900 python3 - "$binary" "$transports" "${counts[@]}" <<'PY'
import asyncio
import os
import re
import signal
import subprocess
import sys
import time

BINARY, TRANSPORTS, COUNTS = sys.argv[1], sys.argv[2].split(), [int(n) for n in sys.argv[3:]]
HOST = "127.0.0.1"
GAUGE = {"ws": "ws", "sse": "sse", "long-poll": "long_poll"}
WARMUP = 16          # connections opened and closed before the baseline
CONNECT_AT_ONCE = 64   # handshakes in flight: each holds hyper buffers until it is done
SETTLE_S = 1.0       # after the gauge counts all N, before reading RSS
STEP_TIMEOUT_S = 25  # opening N, and each wait for the gauge (long polls last 30 s)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def start_server():
    proc = subprocess.Popen(
        [BINARY, "serve", "--addr", f"{HOST}:0"],
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


def stop_server(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def request_head(port, request):
    """Opens a socket and sends `request`."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(request)
    await writer.drain()
    return reader, writer


async def open_one(port, transport):
    if transport == "ws":
        req = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        expect = b" 101 "
    elif transport == "sse":
        req = b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n"
        expect = b" 200 "
    else:
        req = b"GET /messages?since=0&wait=30 HTTP/1.1\r\nHost: x\r\n\r\n"
        expect = None  # held: no answer until a message or 30 s
    reader, writer = await request_head(port, req)
    if expect is not None:
        head = await reader.readuntil(b"\r\n\r\n")
        if expect not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"{transport}: {head[:80]!r}")
    return writer


async def open_many(port, transport, n):
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def one():
        async with gate:
            return await open_one(port, transport)

    return await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), STEP_TIMEOUT_S)


async def gauge(port, transport):
    reader, writer = await request_head(
        port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    body = (await reader.read()).decode()
    writer.close()
    key = f'pushpoll_connections{{transport="{GAUGE[transport]}"}} '
    for line in body.splitlines():
        if line.startswith(key):
            return int(float(line[len(key):]))
    raise RuntimeError(f"no {key.strip()} in /metrics")


async def wait_gauge(port, transport, want):
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        got = await gauge(port, transport)
        if got == want:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{transport}: the server counts {got} connections, expected {want}")
        await asyncio.sleep(0.05)


async def close_all(writers):
    for w in writers:
        w.close()
    await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)


async def measure(transport, n):
    proc, port = start_server()
    try:
        warm = await open_many(port, transport, WARMUP)
        await wait_gauge(port, transport, WARMUP)
        await close_all(warm)
        await wait_gauge(port, transport, 0)
        await asyncio.sleep(SETTLE_S)
        server_before, client_before = rss_kib(proc.pid), rss_kib(os.getpid())
        held = await open_many(port, transport, n)
        await wait_gauge(port, transport, n)
        await asyncio.sleep(SETTLE_S)
        server_after, client_after = rss_kib(proc.pid), rss_kib(os.getpid())
        still = await gauge(port, transport)
        if still != n:
            raise RuntimeError(f"{transport}: {still} of {n} connections left before the reading")
        await close_all(held)
        return server_before, server_after, client_before, client_after
    finally:
        stop_server(proc)


def measure_in_child(transport, n):
    """Runs one measurement in a forked client process, so that the client's
    RSS too starts from the same small base every time."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            out = asyncio.run(measure(transport, n))
        except BaseException as e:  # reported by the parent
            out, code = repr(e), 1
        os.write(w, repr(out).encode())
        os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        text = f.read()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise SystemExit(f"{transport} x {n}: {text}")
    return eval(text)


def main():
    rows = []
    for transport in TRANSPORTS:
        if transport not in GAUGE:
            raise SystemExit(f"unknown transport {transport!r} (ws, sse, long-poll)")
        for n in COUNTS:
            sb, sa, cb, ca = measure_in_child(transport, n)
            rows.append((transport, n, sb, sa, (sa - sb) / n, (ca - cb) / n))
            print(f"  {transport} x {n}: server {sb:,} -> {sa:,} KiB", file=sys.stderr, flush=True)
    print(f"idle connections held on one `pushpoll serve` ({os.path.basename(BINARY)}), "
          f"RSS from /proc/PID/status; KiB per connection = (after - before) / N")
    head = ("transport", "N", "server before KiB", "server after KiB",
            "server KiB/conn", "client KiB/conn")
    print(f"{head[0]:<10} {head[1]:>6} {head[2]:>18} {head[3]:>17} {head[4]:>16} {head[5]:>16}")
    print("-" * 88)
    for t, n, sb, sa, per, cper in rows:
        print(f"{t:<10} {n:>6} {sb:>18,} {sa:>17,} {per:>16.2f} {cper:>16.2f}")


main()
PY
