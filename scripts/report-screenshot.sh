#!/usr/bin/env bash
# Renders a run's report.html in headless Chromium and saves a screenshot, to look at
# the report as a person would (the page loads nothing from the network, so none is
# needed).
#
#   scripts/report-screenshot.sh RUN_DIR [OUT.png] [WIDTHxHEIGHT]
#
# RUN_DIR holds report.html (from `barrage run` or `barrage report`). OUT.png defaults
# to RUN_DIR/report.png, the window to 1400x2400. Needs chromium, Chrome or
# chromium-browser; installs Debian's chromium when none is there (as root).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir=${1:?usage: $0 RUN_DIR [OUT.png] [WIDTHxHEIGHT]}
out=${2:-$dir/report.png}
size=${3:-1400x2400}
html=$(realpath -m "$dir/report.html")   # -m: a missing file gets the message below
[ -f "$html" ] || die "no report.html in $dir: run barrage report $dir first"

browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    need chromium:chromium
    browser=$(command -v chromium)
fi

profile=$(mktemp -d)
at_exit 'rm -rf "$profile"'
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
    --user-data-dir="$profile" --window-size="${size/x/,}" \
    --screenshot="$(realpath -m "$out")" "file://$html" >/dev/null 2>&1
echo "$out"
