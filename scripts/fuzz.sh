#!/usr/bin/env bash
# Runs barrage's fuzz targets (fuzz/fuzz_targets/) one after another.
#
#   scripts/fuzz.sh                    # every target, FUZZ_SECONDS (60) each
#   FUZZ_SECONDS=600 scripts/fuzz.sh sample_file
#   FUZZ_SANITIZER=none scripts/fuzz.sh  # if AddressSanitizer will not build or run
#   FUZZ_JOBS=2 scripts/fuzz.sh          # libFuzzer workers per target (default 1)
#
# Only stable Rust is needed: cargo fuzz passes nightly-only flags, which stable
# accepts with RUSTC_BOOTSTRAP=1. Installs cargo-fuzz from crates.io when missing.
# New corpus entries go to fuzz/corpus/<target>/ (gitignored), seeded from
# fuzz/seeds/<target>/; crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_SANITIZER="${FUZZ_SANITIZER:-address}"
FUZZ_JOBS="${FUZZ_JOBS:-1}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs)"
    say "installing cargo-fuzz"
    cargo install --locked cargo-fuzz || die "cargo install cargo-fuzz failed"
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cd fuzz && cargo fuzz list)
    if [ "${#targets[@]}" -eq 0 ]; then
        die "no fuzz targets (cargo fuzz list failed or found none)"
    fi
fi

# Per-target libFuzzer options. Sample files need room for the 4096-byte header
# plus records; the framing target is fine with libFuzzer's default 4096.
target_args() {
    case "$1" in
        sample_file) echo "-max_len=65536 -malloc_limit_mb=64 -rss_limit_mb=1024" ;;
        *) echo "-rss_limit_mb=1024" ;;
    esac
}

status=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    seeds=()
    [ -d "fuzz/seeds/$t" ] && seeds=("seeds/$t")
    jobs=()
    [ "$FUZZ_JOBS" -gt 1 ] && jobs=("-jobs=$FUZZ_JOBS" "-workers=$FUZZ_JOBS")
    say "fuzzing $t for ${FUZZ_SECONDS}s (sanitizer: $FUZZ_SANITIZER, jobs: $FUZZ_JOBS)"
    # shellcheck disable=SC2046
    if ! (cd fuzz && cargo fuzz run -s "$FUZZ_SANITIZER" "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 \
        "${jobs[@]}" $(target_args "$t")); then
        say "$t FAILED: see fuzz/artifacts/$t/"
        status=1
    fi
done
exit "$status"
