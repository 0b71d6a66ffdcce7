#!/usr/bin/env bash
# Fan-out cost per delivered message in units that do not drift with the
# machine's load: CPU instructions (valgrind's callgrind, user space only:
# the kernel's share of a write is not in them) and heap allocations
# (counted by the profiled program itself).
#
#   scripts/callgrind-fanout.sh                       # prints the table (~3 min)
#   scripts/callgrind-fanout.sh --out results/<dir>/fanout/after.txt
#
# Cases (crates/server/examples/fanout_profile.rs):
# - hub: publish one message, every one of 10,000 cursors takes it (the
#   criterion `fanout/publish_and_deliver/10000` workload), in memory.
# - ws paced: the real server (one runtime worker) with 1,000 plain WebSocket
#   subscribers plus the publisher's connection; one message at a time, each
#   waited for on every connection: one frame per socket write.
# - ws burst: the same, every message published at once: the server's
#   batching (several frames per write) at work.
# Each case runs twice with different message counts; setup (connections,
# handshakes, runtime) costs the same in both, so
# (instructions₂ − instructions₁) / (deliveries₂ − deliveries₁) is the cost
# of one delivery, publishing included (amortised over the subscribers).
# The WebSocket driver runs natively in its own process; only the server
# runs under valgrind.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
cargo build --release -q -p pushpoll-server --example fanout_profile
ex="$root/target/release/examples/fanout_profile"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cg=(valgrind --tool=callgrind --dump-instr=no --compress-strings=no)

# instructions FILE: total Ir of a callgrind output file.
instructions() { awk '/^(summary|totals):/{print $2; exit}' "$1"; }

# hub SUBS MSGS: prints "deliveries allocations bytes instructions".
hub() {
  local f="$work/hub-$2.out" line
  line=$(timeout 600 "${cg[@]}" --callgrind-out-file="$f" "$ex" hub "$1" "$2" 2>/dev/null)
  set -- $line
  echo "$2 $4 $6 $(instructions "$f")"
}

# ws SUBS MSGS MODE: the server under callgrind, the driver natively.
ws() {
  local f="$work/ws-$3-$2.out" fifo="$work/stdin" vpid port line deliveries
  rm -f "$fifo"; mkfifo "$fifo"
  timeout 900 "${cg[@]}" --callgrind-out-file="$f" "$ex" serve <"$fifo" >"$work/serve.log" 2>"$work/valgrind.log" &
  vpid=$!
  exec 7>"$fifo"
  for _ in $(seq 1 600); do
    port=$(awk '/^listening/{print $2}' "$work/serve.log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$work/valgrind.log" >&2; echo "server did not start" >&2; exit 1; }
  line=$(timeout 600 "$ex" drive "$port" "$1" "$2" "$3")
  deliveries=$(echo "$line" | awk '{print $2}')
  exec 7>&-
  wait "$vpid"
  set -- $(awk '/^allocations/{print $2, $4}' "$work/serve.log")
  echo "$deliveries $1 $2 $(instructions "$f")"
}

rows=()
# case NAME FN ARGS1 -- ARGS2: runs both, prints one row.
measure() {
  local name="$1" fn="$2" a b
  read -r -a a <<<"$($fn $3)"
  read -r -a b <<<"$($fn $4)"
  rows+=("$name|${a[*]} ${b[*]}")
  echo "  $name: done" >&2
}
echo "hub (10,000 cursors)" >&2
measure "hub, 10,000 cursors" hub "10000 20" "10000 120"
echo "ws paced (1,000 subscribers)" >&2
measure "ws paced, 1,000 subscribers" ws "1000 10 paced" "1000 60 paced"
echo "ws burst (1,000 subscribers)" >&2
measure "ws burst, 1,000 subscribers" ws "1000 20 burst" "1000 220 burst"

report=$(printf '%s\n' "${rows[@]}" | python3 -c '
import sys
print("%-30s %11s %22s %21s %25s" % ("case", "deliveries", "instructions/delivery", "allocations/delivery", "bytes allocated/delivery"))
print("-" * 113)
for line in sys.stdin:
    label, rest = line.split("|")
    d1, a1, b1, i1, d2, a2, b2, i2 = map(int, rest.split())
    dd = d2 - d1
    print(f"{label:<30} {dd:>11,} {(i2 - i1) / dd:>22,.0f} {(a2 - a1) / dd:>21.3f} {(b2 - b1) / dd:>25.1f}")
')
{
  echo "$report"
  echo
  echo "deliveries: the difference between two runs of each case (see scripts/callgrind-fanout.sh)"
  echo "revision: $(git rev-parse --short HEAD)$(git diff --quiet -- crates/server || echo ' + uncommitted changes in crates/server')"
  echo "$(valgrind --version), $(rustc --version)"
} | tee "${out:-/dev/null}"
