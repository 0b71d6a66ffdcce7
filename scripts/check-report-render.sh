#!/usr/bin/env bash
# Renders a report.html in headless Chromium and checks that the DOM it
# builds holds every chart (one inline <svg> per .svg file beside it).
# Usage: scripts/check-report-render.sh REPORT_DIR [SCREENSHOT.png]
# (needs /usr/bin/chromium: scripts/browser/install.sh installs it). With a
# second argument it also saves the page's first screen (1280x900) there:
# docs/report-first-screen.png is made this way.
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
if [ $# -ge 2 ]; then
  shot="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
  timeout 60 /usr/bin/chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --disable-quic \
    --hide-scrollbars --user-data-dir="$profile" --window-size=1280,900 \
    --screenshot="$shot" "file://$dir/report.html" >/dev/null 2>&1
  if [ ! -s "$shot" ]; then
    echo "Chromium wrote no screenshot to $shot" >&2
    exit 1
  fi
  echo "first screen saved to $shot"
fi
