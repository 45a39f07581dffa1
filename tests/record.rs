//! The record stage end to end on sample files recorded by an older barrage
//! (`tests/fixtures/record-v1/`, see its README): `barrage merge` still reads them and
//! writes results.csv byte for byte as that barrage did.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/record-v1")
        .join(name)
}

/// Merges fixture `name` with `args` into a scratch file and compares it with the
/// fixture's `expected` file.
fn merges_as_recorded(name: &str, args: &[&str], expected: &str) {
    let dir = fixture(name);
    let out = scratch(&format!("record-{name}-{expected}")).join("results.csv");
    let stdout = assert_ok(&barrage(
        &[&["merge", p(&dir), "-o", p(&out)][..], args].concat(),
    ));
    assert!(stdout.starts_with("barrage merge: "), "{stdout}");
    let got = std::fs::read(&out).unwrap();
    let want = std::fs::read(dir.join(expected)).unwrap();
    assert!(
        got == want,
        "{name}: results.csv differs from {expected}:\n--- got (first lines)\n{}\n--- want\n{}",
        text(&got).lines().take(5).collect::<Vec<_>>().join("\n"),
        text(&want).lines().take(5).collect::<Vec<_>>().join("\n"),
    );
    std::fs::remove_dir_all(out.parent().unwrap()).unwrap();
}

const ALL: &[&str] = &["--columns", "all", "--header", "--precision", "9"];

#[test]
fn closed_loop_plain_run_merges_byte_identical() {
    merges_as_recorded("closed-plain", &[], "results-default.csv");
    merges_as_recorded("closed-plain", ALL, "results-all.csv");
}

#[test]
fn open_loop_tls_run_merges_byte_identical() {
    merges_as_recorded("open-tls", &[], "results-default.csv");
    merges_as_recorded("open-tls", ALL, "results-all.csv");
}

#[test]
fn uncorrected_run_merges_byte_identical() {
    merges_as_recorded("open-uncorrected", &[], "results-default.csv");
    merges_as_recorded("open-uncorrected", ALL, "results-all.csv");
}
