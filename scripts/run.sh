#!/usr/bin/env bash
# One barrage session.
#
#   scripts/run.sh                 # short load against barrage's own server on loopback
#   scripts/run.sh --tls           # the same over HTTPS (generated CA, verified)
#   scripts/run.sh URL [OPTIONS]   # `barrage run URL OPTIONS` against your server
#   scripts/run.sh [--tls] OPTIONS # the local session with extra `barrage run` options
#
# Builds the release binary when it is missing or older than the sources. The local
# session serves on 127.0.0.1 (a free port), runs for DURATION (default 5s) with
# CONNECTIONS (default 64), prints the summary and where results.csv is, and stops
# the server.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/barrage
if [ ! -x "$bin" ] || [ -n "$(find src Cargo.toml Cargo.lock -newer "$bin" -print -quit)" ]; then
    echo "building barrage (release)..." >&2
    cargo build --release --quiet
fi

if [ $# -gt 0 ] && [[ "$1" == *://* ]]; then
    exec "$bin" run "$@"
fi

tls=()
scheme=http
if [ "${1:-}" = "--tls" ]; then
    shift
    work=$(mktemp -d)
    tls=(--tls --ca-out "$work/ca.pem")
    scheme=https
fi
log=$(mktemp)
"$bin" serve --listen 127.0.0.1:0 --threads 1 "${tls[@]}" >"$log" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$log" "${work:-}"' EXIT
for _ in $(seq 100); do
    grep -q "listening on" "$log" && break
    sleep 0.05
done
addr=$(sed -n 's|.*listening on [a-z]*://\([^/]*\)/.*|\1|p' "$log" | head -1)
[ -n "$addr" ] || { echo "barrage serve did not start:" >&2; cat "$log" >&2; exit 1; }
url="$scheme://$addr/"
extra=()
if [ "$scheme" = https ]; then
    extra=(--cacert "$work/ca.pem")
fi
"$bin" run "$url" -d "${DURATION:-5s}" -c "${CONNECTIONS:-64}" "${extra[@]}" "$@"
kill -TERM "$server"
wait "$server" || true
grep "served" "$log" || true
