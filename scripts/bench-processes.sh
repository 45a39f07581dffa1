#!/usr/bin/env bash
# Client CPU per request with -p 1 against -p N, both pinned to the same core, the
# target (barrage serve) on another: contention between processes shows as a higher
# figure for -p N. Interleaved rounds; loopback only.
#
#   scripts/bench-processes.sh            # RUNS=3 DURATION=5 P=2 CONNS=64
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNS=${RUNS:-3} DURATION=${DURATION:-5} P=${P:-2} CONNS=${CONNS:-64}
DURATION=${DURATION%s}   # 5 and 5s alike
CLIENT_CPU=${CLIENT_CPU:-0} SERVER_CPU=${SERVER_CPU:-1}
need taskset:util-linux /usr/bin/time:time
build_barrage
work=$(mktemp -d)
at_exit 'rm -rf "$work"'
SERVE_CPU="$SERVER_CPU" serve_start "$work/serve.log"
url="http://$SERVE_ADDR/"
echo "| round | -p | requests | user s | sys s | us/req |"
echo "|---|---|---|---|---|---|"
for r in $(seq "$RUNS"); do
    for p in 1 "$P"; do
        out="$work/run-$p-$r"
        # time(1) writes to its own file, so barrage's errors still reach the terminal.
        /usr/bin/time -f "%U %S" -o "$work/cpu" taskset -c "$CLIENT_CPU" "$BARRAGE" run "$url" \
            -p "$p" -t 1 -c "$CONNS" -d "${DURATION}s" -o "$out" -q --no-csv >/dev/null
        cpu=$(cat "$work/cpu")
        # Every request is a sample (the tests check this against the server's count).
        n=$("$BARRAGE" merge "$out" -o /dev/null | sed -n 's/^barrage merge: \([0-9]*\) rows.*/\1/p')
        echo "$r $p $n $cpu" | awk '{printf "| %s | %s | %s | %s | %s | %.2f |\n", $1, $2, $3, $4, $5, ($4+$5)*1e6/$3}'
    done
done
