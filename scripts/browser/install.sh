#!/usr/bin/env bash
# Installs what the browser test needs: Debian's Chromium (skipped when
# /usr/bin/chromium exists) and playwright-core into
# scripts/browser/node_modules (never committed; the lock file is).
# playwright-core downloads no browser of its own: e2e.js drives
# /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium
fi
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
