#!/usr/bin/env bash
# A real Prometheus scrapes a bounded `pushpoll load --metrics-addr` run
# against `pushpoll serve`, everything on 127.0.0.1, and the check asks
# Prometheus' HTTP API whether the last scraped pushpoll_load_delivered_total
# (and published_total, with run_finished 1) equals the run's JSON; every
# query of deploy/grafana/pushpoll.json must also parse and, for the
# generator's and server's traffic, return data.
#
#   scripts/prometheus-check.sh [PUSHPOLL]    (default target/release/pushpoll)
#
# Prometheus: $PROMETHEUS, else `prometheus` on PATH, else Debian's package is
# installed (apt-get, as root; CI runs as root on a fresh Debian machine).
# Without apt-get or root, install it first or point PROMETHEUS at a binary.
# Files (Prometheus' config and log, the run's JSON and log) go to
# $OUT_DIR (default target/ci/prometheus). Bounded: about 20 s, at most
# 3 minutes; every process it starts is stopped by its pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/pushpoll}
out=${OUT_DIR:-target/ci/prometheus}
[ -x "$bin" ] || { echo "prometheus-check: no pushpoll binary at $bin" >&2; exit 1; }

prom=${PROMETHEUS:-$(command -v prometheus || true)}
if [ -z "$prom" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "prometheus-check: installing Debian's prometheus package"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    prom=$(command -v prometheus)
  else
    echo "prometheus-check: no prometheus binary; install Debian's package (apt-get install prometheus) or set PROMETHEUS" >&2
    exit 1
  fi
fi
echo "prometheus-check: $("$prom" --version 2>&1 | head -1)"

rm -rf "$out"
mkdir -p "$out"
data=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$data"
}
trap cleanup EXIT

# Three free loopback ports: Prometheus, the server, the generator's endpoint
# (Prometheus' targets must be known before it starts).
read -r prom_port serve_port metrics_port < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
EOF
)

cat >"$out/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: pushpoll-load
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
  - job_name: pushpoll-server
    static_configs:
      - targets: ["127.0.0.1:$serve_port"]
EOF
"$prom" --config.file="$out/prometheus.yml" --storage.tsdb.path="$data" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$out/prometheus.log" 2>&1 &
pids+=($!)
"$bin" serve --addr "127.0.0.1:$serve_port" >"$out/serve.log" 2>&1 &
pids+=($!)

# Waits (at most 30 s) until a URL answers 200.
ready() {
  python3 - "$1" <<'EOF'
import sys, time, urllib.request
deadline = time.time() + 30
while True:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
            if r.status == 200:
                break
    except OSError:
        pass
    if time.time() > deadline:
        sys.exit(f"prometheus-check: {sys.argv[1]} did not come up in 30 s")
    time.sleep(0.2)
EOF
}
ready "http://127.0.0.1:$prom_port/-/ready"
ready "http://127.0.0.1:$serve_port/healthz"

# Long polling, so that requests and the idle window count too. The linger
# (5 s) spans several 1 s scrapes of the final figures.
timeout 120 "$bin" load --url "http://127.0.0.1:$serve_port/messages" --transport long-poll \
  --subscribers 20 --rate 50 --duration 4 --idle 1 \
  --metrics-addr "127.0.0.1:$metrics_port" --metrics-linger 5 \
  --json "$out/load.json" >"$out/load.log" 2>&1 \
  || { cat "$out/load.log" >&2; exit 1; }

python3 - "http://127.0.0.1:$prom_port" "$out/load.json" deploy/grafana/pushpoll.json <<'EOF'
import json, sys, urllib.parse, urllib.request

api, result_path, dashboard_path = sys.argv[1:4]
run = json.load(open(result_path))["runs"][0]

def query(expr, at=None):
    params = {"query": expr}
    if at is not None:
        params["time"] = str(at)
    url = f"{api}/api/v1/query?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        sys.exit(f"prometheus-check: {expr!r}: {body}")
    return body["data"]["result"]

def last(name):
    """The newest sample Prometheus scraped of `name` from the generator:
    its labels, value and time (raw samples of a range selector, which
    skips the staleness marker written when the target went away)."""
    rows = query(f'{name}{{job="pushpoll-load"}}[10m]')
    if len(rows) != 1:
        sys.exit(f"prometheus-check: expected one {name} series, got {rows}")
    at, value = rows[0]["values"][-1]
    return rows[0]["metric"], float(value), float(at)

labels, delivered, at = last("pushpoll_load_delivered_total")
_, published, _ = last("pushpoll_load_published_total")
_, finished, _ = last("pushpoll_load_run_finished")
print(f"prometheus-check: last scrape: delivered {delivered:.0f}, published {published:.0f}, "
      f"run_finished {finished:.0f}; JSON: delivered {run['delivered']}, published {run['published']}")
problems = []
if labels.get("run_id") != run["run_id"] or labels.get("transport") != run["transport"]:
    problems.append(f"labels {labels} do not name run {run['run_id']} over {run['transport']}")
if finished != 1:
    problems.append("the last scrape came before the run's final figures (pushpoll_load_run_finished 0)")
if delivered != run["delivered"]:
    problems.append(f"last scraped delivered {delivered} != JSON delivered {run['delivered']}")
if published != run["published"]:
    problems.append(f"last scraped published {published} != JSON published {run['published']}")
if run["delivered"] == 0:
    problems.append("the run delivered nothing")

# Every dashboard query, evaluated at the last scrape of the run with
# Grafana's variables filled in: it must parse, and the traffic panels must
# show data (errors and slow consumers may rightly be empty).
dash = json.load(open(dashboard_path))
subst = {"$__rate_interval": "5s", "$run_id": ".*", "$server_job": "pushpoll-server"}
checked = 0
for panel in dash["panels"]:
    for t in panel.get("targets", []):
        expr = t["expr"]
        for k, v in subst.items():
            expr = expr.replace(k, v)
        rows = query(expr, at)
        checked += 1
        may_be_empty = "errors_total" in expr or "slow_consumer" in expr
        if not rows and not may_be_empty:
            problems.append(f"dashboard panel {panel['title']!r}: {expr} returned nothing")
print(f"prometheus-check: {checked} dashboard queries evaluated")
if problems:
    sys.exit("prometheus-check: FAILED\n  " + "\n  ".join(problems))
print("prometheus-check: ok")
EOF
