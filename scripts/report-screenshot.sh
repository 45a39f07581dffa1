#!/usr/bin/env bash
# Renders a run's report.html in headless Chromium and saves a screenshot, to look at
# the report as a person would (the page loads nothing from the network, so none is
# needed).
#
#   scripts/report-screenshot.sh RUN_DIR [OUT.png] [WIDTHxHEIGHT]
#
# RUN_DIR holds report.html (from `barrage run` or `barrage report`). OUT.png defaults
# to RUN_DIR/report.png, the window to 1400x2400. Needs chromium (Debian:
# apt-get install chromium).
set -euo pipefail

dir=${1:?usage: $0 RUN_DIR [OUT.png] [WIDTHxHEIGHT]}
out=${2:-$dir/report.png}
size=${3:-1400x2400}
html=$(realpath "$dir/report.html")
[ -f "$html" ] || { echo "no report.html in $dir: run barrage report $dir first" >&2; exit 1; }

browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "chromium not found: apt-get install chromium" >&2; exit 1; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
    --user-data-dir="$profile" --window-size="${size/x/,}" \
    --screenshot="$(realpath -m "$out")" "file://$html" >/dev/null 2>&1
echo "$out"
