#!/usr/bin/env bash
# Autobahn|Testsuite for CI: pushpoll's server (`pushpoll serve`, /ws) under
# wstest -m fuzzingclient, and pushpoll's WebSocket client
# (`pushpoll autobahn-client --url URL`) under wstest -m fuzzingserver.
# Fails on any FAILED case outside the permessage-deflate groups 12.*/13.*.
# Installs wstest itself (scripts/autobahn/install.sh).
#
# Usage: scripts/autobahn/ci.sh PUSHPOLL_BIN [both|server|client]   (default both)
# Env:   AUTOBAHN_OUT         reports (default target/autobahn): server/, client/,
#                             server.md and client.md (Markdown tables for the README)
#        AUTOBAHN_SERVE_ARGS  extra arguments for `pushpoll serve`
#        AUTOBAHN_CASES, AUTOBAHN_EXCLUDE, AUTOBAHN_TIMEOUT: see test-server.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 64
fi
case "$1" in
  */*) pushpoll="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")" ;;
  *) pushpoll="$(command -v "$1")" ;;
esac
which="${2:-both}"
out="${AUTOBAHN_OUT:-$root/target/autobahn}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
limit="${AUTOBAHN_TIMEOUT:-900}"

"$here/install.sh"
status=0

if [ "$which" = both ] || [ "$which" = server ]; then
  log="$out/pushpoll-serve.log"
  # shellcheck disable=SC2086 # AUTOBAHN_SERVE_ARGS is a list of words
  timeout --kill-after=10 "$((limit + 60))" "$pushpoll" serve --addr 127.0.0.1:0 ${AUTOBAHN_SERVE_ARGS:-} >"$log" 2>&1 &
  serve_pid=$!
  port=""
  for _ in $(seq 1 100); do
    port="$(sed -n 's|.*serving on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$log" | head -n1)"
    [ -n "$port" ] && break
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "autobahn/ci: pushpoll serve did not start:" >&2
    cat "$log" >&2
    status=1
  else
    AUTOBAHN_MARKDOWN="$out/server.md" "$here/test-server.sh" "ws://127.0.0.1:$port/ws" "$out/server" || status=1
    if ! kill -0 "$serve_pid" 2>/dev/null; then
      echo "autobahn/ci: pushpoll serve died during the run:" >&2
      tail -n 30 "$log" >&2
      status=1
    fi
  fi
  kill -INT "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
fi

if [ "$which" = both ] || [ "$which" = client ]; then
  # shellcheck disable=SC2016 # test-client.sh puts the URL in place of $AUTOBAHN_URL
  AUTOBAHN_MARKDOWN="$out/client.md" AUTOBAHN_REPORT_DIR="$out/client" \
    "$here/test-client.sh" "$pushpoll" autobahn-client --url '$AUTOBAHN_URL' || status=1
fi

exit "$status"
