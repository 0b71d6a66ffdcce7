#!/usr/bin/env bash
# "Is polling still wasteful?" measured in both worlds: the notes' (HTTP/1.1,
# a browser's full headers on every poll) and today's (HTTP/2, HPACK,
# compressed answers), against WebSocket and SSE in each.
#
# One `pushpoll serve` that compresses poll answers (br, then gzip, as a
# default nginx would from 20 bytes) and one that does not; every transport
# with the generator's minimal headers and with desktop Chromium's
# (`--header-profile browser`, docs/headers.md); polling and SSE over
# HTTP/1.1 and over HTTP/2 (one connection per subscriber: each subscriber
# is a different browser). Every run publishes the same chat workload.
#
# Writes into DIR (default results/<date>-<cpus>cpu-<cpu>/http):
#   runs/*.json   one results document per run (crates/results/schema/result.schema.json)
#   summary.md    one line per run: requests, bytes and latency per
#                 delivered message, and an idle poll's bytes on the wire
#   report.md, report.html, *.svg   `pushpoll report` of all runs
#   command.txt   how to reproduce; machine.txt  the machine
#
# Usage: scripts/http-matrix.sh [--quick] [--out DIR]
#   --quick   20 subscribers and 2 s runs (under a minute), to check the script
#
# 18 runs, about 5 minutes on 2 cores. One of them by hand:
#   pushpoll serve --addr 127.0.0.1:8080 &
#   pushpoll load --url http://127.0.0.1:8080/messages --transport long-poll \
#     --header-profile browser --http2 --h2-streams-per-connection 1 \
#     --subscribers 200 --rate 5 --duration 10 --idle 3 \
#     --server-metrics-url http://127.0.0.1:8080/metrics --json run.json
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
quick=0 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
  shift
done

cargo build --release --quiet -p pushpoll
bin="$root/target/release/pushpoll"

cpus=$(nproc)
cpu_model=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo | tr -cs 'A-Za-z0-9' '-' | sed 's/-$//' | tr 'A-Z' 'a-z')
out="${out:-results/$(date +%F)-${cpus}cpu-${cpu_model:-unknown}/http}"
rm -rf "$out/runs"
mkdir -p "$out/runs"

if [ "$quick" = 1 ]; then
  workload=(--subscribers 20 --rate 5 --duration 2 --idle 1 --poll-interval 1 --long-poll-wait 30 --payload-bytes 64)
else
  # The notes' chat as `pushpoll compare` ran it by default before its quiet/busy pair (200 subscribers, 5 msg/s), a little longer.
  workload=(--subscribers 200 --rate 5 --duration 10 --idle 3 --poll-interval 1 --long-poll-wait 30 --payload-bytes 64)
fi

# Two servers on free ports: compressing (the default) and not.
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
start_server() { # VAR ARGS...: starts a server, sets VAR to its address
  local var="$1"; shift
  local log="$out/runs/.server-$var"
  "$bin" serve --addr 127.0.0.1:0 "$@" >/dev/null 2>"$log" &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q 'serving on' "$log" 2>/dev/null && break
    sleep 0.1
  done
  printf -v "$var" '%s' "$(sed -n 's|.*serving on http://\([0-9.:]*\)/.*|\1|p' "$log" | head -1)"
  [ -n "${!var}" ] || { echo "the server ($*) did not start: $(cat "$log")" >&2; exit 1; }
}
start_server zip_addr
start_server plain_addr --compression off

n=0
run() { # NAME ADDR TRANSPORT PATH LABEL ARGS...
  local name="$1" addr="$2" transport="$3" path="$4" label="$5"; shift 5
  local scheme=http
  [ "$transport" = ws ] && scheme=ws
  n=$((n + 1))
  echo "[$n] $label" >&2
  "$bin" load --url "$scheme://$addr$path" --transport "$transport" "${workload[@]}" \
    --server-metrics-url "http://$addr/metrics" --label "$label" \
    --json "$out/runs/$(printf %02d $n)-$name.json" "$@" >/dev/null
}

h2=(--http2 --h2-streams-per-connection 1)
for profile in minimal browser; do
  run "ws-$profile" "$zip_addr" ws /ws "ws, HTTP/1.1, $profile headers" --header-profile $profile
  run "sse-$profile" "$zip_addr" sse /events "sse, HTTP/1.1, $profile headers" --header-profile $profile
  run "sse-h2-$profile" "$zip_addr" sse /events "sse, HTTP/2, $profile headers" --header-profile $profile "${h2[@]}"
  for t in long-poll short-poll; do
    if [ $profile = browser ]; then
      run "$t-plain-$profile" "$plain_addr" $t /messages "$t, HTTP/1.1, $profile headers, uncompressed" --header-profile $profile
      run "$t-h2-plain-$profile" "$plain_addr" $t /messages "$t, HTTP/2, $profile headers, uncompressed" --header-profile $profile "${h2[@]}"
      run "$t-$profile" "$zip_addr" $t /messages "$t, HTTP/1.1, $profile headers, br" --header-profile $profile
      run "$t-h2-$profile" "$zip_addr" $t /messages "$t, HTTP/2, $profile headers, br" --header-profile $profile "${h2[@]}"
    else
      run "$t-$profile" "$zip_addr" $t /messages "$t, HTTP/1.1, $profile headers" --header-profile $profile
      run "$t-h2-$profile" "$zip_addr" $t /messages "$t, HTTP/2, $profile headers" --header-profile $profile "${h2[@]}"
    fi
  done
done
rm -f "$out/runs/.server-"*

# One line per run. "idle poll" is an idle short poll on the wire, request
# and answer together (idle bytes / idle requests); "payload share" is the
# part of the run's bytes that was the messages themselves.
{
  echo "| run | requests / delivered | bytes / delivered | payload share | idle poll (B) | p50 / p99 latency (ms) | lost |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  jq -r -s '.[] | .runs[0] | [
      .label,
      (.requests_per_delivered * 1000 | round / 1000 | tostring),
      (.bytes_per_delivered | round | tostring),
      ((.payload_bytes_per_delivered / .bytes_per_delivered * 100 | round | tostring) + " %"),
      (if .transport == "short-poll" and .idle.requests > 0 then (.idle.bytes / .idle.requests | round | tostring) else "—" end),
      ((.latency_us.p50 / 100 | round / 10 | tostring) + " / " + (.latency_us.p99 / 100 | round / 10 | tostring)),
      (.lost | tostring)
    ] | "| " + join(" | ") + " |"' "$out"/runs/*.json
} >"$out/summary.md"
cat "$out/summary.md"

"$bin" report "$out"/runs/*.json --out "$out" >/dev/null

{
  echo "scripts/http-matrix.sh $( [ $quick = 1 ] && echo --quick )"
  echo "# each run:"
  echo "pushpoll load --url <scheme>://<server>/<path> --transport <t> ${workload[*]} --server-metrics-url http://<server>/metrics --label <label> --json runs/<n>.json [--header-profile browser] [--http2 --h2-streams-per-connection 1]"
  echo "# servers: pushpoll serve --addr 127.0.0.1:0   and   pushpoll serve --addr 127.0.0.1:0 --compression off"
  echo "# report: pushpoll report runs/*.json --out ."
} >"$out/command.txt"
{
  echo "cores: $cpus"
  awk -F': ' '/^model name/{print "cpu: " $2; exit}' /proc/cpuinfo
  echo "memory: $(awk '/MemTotal/{print $2 " kB"}' /proc/meminfo)"
  echo "kernel: $(uname -r)"
  echo "rustc: $(rustc --version)"
  echo "commit: $(git rev-parse --short HEAD)"
} >"$out/machine.txt"
echo "wrote $out" >&2
