#!/usr/bin/env bash
# The browser test as CI runs it: install (Chromium if missing, playwright-core)
# then drive the chat page on every transport.
#   scripts/browser/run.sh [path/to/pushpoll]   (default target/release/pushpoll)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="$(realpath "${1:-$root/target/release/pushpoll}")"
"$here/install.sh"
exec node "$here/e2e.js" "$bin"
