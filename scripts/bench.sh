#!/usr/bin/env bash
# End-to-end benchmark: barrage vs wrk (and h2load --h1) against one local nginx.
#
#   scripts/bench.sh                                  # defaults below
#   RUNS=1 DURATION=3 MODES=http scripts/bench.sh     # quick look
#
# One command on a fresh Debian 12 machine (as root): installs what is missing
# (nginx wrk linux-perf strace time; nghttp2-client with TOOLS=h2load), builds barrage with
# `cargo build --release` (scripts/lib.sh: the one build every script runs; a failed
# build stops the benchmark), starts its own nginx from scripts/bench-nginx.conf
# (state in /tmp/barrage-bench, 127.0.0.1 only, pinned with taskset to
# SERVER_CPU, self-signed ECDSA P-256 cert made here, TLS session cache and
# tickets off), runs every client pinned to CLIENT_CPU under `timeout -k`, in
# interleaved rounds (barrage, wrk, barrage, wrk, ...), stops nginx on exit, and
# prints a Markdown table of medians (also written to OUT). The measuring is in
# scripts/bench.py (its docstring says exactly what each column is).
#
# Knobs (environment variables):
#   RUNS=3          rounds; every cell runs once per round
#   DURATION=5      seconds per client run
#   CONNS=64        connections, comma list (e.g. 64,1): one set of cells per value
#   MODES=http,https,https-close
#                   http        keep-alive, plain
#                   https       keep-alive, TLS (barrage gets -k, or --cacert CERT)
#                   https-close one request per connection (barrage --no-keepalive,
#                               run with --tls-resume off and on; wrk and h2load
#                               send Connection: close); adds handshakes/CPU-second
#                   expect      barrage alone, plain HTTP, without and with
#                               --expect-status 200 --expect-body ok: the checks'
#                               CPU cost per request in %
#                   pipeline    HTTP/1.1 pipelining, plain: barrage --pipeline PIPELINE
#                               (batched reads, its default) and the same with
#                               --no-read-batching, wrk -s scripts/wrk-pipeline.lua
#                               (-- PIPELINE), h2load --h1 -m PIPELINE
#                   scenario    against `barrage serve`'s demo shop (pinned to
#                               SERVER_CPU, port 19082, fresh for every run), not
#                               nginx: barrage plain keep-alive GET /items?token=T,
#                               barrage --scenario scripts/bench-scenario.toml (3
#                               steps, a JSON and a regex capture, no think time),
#                               and with TOOLS=locust the same flow in Locust
#                               (scripts/bench_locust.py); client CPU per request
#                               and the ratios scenario/plain, locust/scenario
#                   A mode whose barrage flags are not in `barrage run --help`, or
#                   whose 20-request preflight fails, is skipped with the reason.
#   TOOLS=wrk       reference clients, comma list: wrk, h2load, locust (mode scenario
#                   only: pip install locust into a venv under /tmp/barrage-bench)
#   CLIENT_CPU=0    core for the clients (and bench.py); SERVER_CPU=1 for nginx
#   OUT=/tmp/barrage-bench/bench.md   where the report is written
# Less common:
#   NOCSV=1         also run barrage with --no-csv in http/https (µs/req --no-csv column)
#   SYSCALLS=auto   auto|perf|strace|off: syscall counter (auto = perf, else strace)
#   SYSCALL_RUNS=all  all|first: a counting run after every timed run, or round 1 only
#   QUIET_PCT=15 QUIET_MAX=10  before each timed run, wait up to QUIET_MAX s until neither
#                   core is busier than QUIET_PCT % (other builds on a shared box)
#   SETTLE=1        minimum pause between runs (s); SAMPLE=0.2 stub_status poll period
#   EXPECT_BODY=ok  body given to --expect-body in mode expect
#   PIPELINE=16     requests in flight per connection in mode pipeline
#   NO_INSTALL=1    never run apt-get;  KEEP_RUNS=1 keeps barrage's run directories
#
# Only 127.0.0.1 is ever contacted. Ports 19080 (http), 19443 (https), 19081
# (stub_status) must be free. Note: installing the nginx package may also start
# Debian's own nginx service on port 80; it stays idle and is left alone.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE="$REPO/scripts"
STATE=/tmp/barrage-bench
CONF="$HERE/bench-nginx.conf"
SERVER_CPU="${SERVER_CPU:-1}"

# --- 1. tools --------------------------------------------------------------
tools=(nginx:nginx wrk:wrk openssl:openssl taskset:util-linux timeout:coreutils python3:python3
       /usr/bin/time:time)
# h2load only when asked for (TOOLS=...,h2load).
[[ ",${TOOLS:-wrk}," == *,h2load,* ]] && tools+=(h2load:nghttp2-client)
need "${tools[@]}"
# Locust only when asked for (TOOLS=...,locust), for mode scenario: pip into a venv
# of its own under /tmp (nothing installed system-wide), once.
mkdir -p "$STATE"
if [[ ",${TOOLS:-wrk}," == *,locust,* && ! -x "$STATE/locust-venv/bin/locust" ]]; then
    python3 -c 'import ensurepip, venv' 2>/dev/null || need_venv=1
    if [[ -n "${need_venv:-}" ]]; then
        _can_install || die "python3 venv missing ($(_install_hint python3-venv))"
        apt_install python3-venv || die "apt-get install python3-venv failed"
    fi
    say "pip install locust into $STATE/locust-venv"
    python3 -m venv "$STATE/locust-venv" && "$STATE/locust-venv/bin/pip" install -q locust ||
        say "could not install locust; mode scenario goes on without it"
fi
want perf:linux-perf strace:strace   # syscall counts; perf's package name varies

# --- 2. barrage ------------------------------------------------------------
mkdir -p "$STATE"
# One bench at a time: a second one would swap the binary snapshot and stop the first
# one's nginx as a "leftover".
exec 9>"$STATE/lock"
flock -n 9 || die "another scripts/bench.sh is running (lock $STATE/lock)"
build_barrage
# Measure a snapshot of this build: a build by someone else mid-benchmark must not swap
# the binary under the rounds.
cp -p "$BARRAGE" "$STATE/barrage.snapshot"
export BARRAGE_ORIG="$BARRAGE" BARRAGE="$STATE/barrage.snapshot"

# --- 3. nginx --------------------------------------------------------------
mkdir -p "$STATE/tmp"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true   # for nginx and the clients alike
nginx_stop_leftover "$STATE" "$CONF"
python3 "$HERE/bench.py" check-ports
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$STATE/key.pem" -out "$STATE/cert.pem" 2>/dev/null

nginx_start "$STATE" "$CONF" "$SERVER_CPU"
if ! python3 "$HERE/bench.py" wait-nginx || ! kill -0 "$NGINX_PID" 2>/dev/null; then
    tail -n 5 "$STATE/error.log" >&2 || true
    die "nginx did not start"
fi
say "nginx pid $NGINX_PID on CPU $SERVER_CPU"

# --- 4. measure ------------------------------------------------------------
cd "$REPO"
NGINX_PID="$NGINX_PID" python3 -u "$HERE/bench.py" run
