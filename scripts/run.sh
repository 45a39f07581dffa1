#!/usr/bin/env bash
# One barrage session.
#
#   scripts/run.sh                 # short load against barrage's own server on loopback
#   scripts/run.sh --tls           # the same over HTTPS (generated CA, verified)
#   scripts/run.sh URL [OPTIONS]   # `barrage run URL OPTIONS` against your server
#   scripts/run.sh [--tls] OPTIONS # the local session with extra `barrage run` options
#   scripts/run.sh --scenario examples/shop.toml   # the example scenario against the
#                                  # local server's demo shop (its counts printed at the end;
#                                  # at most 8 processes unless -p is given: the example's
#                                  # 20 data rows are split between the worker loops)
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
# A scenario's sequential data rows are split between the worker loops (processes x
# threads), and examples/users.csv has 20 rows: on a machine of more than 8 cores the
# default (one process per core, 2 threads each) would have more loops than rows, so
# the scenario session runs at most 8 processes unless -p is given.
if [[ " $* " == *" --scenario "* && " $* " != *" -p "* && " $* " != *" --processes"* ]]; then
    cores=$(nproc)
    extra+=(-p "$(( cores < 8 ? cores : 8 ))")
fi
serve_start "$work/serve.log" --threads 1 "${tls[@]}"
"$BARRAGE" run "$scheme://$SERVE_ADDR/" -d "${DURATION:-5s}" -c "${CONNECTIONS:-64}" "${extra[@]}" "$@"
serve_stop
grep -E "served|shop: [0-9]" "$work/serve.log" || true
