#!/usr/bin/env bash
# The project's test command (CI runs exactly this, from .ci/run).
#
# Installs what the tests need on a fresh Debian machine (nginx for the tests that talk
# to a real third-party server; openssl to make a self-signed certificate the way people
# do; pdsh and iproute2 for the distributed-run test; python3-prometheus-client and
# chromium for the live-metrics test), checks
# the formatting (`cargo fmt --check`) and the lints (`cargo clippy --all-targets -- -D
# warnings`; Cargo.toml's [lints] deny unsafe code outside the allowed items and unsafe
# blocks without a `// SAFETY:` comment), builds the release binary, then runs every
# test. Tests that need nginx fail rather than skip here (BARRAGE_REQUIRE_NGINX=1), and
# so does the distributed test, which needs root to create its network namespaces: run
# this as root, as CI does. Arguments go to `cargo test`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

need nginx:nginx openssl:openssl pdsh:pdsh ip:iproute2
# tests/metrics.rs: scrapes parsed by Debian's prometheus_client, and the live page
# loaded in headless Chromium (without recommends: 25 packages, about 16 s to install
# on a fresh machine, against 130 with them).
if ! /usr/bin/python3 -c 'import prometheus_client' 2>/dev/null; then
    _can_install || die "missing: python3-prometheus-client ($(_install_hint python3-prometheus-client))"
    say "installing python3-prometheus-client"
    apt_install python3-prometheus-client || die "apt-get install python3-prometheus-client failed"
fi
if ! _have chromium; then
    _can_install || die "missing: chromium ($(_install_hint chromium))"
    say "installing chromium"
    apt_install --no-install-recommends chromium || die "apt-get install chromium failed"
fi
export BARRAGE_REQUIRE_CHROMIUM=1
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs)"
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    command -v rustup >/dev/null || die "cargo fmt and cargo clippy are needed: install rustfmt and clippy"
    say "installing rustfmt and clippy"
    rustup component add rustfmt clippy
fi

say "cargo fmt --check"
cargo fmt --check || die "formatting differs: run cargo fmt"
say "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings || die "clippy found problems (above)"
build_barrage
export BARRAGE_REQUIRE_NGINX=1
cargo test --release "$@"
