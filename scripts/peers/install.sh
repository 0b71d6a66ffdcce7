#!/usr/bin/env bash
# Installs the Node peer servers' packages into scripts/peers/node_modules
# (never committed). Uses the committed package-lock.json when present.
set -euo pipefail
cd "$(dirname "$0")"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
