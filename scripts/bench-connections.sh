#!/usr/bin/env bash
# Connection scale: hold CONNS keep-alive connections (50,000 by default) against a
# local nginx for DURATION, and report barrage's memory per connection and its errors.
#
#   scripts/bench-connections.sh                    # 50,000 connections, 35 s
#   CONNS=20000 DURATION=20 scripts/bench-connections.sh
#
# One port's ephemeral range (~28,000) cannot hold 50,000 connections to one target,
# so barrage spreads them over BIND source addresses (127.0.0.2-127.0.0.9). A process
# needs one descriptor per connection and the hard open-file limit may be low (20,000
# in some containers), so barrage runs PROCESSES=4 processes (CONNS/4 each) and nginx
# runs 4 workers with `reuseport`. Every connection sends a request every INTERVAL
# (2 s): this measures holding connections, not throughput (without --interval, 50,000
# closed-loop connections measure how far nginx's queue grows).
#
# Knobs: CONNS, DURATION and RAMPUP (whole seconds, default 35 and 5), PROCESSES,
# INTERVAL, BIND. barrage is built first (scripts/lib.sh's one build policy).
#
# Prints: connections opened, requests, errors and timeouts (from summary.json), and
# the resident memory of barrage's processes read from ps halfway between the end of
# the ramp-up and the end (launcher + workers), per connection. Loopback only
# (127.0.0.1 and BIND). Installs nginx, iproute2 and procps if missing (as root).
# nginx listens on a free port; state in /tmp/barrage-conns; one run at a time.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STATE=/tmp/barrage-conns
CONNS="${CONNS:-50000}"
DURATION="${DURATION:-35}"
DURATION="${DURATION%s}"   # 35 and 35s alike
PROCESSES="${PROCESSES:-4}"
INTERVAL="${INTERVAL:-2s}"
RAMPUP="${RAMPUP:-5}"
RAMPUP="${RAMPUP%s}"       # whole seconds
BIND="${BIND:-127.0.0.2-127.0.0.9}"
(( DURATION > RAMPUP )) || die "DURATION ($DURATION s) must be longer than RAMPUP ($RAMPUP s)"

need nginx:nginx ss:iproute2 pgrep:procps ps:procps python3:python3
build_barrage

ulimit -n "$(ulimit -Hn)"
hard=$(ulimit -Hn)
per_worker=$(( hard - 1000 ))
(( CONNS / 4 < per_worker )) || die "nginx's 4 workers need $(( CONNS / 4 + 1000 )) descriptors each; the hard limit is $hard"

mkdir -p "$STATE"
exec 9>"$STATE.lock"
flock -n 9 || die "another bench-connections.sh is running (lock $STATE.lock)"
nginx_stop_leftover "$STATE" "$STATE/nginx.conf"
rm -rf "$STATE" && mkdir -p "$STATE/tmp"
PORT=$(free_port)
cat >"$STATE/nginx.conf" <<EOF
worker_processes 4;
daemon off;
pid $STATE/nginx.pid;
error_log $STATE/error.log warn;
worker_rlimit_nofile $hard;
events { worker_connections $per_worker; use epoll; }
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    client_body_temp_path $STATE/tmp;
    proxy_temp_path $STATE/tmp;
    fastcgi_temp_path $STATE/tmp;
    uwsgi_temp_path $STATE/tmp;
    scgi_temp_path $STATE/tmp;
    server {
        listen 127.0.0.1:$PORT reuseport backlog=65535;
        location / { return 200 "ok\n"; }
    }
}
EOF
nginx_start "$STATE" "$STATE/nginx.conf"
nginx_wait "$PORT"
CLIENT=
# timeout(1) runs the client in its own process group, so Ctrl-C must stop it here.
at_exit '[[ -z "$CLIENT" ]] || kill -TERM "$CLIENT" 2>/dev/null'

say "$CONNS connections over $BIND, $PROCESSES processes, ${DURATION}s"
RUN="$STATE/run"
timeout -k 5 $(( DURATION + 60 )) "$BARRAGE" run "http://127.0.0.1:$PORT/" \
    -p "$PROCESSES" -t 1 -c "$CONNS" --bind "$BIND" --rampup "${RAMPUP}s" \
    --interval "$INTERVAL" -d "${DURATION}s" --no-csv -q -o "$RUN" >/dev/null &
CLIENT=$!
# Read memory halfway through the hold: every connection is up after the ramp-up.
sleep $(( RAMPUP + (DURATION - RAMPUP) / 2 ))
# Resident memory of the launcher and its workers (KiB), and established sockets.
launcher=$(pgrep -P "$CLIENT" | head -n 1 || true)   # $CLIENT is timeout(1)
[[ -n "$launcher" ]] || die "barrage ended before the mid-run reading (see $RUN)"
pids="$launcher $(pgrep -P "$launcher" | tr '\n' ' ' || true)"
rss_kib=$(ps -o rss= -p "$(echo $pids | tr ' ' ',')" | awk '{s += $1} END {print s}')
established=$(ss -Htn state established "( dport = :$PORT )" | wc -l)
rc=0
wait "$CLIENT" || rc=$?

python3 - "$RUN/summary.json" "$CONNS" "$rss_kib" "$established" "$rc" <<'EOF'
import json, sys
path, conns, rss_kib, est, rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s = json.load(open(path))
req, conn = s["requests"], s["connections"]
kinds = s.get("errors_by_kind") or {}
print(f"connections   {conn['opened']:,} opened ({est:,} established to the server at mid-run), exit code {rc}")
print(f"requests      {req['total']:,} in {s['duration_s']:.1f} s, errors {req['errors']:,} {kinds if kinds else ''}")
print(f"latency       p50 {s['latency_s']['p50']*1e3:.2f} ms, p99 {s['latency_s']['p99']*1e3:.2f} ms")
print(f"memory        {rss_kib/1024:.1f} MiB resident (launcher + workers) at mid-run = "
      f"{rss_kib*1024/conns:,.0f} bytes per connection (an upper bound: it includes each process's fixed ~3-4 MiB)")
EOF
