#!/usr/bin/env bash
# Runs Autobahn|Testsuite's fuzzingserver on a free 127.0.0.1 port, runs a
# WebSocket client against it and fails on any FAILED case outside the
# compression groups 12.* and 13.* (or on a case the client never ran).
#
# Usage: scripts/autobahn/test-client.sh CLIENT_COMMAND [ARGS...]
#   e.g. scripts/autobahn/test-client.sh ./target/release/pushpoll autobahn-client --url '$AUTOBAHN_URL'
#        (single quotes: $AUTOBAHN_URL in the arguments is replaced by this script)
#   The client gets AUTOBAHN_URL=ws://127.0.0.1:PORT and AUTOBAHN_AGENT in its
#   environment and must follow the standard protocol: GET /getCaseCount, then
#   /runCase?case=N&agent=AGENT for N = 1..count echoing every message, then
#   /updateReports?agent=AGENT.
# Env:
#   AUTOBAHN_REPORT_DIR  default target/autobahn/client (index.html, index.json)
#   AUTOBAHN_AGENT       the agent the client reports as (default pushpoll)
#   AUTOBAHN_CASES       case patterns to serve, space separated (default "*")
#   AUTOBAHN_EXCLUDE     case patterns not to serve (default "12.* 13.*": permessage-deflate)
#   AUTOBAHN_TIMEOUT     seconds the client may take (default 900)
#   AUTOBAHN_MARKDOWN    also write a Markdown summary table to this file
# Exit: 0 pass, 1 a FAILED case / a case without result / the client failed, 2 no report.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 64
fi
out="${AUTOBAHN_REPORT_DIR:-$root/target/autobahn/client}"
agent="${AUTOBAHN_AGENT:-pushpoll}"
cases="${AUTOBAHN_CASES:-*}"
exclude="${AUTOBAHN_EXCLUDE-12.* 13.*}"
limit="${AUTOBAHN_TIMEOUT:-900}"

"$here/install.sh"
wstest="${AUTOBAHN_HOME:-$root/.local/autobahn}/bin/wstest"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -f "$out"/index.json "$out"/index.html "$out"/*_case_*.json "$out"/*_case_*.html

server_pid=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
trap stop_server EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# listening PORT: true once something accepts TCP connections on it.
listening() {
  python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' "$1" 2>/dev/null
}

# Start wstest -m fuzzingserver (no embedded web server: -u 0); a port taken
# between free_port and the bind gets another try.
started=0
for attempt in 1 2 3; do
  port="$(free_port)"
  url="ws://127.0.0.1:$port"
  spec="$out/fuzzingserver.json"
  python3 - "$spec" "$out" "$url" "$cases" "$exclude" <<'EOF'
import json, sys
spec, out, url, cases, exclude = sys.argv[1:]
with open(spec, "w") as f:
    json.dump({
        "url": url,
        "outdir": out,
        "cases": cases.split(),
        "exclude-cases": exclude.split(),
        "exclude-agent-cases": {},
    }, f, indent=2)
EOF
  (cd "$out" && exec timeout --kill-after=10 "$((limit + 120))" env -u PYTHONPATH -u PYTHONHOME "$wstest" -m fuzzingserver -u 0 -s "$spec") \
    >"$out/wstest.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    if grep -q '^Ok, will run' "$out/wstest.log" && listening "$port"; then
      started=1
      break
    fi
    sleep 0.1
  done
  [ "$started" = 1 ] && break
  echo "test-client: wstest fuzzingserver did not start on port $port (try $attempt):" >&2
  tail -n 20 "$out/wstest.log" >&2
  stop_server
done
[ "$started" = 1 ] || exit 2

echo "== Autobahn fuzzingserver at $url (agent $agent, cases: $cases; excluded: ${exclude:-none}); report: $out/index.html"
echo "   $(grep -m1 '^Ok, will run' "$out/wstest.log")"
# $AUTOBAHN_URL / ${AUTOBAHN_URL} written literally in the arguments become the URL.
args=()
for a in "$@"; do
  a="${a//\$\{AUTOBAHN_URL\}/$url}"
  args+=("${a//\$AUTOBAHN_URL/$url}")
done
echo "   client: ${args[*]}"
start=$(date +%s)
crc=0
AUTOBAHN_URL="$url" AUTOBAHN_AGENT="$agent" timeout --kill-after=10 "$limit" "${args[@]}" || crc=$?
echo "client: exit $crc after $(($(date +%s) - start)) s"
[ "$crc" = 124 ] && echo "test-client: the client ran past AUTOBAHN_TIMEOUT=$limit s" >&2

# /updateReports writes the report before it answers; give a late one 10 s.
for _ in $(seq 1 100); do
  [ -f "$out/index.json" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
stop_server
if [ ! -f "$out/index.json" ]; then
  echo "test-client: no report: the client never completed /updateReports?agent=$agent (wstest log: $out/wstest.log)" >&2
fi

md=(--title "client $agent")
[ -n "${AUTOBAHN_MARKDOWN:-}" ] && md+=(--markdown "$AUTOBAHN_MARKDOWN")
sum=0
python3 "$here/summarize.py" "$out" --agent "$agent" --log "$out/wstest.log" "${md[@]}" || sum=$?
if [ "$sum" = 0 ] && [ "$crc" != 0 ]; then
  echo "test-client: the client exited with $crc" >&2
  sum=1
fi
exit "$sum"
