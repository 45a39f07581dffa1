#!/usr/bin/env bash
# The project's test command (CI runs exactly this, from .ci/run).
#
# Installs what the tests need on a fresh Debian machine (nginx for the tests that talk
# to a real third-party server; openssl to make a self-signed certificate the way
# people do; pdsh and iproute2 for the distributed-run test), then
# runs every test. Tests that need nginx fail rather than skip here
# (BARRAGE_REQUIRE_NGINX=1), and so does the distributed test, which needs root to
# create its network namespaces: run this as root, as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v openssl >/dev/null || need+=(openssl)
command -v pdsh >/dev/null || need+=(pdsh)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "missing ${need[*]}: install them (apt-get install ${need[*]}) or run as root" >&2
        exit 1
    fi
fi
export BARRAGE_REQUIRE_NGINX=1
cargo build --release --quiet
cargo test --release "$@"
