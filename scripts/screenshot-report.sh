#!/usr/bin/env bash
# Opens a Keel report in headless Chromium (Debian's `chromium`) and saves a screenshot, to look at what a
# person sees. Usage: scripts/screenshot-report.sh keel-demo/report.html [out.png]
set -euo pipefail
report="$(realpath "$1")"
png="${2:-${report%.html}.png}"
command -v chromium >/dev/null || { echo "install Debian's chromium: apt-get install -y chromium" >&2; exit 1; }
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --window-size=1200,3000 \
  --screenshot="$png" "file://$report" 2>/dev/null
echo "$png"
