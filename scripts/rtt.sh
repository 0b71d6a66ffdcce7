#!/usr/bin/env bash
# Latency of every transport as the network round trip grows (RFC 6202's
# claims about long polling, short polling's interval + RTT, WebSocket's RTT
# alone): pushpoll's server behind the delay proxy, in one process.
#
#   scripts/rtt.sh                      # one-way delays 20 and 50 ms
#   scripts/rtt.sh --delays 0,20,50,100 --duration 10 --subscribers 50
#
# The same by hand, with the binary's subcommands:
#   pushpoll serve --addr 127.0.0.1:8080 &
#   pushpoll proxy --listen 127.0.0.1:8081 --upstream 127.0.0.1:8080 --delay 50 &
#   pushpoll load --url http://127.0.0.1:8081 --transport long-poll \
#     --publish-url http://127.0.0.1:8080/messages --rate 40 --idle 0.5
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release -p pushpoll-loadgen --example rtt -- "$@"
