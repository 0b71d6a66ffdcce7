#!/usr/bin/env bash
# What TLS costs per delivered message: the same small workload against
# `pushpoll serve` plain and `pushpoll serve --tls-cert --tls-key`, over
# WebSocket and short polling. The generator counts bytes at the socket,
# under TLS, so TLS record headers and tags, handshakes (and, for short
# polling's keep-alive connection, nothing more: the handshake is paid once
# per connection) are in the figures.
#
# Writes into DIR (default results/<date>-<cpus>cpu-<cpu>/tls):
#   <transport>-<plain|tls>.json   each run (`pushpoll load --json`)
#   tls-cost.txt                   the table
#   command.txt                    the exact command line and workload
#
# Usage: scripts/tls-cost.sh [--bin PATH] [--out DIR]
#   --bin   the pushpoll binary (default: target/release/pushpoll, built if absent)
#
# About 30 s: four runs of 5 s each (50 subscribers, 10 msg/s, 64-byte payloads,
# short polls every 1 s), a self-signed certificate made with openssl.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bin="" out="" args="$*"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift ;;
    --out) out="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
  shift
done
if [ -z "$bin" ]; then
  bin=target/release/pushpoll
  [ -x "$bin" ] || cargo build --release -p pushpoll
fi
if [ -z "$out" ]; then
  cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //; s/ .*//' | tr 'A-Z' 'a-z')
  out="results/$(date -u +%Y-%m-%d)-$(nproc)cpu-${cpu:-cpu}/tls"
fi
mkdir -p "$out"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# A self-signed certificate for 127.0.0.1 and localhost (what --ca-cert trusts;
# not a CA certificate, which a TLS client refuses as a server's own).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -addext "basicConstraints=critical,CA:FALSE" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null

# Starts a server on a free port (its log in $tmp/serve-NAME.log).
serve() {
  local name=$1
  shift
  "$bin" serve --addr 127.0.0.1:0 "$@" >/dev/null 2>"$tmp/serve-$name.log" &
  pids+=($!)
}
# The address a server printed.
addr_of() {
  local log="$tmp/serve-$1.log"
  for _ in $(seq 200); do
    if grep -q 'serving on' "$log"; then
      sed -n 's|.*serving on [a-z]*://\([0-9.:]*\)/.*|\1|p' "$log" | head -1
      return
    fi
    sleep 0.05
  done
  echo "server $1 did not start: $(cat "$log")" >&2
  return 1
}
serve plain
serve tls --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem"
plain=$(addr_of plain)
tls=$(addr_of tls)

workload=(--subscribers 50 --rate 10 --duration 5 --payload-bytes 64 --poll-interval 1 --idle 0)
{
  echo "scripts/tls-cost.sh $args"
  echo "pushpoll load ${workload[*]} against pushpoll serve (plain) and pushpoll serve --tls-cert --tls-key (self-signed, trusted with --ca-cert)"
} >"$out/command.txt"

run() { # transport scheme addr name [args]
  local transport=$1 scheme=$2 addr=$3 name=$4
  shift 4
  "$bin" load --url "$scheme://$addr" --transport "$transport" "${workload[@]}" \
    --json "$out/$name.json" "$@" >/dev/null
}
run ws ws "$plain" ws-plain
run ws wss "$tls" ws-tls --ca-cert "$tmp/cert.pem"
run short-poll http "$plain" short-poll-plain
run short-poll https "$tls" short-poll-tls --ca-cert "$tmp/cert.pem"

{
  printf '%-11s %-6s %10s %10s %14s %14s\n' transport wire delivered lost 'bytes/deliv' 'requests/deliv'
  for t in ws short-poll; do
    for w in plain tls; do
      jq -r --arg t "$t" --arg w "$w" '.runs[0] |
        [$t, $w, .delivered, .lost, (.bytes_per_delivered*10|round/10), (.requests_per_delivered*1000|round/1000)] |
        @tsv' "$out/$t-$w.json"
    done
  done | while IFS=$'\t' read -r t w d l b r; do
    printf '%-11s %-6s %10s %10s %14s %14s\n' "$t" "$w" "$d" "$l" "$b" "$r"
  done
  for t in ws short-poll; do
    p=$(jq '.runs[0].bytes_per_delivered' "$out/$t-plain.json")
    s=$(jq '.runs[0].bytes_per_delivered' "$out/$t-tls.json")
    awk -v t="$t" -v p="$p" -v s="$s" 'BEGIN { printf "%s: TLS adds %.1f bytes per delivered message (x%.2f)\n", t, s - p, s / p }'
  done
} | tee "$out/tls-cost.txt"
