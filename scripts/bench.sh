#!/usr/bin/env bash
# End-to-end benchmark: barrage vs wrk (and h2load --h1) against one local nginx.
#
#   scripts/bench.sh                                  # defaults below
#   RUNS=1 DURATION=3 MODES=http scripts/bench.sh     # quick look
#
# One command on a fresh Debian 12 machine (as root): installs what is missing
# (nginx wrk linux-perf strace time; nghttp2-client with TOOLS=h2load), builds barrage with
# `cargo build --release`, starts its own nginx from scripts/bench-nginx.conf
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
#                   A mode whose barrage flags are not in `barrage run --help`, or
#                   whose 20-request preflight fails, is skipped with the reason.
#   TOOLS=wrk       reference clients, comma list: wrk, h2load
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
#   BARRAGE=target/release/barrage   binary to measure; NO_BUILD=1 skips cargo build
#   NO_INSTALL=1    never run apt-get;  KEEP_RUNS=1 keeps barrage's run directories
#
# Only 127.0.0.1 is ever contacted. Ports 19080 (http), 19443 (https), 19081
# (stub_status) must be free. Note: installing the nginx package may also start
# Debian's own nginx service on port 80; it stays idle and is left alone.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
STATE=/tmp/barrage-bench
CONF="$HERE/bench-nginx.conf"
SERVER_CPU="${SERVER_CPU:-1}"
export PATH="$PATH:/usr/sbin:/sbin:${HOME:-/root}/.cargo/bin"

say() { printf 'bench.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# --- 1. tools --------------------------------------------------------------
need=()
tools=(nginx:nginx wrk:wrk openssl:openssl taskset:util-linux timeout:coreutils python3:python3)
# h2load only when asked for (TOOLS=...,h2load).
[[ ",${TOOLS:-wrk}," == *,h2load,* ]] && tools+=(h2load:nghttp2-client)
for pair in "${tools[@]}"; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
[[ -x /usr/bin/time ]] || need+=(time)
optional=()
command -v perf >/dev/null || optional+=(linux-perf)
command -v strace >/dev/null || optional+=(strace)
if (( ${#need[@]} + ${#optional[@]} )); then
    if [[ "${NO_INSTALL:-0}" == 1 || $(id -u) != 0 ]]; then
        (( ${#need[@]} )) && die "missing packages: ${need[*]} (run as root, or apt-get install -y ${need[*]})"
        say "perf/strace missing (${optional[*]}): syscalls may not be counted"
    else
        say "installing: ${need[*]} ${optional[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        if (( ${#need[@]} )); then apt-get install -y -qq "${need[@]}" >/dev/null; fi
        for p in "${optional[@]}"; do   # perf's package name varies: tolerate its absence
            apt-get install -y -qq "$p" >/dev/null || say "could not install $p; going on without it"
        done
    fi
fi

# --- 2. barrage ------------------------------------------------------------
BARRAGE="${BARRAGE:-$REPO/target/release/barrage}"
mkdir -p "$STATE"
# One bench at a time: a second one would swap the binary snapshot and stop the first
# one's nginx as a "leftover".
exec 9>"$STATE/lock"
flock -n 9 || die "another scripts/bench.sh is running (lock $STATE/lock)"
if [[ "${NO_BUILD:-0}" == 1 ]]; then
    say "NO_BUILD=1: measuring $BARRAGE as it is"
elif ! command -v cargo >/dev/null; then
    [[ -x "$BARRAGE" ]] || die "cargo not found and no $BARRAGE (install Rust: https://rustup.rs)"
    say "WARNING: cargo not found; measuring the existing $BARRAGE"
else
    say "cargo build --release (waits if another build holds the lock; log: $STATE/build.log)"
    if ! (cd "$REPO" && cargo build --release) >"$STATE/build.log" 2>&1; then
        grep -m3 -E '^error' "$STATE/build.log" >&2 || tail -n 3 "$STATE/build.log" >&2
        [[ -x "$BARRAGE" ]] || die "cargo build --release failed and there is no $BARRAGE"
        say "WARNING: cargo build failed; measuring the existing $BARRAGE (built $(date -r "$BARRAGE" '+%F %T'))"
        export BUILD_NOTE="cargo build --release FAILED at bench time; measured the binary built $(date -r "$BARRAGE" '+%F %T %Z')"
    fi
fi
[[ -x "$BARRAGE" ]] || die "$BARRAGE is not executable"
# Measure a snapshot: a build by someone else mid-benchmark must not swap the binary.
cp -p "$BARRAGE" "$STATE/barrage.snapshot"
export BARRAGE_ORIG="$BARRAGE" BARRAGE="$STATE/barrage.snapshot"

# --- 3. nginx --------------------------------------------------------------
mkdir -p "$STATE/tmp"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true   # for nginx and the clients alike
# A previous run killed hard may have left its nginx behind: it is ours, stop it.
if [[ -s "$STATE/nginx.pid" ]]; then
    old=$(cat "$STATE/nginx.pid")
    if [[ "$(cat "/proc/$old/comm" 2>/dev/null)" == nginx ]] &&
       tr '\0' ' ' < "/proc/$old/cmdline" | grep -qF "$CONF"; then
        say "stopping a leftover bench nginx (pid $old)"
        kill -QUIT "$old" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
    fi
fi
python3 "$HERE/bench.py" check-ports
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$STATE/key.pem" -out "$STATE/cert.pem" 2>/dev/null

NGINX_PID=
stop_nginx() {
    [[ -n "$NGINX_PID" ]] || return 0
    if kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true          # graceful, by pid
        for _ in $(seq 100); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null || true
    fi
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=
}
trap stop_nginx EXIT
trap 'exit 130' INT TERM HUP

# taskset execs nginx, so $! is the nginx master (daemon off in the config).
taskset -c "$SERVER_CPU" nginx -e "$STATE/error.log" -p "$STATE/" -c "$CONF" </dev/null &
NGINX_PID=$!
if ! python3 "$HERE/bench.py" wait-nginx || ! kill -0 "$NGINX_PID" 2>/dev/null; then
    tail -n 5 "$STATE/error.log" >&2 || true
    die "nginx did not start"
fi
say "nginx pid $NGINX_PID on CPU $SERVER_CPU"

# --- 4. measure ------------------------------------------------------------
cd "$REPO"
NGINX_PID="$NGINX_PID" python3 -u "$HERE/bench.py" run
