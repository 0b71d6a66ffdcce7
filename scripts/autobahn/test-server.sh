#!/usr/bin/env bash
# Runs Autobahn|Testsuite's fuzzingclient against a running WebSocket ECHO
# server (pushpoll's /ws behaves as one with a single client connected) and
# fails on any FAILED case outside the compression groups 12.* and 13.*.
#
# Usage: scripts/autobahn/test-server.sh URL_OR_HOSTPORT [REPORT_DIR]
#   URL_OR_HOSTPORT  ws://127.0.0.1:8080/ws, or 127.0.0.1:8080 / 8080 (then /ws is used)
#   REPORT_DIR       default target/autobahn/server (HTML: index.html, JSON: index.json)
# Env:
#   AUTOBAHN_AGENT    agent name in the report (default pushpoll)
#   AUTOBAHN_CASES    case patterns to run, space separated (default "*")
#   AUTOBAHN_EXCLUDE  case patterns not to run (default "12.* 13.*": permessage-deflate)
#   AUTOBAHN_TIMEOUT  seconds the whole wstest run may take (default 900)
#   AUTOBAHN_MARKDOWN also write a Markdown summary table to this file
# Exit: 0 pass, 1 a FAILED case (or a case without result), 2 no report.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 64
fi
target="$1"
case "$target" in
  ws://* | wss://*) url="$target" ;;
  *:*) url="ws://$target/ws" ;;
  *[!0-9]*) echo "test-server: not a URL, HOST:PORT or PORT: $target" >&2; exit 64 ;;
  *) url="ws://127.0.0.1:$target/ws" ;;
esac
out="${2:-$root/target/autobahn/server}"
agent="${AUTOBAHN_AGENT:-pushpoll}"
cases="${AUTOBAHN_CASES:-*}"
exclude="${AUTOBAHN_EXCLUDE-12.* 13.*}"
limit="${AUTOBAHN_TIMEOUT:-900}"

"$here/install.sh"
wstest="${AUTOBAHN_HOME:-$root/.local/autobahn}/bin/wstest"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -f "$out"/index.json "$out"/index.html "$out"/*_case_*.json "$out"/*_case_*.html

# Wait (10 s at most) until the server accepts TCP connections.
python3 - "$url" <<'EOF'
import socket, sys, time
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
addr = (u.hostname, u.port or (443 if u.scheme == "wss" else 80))
deadline = time.time() + 10
while True:
    try:
        socket.create_connection(addr, timeout=1).close()
        break
    except OSError as e:
        if time.time() > deadline:
            sys.exit(f"test-server: nothing listening at {addr[0]}:{addr[1]}: {e}")
        time.sleep(0.1)
EOF

spec="$out/fuzzingclient.json"
python3 - "$spec" "$out" "$url" "$agent" "$cases" "$exclude" <<'EOF'
import json, sys
spec, out, url, agent, cases, exclude = sys.argv[1:]
with open(spec, "w") as f:
    json.dump({
        "outdir": out,
        "servers": [{"url": url, "agent": agent}],
        "cases": cases.split(),
        "exclude-cases": exclude.split(),
        "exclude-agent-cases": {},
    }, f, indent=2)
EOF

echo "== Autobahn fuzzingclient -> $url (agent $agent, cases: $cases; excluded: ${exclude:-none}); report: $out/index.html"
start=$(date +%s)
rc=0
(cd "$out" && timeout --kill-after=10 "$limit" env -u PYTHONPATH -u PYTHONHOME "$wstest" -m fuzzingclient -s "$spec") >"$out/wstest.log" 2>&1 || rc=$?
echo "wstest fuzzingclient: exit $rc after $(($(date +%s) - start)) s ($(grep -c '^Running test case' "$out/wstest.log" || true) cases started; log $out/wstest.log)"
if [ "$rc" != 0 ]; then
  [ "$rc" = 124 ] && echo "test-server: wstest ran past AUTOBAHN_TIMEOUT=$limit s" >&2
  tail -n 20 "$out/wstest.log" >&2
fi

md=(--title "server $agent ($url)")
[ -n "${AUTOBAHN_MARKDOWN:-}" ] && md+=(--markdown "$AUTOBAHN_MARKDOWN")
sum=0
python3 "$here/summarize.py" "$out" --agent "$agent" --log "$out/wstest.log" ${md[@]+"${md[@]}"} || sum=$?
if [ "$sum" = 0 ] && [ "$rc" != 0 ]; then sum=1; fi
exit "$sum"
