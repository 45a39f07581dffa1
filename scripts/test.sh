#!/usr/bin/env bash
# The project's test command (CI runs exactly this, from .ci/run).
#
# Installs what the tests need on a fresh Debian machine (nginx for the tests that talk
# to a real third-party server; openssl to make a self-signed certificate the way people
# do; pdsh and iproute2 for the distributed-run test), checks
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
