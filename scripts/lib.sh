# shellcheck shell=bash
# Helpers shared by every script in scripts/: source it, do not run it.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sets REPO (the repository root) and gives:
#   say MSG / die MSG        a line on stderr prefixed with the script's name (die exits 1)
#   need CMD[:PKG]...        every CMD on PATH (or an absolute path that exists), or install
#                            the missing PKGs (apt-get, as root, unless NO_INSTALL=1), or
#                            die naming the install command
#   want CMD[:PKG]...        the same for optional tools: failure to install is only said
#   build_barrage            THE build policy: `cargo build --release` (cargo rebuilds only
#                            when a source changed) and BARRAGE=$REPO/target/release/barrage,
#                            the binary every script runs; no script runs any other build
#   at_exit CMD              run CMD when the script exits (last registered first), also on
#                            Ctrl-C, TERM and HUP
#   port_busy PORT           true if something listens on 127.0.0.1:PORT
#   free_port                print a port nothing listens on (20000-32767, below Linux's
#                            ephemeral range, so outgoing connections do not take it)
#   serve_start LOG [ARGS]   `barrage serve --listen 127.0.0.1:0 ARGS` in the background
#                            (pinned with taskset if SERVE_CPU is set), its output in LOG;
#                            sets SERVE_PID and SERVE_ADDR (host:port) and stops it at exit
#   serve_stop               stop it (SIGTERM) and wait: its last line says what it served
#   nginx_stop_leftover PREFIX CONF   stop an nginx a killed run left behind: the pid in
#                            PREFIX/nginx.pid, only if it is nginx running CONF
#   nginx_start PREFIX CONF [CPU]   nginx (the CONF says `daemon off`) with state in PREFIX/,
#                            pinned to CPU if given, after nginx_stop_leftover; sets
#                            NGINX_PID and stops it at exit
#   nginx_wait PORT          wait until nginx answers on 127.0.0.1:PORT, or die with its log
#   nginx_stop               graceful stop (QUIT), KILL after 10 s
#
# Bash and coreutils only. Servers are started and probed on 127.0.0.1 only.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPT_NAME="$(basename "$0")"
export PATH="$PATH:/usr/sbin:/sbin:${HOME:-/root}/.cargo/bin"

say() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# --- exit handlers ---------------------------------------------------------
_AT_EXIT=()
_run_at_exit() {
    local i
    for (( i = ${#_AT_EXIT[@]} - 1; i >= 0; i-- )); do
        eval "${_AT_EXIT[i]}" || true
    done
    _AT_EXIT=()
}
at_exit() {
    _AT_EXIT+=("$1")
    trap _run_at_exit EXIT
    # A signal ends the script through `exit`, so the EXIT handlers run.
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

# --- packages --------------------------------------------------------------
_APT_UPDATED=0
# apt_install PKG...: apt-get update (once per script), then install.
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if (( ! _APT_UPDATED )); then
        apt-get update -qq || return 1
        _APT_UPDATED=1
    fi
    apt-get install -y -qq "$@" >/dev/null
}

_can_install() { [[ "${NO_INSTALL:-0}" != 1 && $(id -u) == 0 ]]; }
# How to get PKGs when this script may not install them.
_install_hint() {
    if [[ "${NO_INSTALL:-0}" == 1 ]]; then
        echo "NO_INSTALL=1: apt-get install -y $*"
    else
        echo "run as root, or apt-get install -y $*"
    fi
}

# _have CMD: CMD is on PATH, or is an absolute path to an executable (/usr/bin/time,
# which `command -v` would answer with the shell keyword).
_have() { if [[ "$1" == /* ]]; then [[ -x "$1" ]]; else command -v "$1" >/dev/null; fi; }

# _missing CMD[:PKG]...: the packages of the commands not on PATH.
_missing() {
    local pair
    for pair in "$@"; do
        _have "${pair%%:*}" || printf '%s\n' "${pair#*:}"
    done | sort -u
}

need() {
    local missing
    mapfile -t missing < <(_missing "$@")
    (( ${#missing[@]} )) || return 0
    _can_install || die "missing: ${missing[*]} ($(_install_hint "${missing[@]}"))"
    say "installing ${missing[*]}"
    apt_install "${missing[@]}" || die "apt-get install ${missing[*]} failed"
    mapfile -t missing < <(_missing "$@")
    (( ! ${#missing[@]} )) || die "still missing after apt-get install: ${missing[*]}"
}

want() {
    local missing p
    mapfile -t missing < <(_missing "$@")
    (( ${#missing[@]} )) || return 0
    if ! _can_install; then
        say "optional tools missing: ${missing[*]} ($(_install_hint "${missing[@]}"))"
        return 0
    fi
    for p in "${missing[@]}"; do   # one at a time: a name may not exist on this release
        say "installing $p"
        apt_install "$p" || say "could not install $p; going on without it"
    done
}

# --- barrage ---------------------------------------------------------------
build_barrage() {
    command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs)"
    say "cargo build --release"
    (cd "$REPO" && cargo build --release --quiet) || die "cargo build --release failed"
    BARRAGE="$REPO/target/release/barrage"
    [[ -x "$BARRAGE" ]] || die "$BARRAGE is missing after cargo build"
}

serve_start() {
    local log="$1"
    shift
    [[ -n "${BARRAGE:-}" ]] || die "serve_start before build_barrage"
    local pin=()
    [[ -z "${SERVE_CPU:-}" ]] || pin=(taskset -c "$SERVE_CPU")
    # taskset execs barrage, so $! is the server either way.
    "${pin[@]}" "$BARRAGE" serve --listen 127.0.0.1:0 "$@" >"$log" &
    SERVE_PID=$!
    at_exit 'kill -TERM "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null'
    local _
    for _ in $(seq 100); do
        grep -q "listening on" "$log" && break
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.05
    done
    SERVE_ADDR=$(sed -n 's|.*listening on [a-z]*://\([^/]*\)/.*|\1|p' "$log" | head -n 1)
    [[ -n "$SERVE_ADDR" ]] || die "barrage serve did not start: $(cat "$log")"
}

serve_stop() {
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
}

# --- ports -----------------------------------------------------------------
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local _ p
    for _ in $(seq 100); do
        p=$(( 20000 + RANDOM % 12768 ))
        port_busy "$p" || { echo "$p"; return 0; }
    done
    die "no free port found in 20000-32767"
}

# --- nginx -----------------------------------------------------------------
NGINX_PID=
NGINX_PREFIX=
nginx_stop_leftover() {
    local prefix="$1" conf="$2" old _
    # A previous run killed hard may have left its nginx behind: it is ours, stop it.
    [[ -s "$prefix/nginx.pid" ]] || return 0
    old=$(cat "$prefix/nginx.pid")
    if [[ "$(cat "/proc/$old/comm" 2>/dev/null)" == nginx ]] &&
       tr '\0' ' ' <"/proc/$old/cmdline" 2>/dev/null | grep -qF -- "$conf"; then
        say "stopping a leftover nginx of $conf (pid $old)"
        kill -QUIT "$old" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
    fi
}

nginx_start() {
    local prefix="$1" conf="$2" cpu="${3:-}"
    nginx_stop_leftover "$prefix" "$conf"
    mkdir -p "$prefix"
    NGINX_PREFIX="$prefix"
    # taskset execs nginx and the CONF says `daemon off`, so $! is the nginx master.
    if [[ -n "$cpu" ]]; then
        taskset -c "$cpu" nginx -e "$prefix/error.log" -p "$prefix/" -c "$conf" </dev/null &
    else
        nginx -e "$prefix/error.log" -p "$prefix/" -c "$conf" </dev/null &
    fi
    NGINX_PID=$!
    at_exit nginx_stop
}

nginx_wait() {
    local _
    for _ in $(seq 100); do
        kill -0 "$NGINX_PID" 2>/dev/null || break
        port_busy "$1" && return 0
        sleep 0.05
    done
    die "nginx did not start: $(tail -n 5 "$NGINX_PREFIX/error.log" 2>/dev/null)"
}

nginx_stop() {
    local _
    [[ -n "$NGINX_PID" ]] || return 0
    if kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true          # graceful, by pid
        for _ in $(seq 100); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null || true
    fi
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=
}
