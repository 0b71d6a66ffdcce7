#!/usr/bin/env bash
# Renders a report.html in headless Chromium and checks that the DOM it
# builds holds every chart (one inline <svg> per .svg file beside it).
# Usage: scripts/check-report-render.sh REPORT_DIR   (needs /usr/bin/chromium:
# scripts/browser/install.sh installs it)
set -euo pipefail
dir="$(cd "$1" && pwd)"
charts=$(find "$dir" -maxdepth 1 -name '*.svg' | wc -l)
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
dom="$(timeout 60 /usr/bin/chromium --headless --no-sandbox --disable-gpu --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --disable-quic \
  --user-data-dir="$profile" --dump-dom "file://$dir/report.html" 2>/dev/null)"
rendered=$(grep -o '<svg[ >]' <<<"$dom" | wc -l)
title=$(grep -o '<title>[^<]*</title>' <<<"$dom" | head -n1)
echo "report.html rendered in Chromium: $title, $rendered inline SVG charts, $charts chart files"
if [ "$charts" -eq 0 ] || [ "$rendered" -lt "$charts" ]; then
  echo "expected at least $charts charts in the rendered DOM" >&2
  exit 1
fi
