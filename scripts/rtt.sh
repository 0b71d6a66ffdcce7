#!/usr/bin/env bash
# RFC 6202's latency claims, measured: every transport through the delaying
# proxy of `pushpoll compare --rtt` (subscribers behind it, publishers straight
# to the server), at a publish rate whose events are spaced wider than a round
# trip and at one where they come back to back, short polling at two
# intervals. The report's "Network round trip" section puts the measured
# table (latency in ms and in one-way transits) next to the claim.
#
# Writes into DIR (default results/<date>-<cpus>cpu-<cpu>/rtt):
#   rtt.json      every run (crates/results/schema/result.schema.json, one_way_delay_ms set)
#   compare.txt   the terminal tables
#   report.md, report.html, *.svg   the report
#   command.txt   the exact command line
#   machine.txt   cores, memory, kernel, CPU, rustc
#
# Usage: scripts/rtt.sh [--quick] [--out DIR]
#   --quick   one delay and short runs (under a minute), to check the script
#
# 30 runs, about 3 minutes on 2 cores (plus the release build):
#   round trips 0, 50, 100 ms (one-way d = 0, 25, 50 ms)
#   4 msg/s   (0.2-0.4 events per round trip: spaced; 20 events a run)
#   80 msg/s  (4-8 events per round trip: back to back)
#   short polls every 0.5 s and 1 s
#
# The same by hand, with the binary's subcommands:
#   pushpoll serve --addr 127.0.0.1:8080 &
#   pushpoll proxy --listen 127.0.0.1:8081 --upstream 127.0.0.1:8080 --delay 50 &
#   pushpoll load --url http://127.0.0.1:8081/messages --transport long-poll \
#     --publish-url http://127.0.0.1:8080/messages --rate 40 --idle 0.5
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
out="${out:-results/$(date +%F)-${cpus}cpu-${cpu_model:-unknown}/rtt}"
mkdir -p "$out"

if [ "$quick" = 1 ]; then
  matrix=(--rtt 0,40 --rate 2,100 --poll-interval 0.5 --subscribers 10 --duration 1.5)
else
  matrix=(--rtt 0,50,100 --rate 4,80 --poll-interval 0.5,1 --subscribers 20 --duration 5)
fi
# Every subscriber settles (a long poll waiting at the server) before the
# first message, so start-up is not counted as latency. The header and
# HTTP/2 variants do not go through the proxy: none here.
cmd=("$bin" compare "${matrix[@]}" --idle 0.5 --variants none --json "$out/rtt.json" --out "$out")
printf '%q ' "${cmd[@]}" | sed "s|$root/||g" >"$out/command.txt"
echo >>"$out/command.txt"
{
  echo "cpus: $cpus"
  echo "cpu: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
  echo "memory: $(awk '/^MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -sr)"
  echo "rustc: $(rustc -V)"
  echo "date: $(date -u +%FT%TZ)"
} >"$out/machine.txt"

timeout 900 "${cmd[@]}" >"$out/compare.txt"
echo "wrote $out"
