#!/usr/bin/env bash
# WebSocket permessage-deflate (RFC 7692) measured through `pushpoll load`:
# the Node `ws` peer (scripts/peers/ws-broadcast.js) with and without
# WS_DEFLATE=1 (compressing every message: WS_DEFLATE_THRESHOLD=0), and the
# generator's subscribers with and without `--ws-deflate` (the offer),
# at 64-byte and 1 KiB payloads. Bytes are counted at the subscribers'
# sockets, so a negotiated run counts the compressed bytes.
#
# Payloads are the run's marker (~40 bytes of hex and digits) padded with
# '-': the padding compresses far better than chat text would, so the
# 1 KiB figures are a best case for deflate.
#
# Writes into DIR (default results/<date>-<cpus>cpu-<cpu>/http/ws-deflate):
#   deflate-<D>-offer-<O>-<P>.json / .txt   one run (result JSON, summary)
#   summary.md   one line per run; command.txt   how to reproduce
#
# Usage: scripts/ws-deflate.sh [--out DIR] [--quick]
#   --quick   20 subscribers and 2 s runs, to check the script
# Needs: cargo build --release -p pushpoll; scripts/peers/install.sh
# 8 runs, about 2 minutes on 2 cores. One of them by hand:
#   WS_DEFLATE=1 WS_DEFLATE_THRESHOLD=0 node scripts/peers/ws-broadcast.js 0 &  # "listening PORT"
#   pushpoll load --url ws://127.0.0.1:PORT/ws --transport ws --ws-deflate \
#     --header-profile browser --subscribers 200 --rate 5 --duration 10 \
#     --payload-bytes 1024 --json run.json
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
subs=200 dur=10
[ "$quick" = 1 ] && subs=20 dur=2
if [ -z "$out" ]; then
  cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //; s/AMD //; s/ .*//' | tr 'A-Z' 'a-z')"
  out="results/$(date -u +%F)-$(nproc)cpu-${cpu:-cpu}/http/ws-deflate"
fi
mkdir -p "$out"
bin="$root/target/release/pushpoll"
[ -x "$bin" ] || { echo "build first: cargo build --release -p pushpoll" >&2; exit 1; }
[ -d scripts/peers/node_modules/ws ] || { echo "install the peers first: scripts/peers/install.sh" >&2; exit 1; }

: > "$out/summary.md"
echo "| server WS_DEFLATE | --ws-deflate | payload B | negotiated | delivered | bytes / delivered |" >> "$out/summary.md"
echo "|---|---|---|---|---|---|" >> "$out/summary.md"
for d in 0 1; do
  for offer in 0 1; do
    for p in 64 1024; do
      log="$(mktemp)"
      WS_DEFLATE=$d WS_DEFLATE_THRESHOLD=0 node scripts/peers/ws-broadcast.js 0 > "$log" 2>&1 &
      peer=$!
      port=""
      for _ in $(seq 100); do
        port="$(sed -n 's/^listening //p' "$log")"
        [ -n "$port" ] && break
        sleep 0.05
      done
      name="deflate-$d-offer-$offer-$p"
      flag=()
      [ "$offer" = 1 ] && flag=(--ws-deflate)
      "$bin" load --url "ws://127.0.0.1:$port/ws" --transport ws "${flag[@]}" \
        --header-profile browser --subscribers "$subs" --rate 5 --duration "$dur" \
        --payload-bytes "$p" --label "node ws WS_DEFLATE=$d, offer $offer, $p B" \
        --json "$out/$name.json" > "$out/$name.txt"
      kill "$peer"; wait "$peer" 2>/dev/null || true
      rm -f "$log"
      python3 - "$out/$name.json" "$d" "$offer" "$p" >> "$out/summary.md" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
r = doc["runs"][0] if "runs" in doc else doc
n = (r.get("wire") or {}).get("deflate_negotiated")
neg = "-" if n is None else f"{n} of {r['subscribers_connected']}"
print(f"| {sys.argv[2]} | {'yes' if sys.argv[3] == '1' else 'no'} | {sys.argv[4]} | {neg} | "
      f"{r['delivered']}/{r['expected_deliveries']} | {r['bytes_per_delivered']:.1f} |")
EOF
    done
  done
done
cat > "$out/command.txt" <<EOF
# The Node \`ws\` peer with and without permessage-deflate, through pushpoll load
# with and without --ws-deflate (browser headers, $subs subscribers, 5 msg/s, ${dur} s,
# 64 B and 1 KiB payloads: the marker padded with '-', which compresses far
# better than chat text):
scripts/peers/install.sh
cargo build --release -p pushpoll
scripts/ws-deflate.sh$( [ "$quick" = 1 ] && echo " --quick") --out $out
# Each run, by hand:
#   WS_DEFLATE=D WS_DEFLATE_THRESHOLD=0 node scripts/peers/ws-broadcast.js 0 &   # prints "listening PORT"
#   pushpoll load --url ws://127.0.0.1:PORT/ws --transport ws [--ws-deflate] --header-profile browser \\
#     --subscribers $subs --rate 5 --duration $dur --payload-bytes P --json deflate-D-offer-O-P.json
EOF
cat "$out/summary.md"
