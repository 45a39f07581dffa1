#!/usr/bin/env bash
# Client CPU per request with -p 1 against -p N, both pinned to the same core, the
# target (barrage serve) on another: contention between processes shows as a higher
# figure for -p N. Interleaved rounds; loopback only.
#
#   scripts/bench-processes.sh            # RUNS=3 DURATION=5 P=2 CONNS=64
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3} DURATION=${DURATION:-5} P=${P:-2} CONNS=${CONNS:-64}
CLIENT_CPU=${CLIENT_CPU:-0} SERVER_CPU=${SERVER_CPU:-1}
cargo build --release --quiet
bin=target/release/barrage
work=$(mktemp -d)
log="$work/serve.log"
taskset -c "$SERVER_CPU" "$bin" serve --listen 127.0.0.1:0 >"$log" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q listening "$log" && break; sleep 0.05; done
url="http://$(sed -n 's|.*listening on http://\([^/]*\)/.*|\1|p' "$log")/"
echo "| round | -p | requests | user s | sys s | us/req |"
echo "|---|---|---|---|---|---|"
for r in $(seq "$RUNS"); do
    for p in 1 "$P"; do
        out="$work/run-$p-$r"
        cpu=$( { /usr/bin/time -f "%U %S" taskset -c "$CLIENT_CPU" "$bin" run "$url" -p "$p" -t 1 \
            -c "$CONNS" -d "${DURATION}s" -o "$out" -q --no-csv >/dev/null; } 2>&1 | tail -1)
        # Every request is a sample (the tests check this against the server's count).
        n=$("$bin" merge "$out" -o /dev/null | sed -n 's/^barrage merge: \([0-9]*\) rows.*/\1/p')
        echo "$r $p $n $cpu" | awk '{printf "| %s | %s | %s | %s | %s | %.2f |\n", $1, $2, $3, $4, $5, ($4+$5)*1e6/$3}'
    done
done
