#!/usr/bin/env bash
# Runs the published comparison matrix end to end and writes a reference
# result folder: results/<date>-<machine>/ with
#   compare.json   every run (crates/results/schema/result.schema.json)
#   compare.txt    the terminal tables
#   report/        report.md, report.html and the charts as SVG
#   command.txt    the exact command line
#   machine.txt    cores, memory, kernel, CPU, rustc
#   benches.txt    criterion results (with --benches)
#
# Usage: scripts/sweep.sh [--quick] [--benches] [--out DIR]
#   --quick    a small matrix (a minute or two) to check the script itself
#   --benches  also run `cargo bench` and keep its estimates
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
quick=0 benches=0 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --benches) benches=1 ;;
    --out) out="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
  shift
done

cargo build --release --quiet
bin="$root/target/release/pushpoll"

cpus=$(nproc)
cpu_model=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo | tr -cs 'A-Za-z0-9' '-' | sed 's/-$//' | tr 'A-Z' 'a-z')
machine="${cpus}cpu-${cpu_model:-unknown}"
out="${out:-results/$(date +%F)-$machine}"
mkdir -p "$out"

if [ "$quick" = 1 ]; then
  matrix=(--subscribers 10,50 --rate 1,5 --poll-interval 0.5,1 --duration 2 --idle 1)
else
  # The published matrix: room sizes from a team chat to a big room, a quiet
  # room (one message every 2 s) and a busy one, and two poll intervals
  # people pick. 30 runs, about 10 minutes on 2 cores.
  matrix=(--subscribers 10,100,1000 --rate 0.5,5 --poll-interval 1,5 --duration 10 --idle 5)
fi

cmd=("$bin" compare "${matrix[@]}" --json "$out/compare.json" --out "$out/report")
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

timeout 3600 "${cmd[@]}" >"$out/compare.txt"

if [ "$benches" = 1 ]; then
  timeout 3600 cargo bench --quiet -- --noplot 2>&1 | grep -E '^[a-z_]+/|time:|thrpt:' >"$out/benches.txt" || true
fi
echo "wrote $out"
