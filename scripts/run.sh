#!/usr/bin/env bash
# One barrage session.
#
#   scripts/run.sh                 # short load against barrage's own server on loopback
#   scripts/run.sh --tls           # the same over HTTPS (generated CA, verified)
#   scripts/run.sh URL [OPTIONS]   # `barrage run URL OPTIONS` against your server
#   scripts/run.sh [--tls] OPTIONS # the local session with extra `barrage run` options
#   scripts/run.sh --scenario examples/shop.toml   # the example scenario against the
#                                  # local server's demo shop (its counts printed at the end)
#
# Builds the release binary first (cargo rebuilds only what changed). The local
# session serves on 127.0.0.1 (a free port), runs for DURATION (default 5s) with
# CONNECTIONS (default 64), prints the summary and where results.csv is, and stops
# the server.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_barrage
cd "$REPO"   # run directories go to the repository's barrage-runs/, as before

if [ $# -gt 0 ] && [[ "$1" == *://* ]]; then
    exec "$BARRAGE" run "$@"
fi

work=$(mktemp -d)
at_exit 'rm -rf "$work"'
tls=()
extra=()
scheme=http
if [ "${1:-}" = "--tls" ]; then
    shift
    tls=(--tls --ca-out "$work/ca.pem")
    extra=(--cacert "$work/ca.pem")
    scheme=https
fi
serve_start "$work/serve.log" --threads 1 "${tls[@]}"
"$BARRAGE" run "$scheme://$SERVE_ADDR/" -d "${DURATION:-5s}" -c "${CONNECTIONS:-64}" "${extra[@]}" "$@"
serve_stop
grep -E "served|shop: [0-9]" "$work/serve.log" || true
