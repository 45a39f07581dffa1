//! Recorded runs, reported again: every output of `barrage report` and `barrage merge`
//! on the sample files under `tests/fixtures/runs/` must match, byte for byte, what
//! is committed under `tests/fixtures/expected/` (results.csv, summary.json,
//! intervals.csv, the `.hlog` and `.hgrm`, report.html, the charts, and what the
//! command printed). This is the guard for refactors of the report and merge code:
//! their output must not change.
//!
//! The fixtures are four short real runs against `barrage serve` (how each was
//! recorded: `tests/fixtures/README.md`): a closed-loop run from two processes, an
//! open-loop `-R` run through a server stall, a TLS run with a handshake per request,
//! and a run with timeouts, failed checks and 503s. Nothing in the outputs depends on
//! when the test runs: the only time shown is the run's start, from the sample
//! headers. The commands run in `tests/fixtures/runs/` with relative paths, so the
//! paths they print and store are the same everywhere; the scratch output directory
//! is printed as `OUT`.
//!
//! After an intended change of output, `BARRAGE_BLESS=1 cargo test --release --test
//! report_fixtures` rewrites the expected files; review their diff before committing.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// One command on one fixture: its name (the expected files are
/// `expected/NAME.txt` for what it printed and `expected/NAME/` for the files it
/// wrote), and its arguments, `OUT` standing for its output directory.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "closed-report",
        args: &["report", "closed", "-o", "OUT"],
    },
    Case {
        name: "closed-merge",
        args: &["merge", "closed", "-o", "OUT/results.csv"],
    },
    Case {
        name: "open-stall-report",
        args: &["report", "open-stall", "-o", "OUT"],
    },
    Case {
        name: "open-stall-report-100ms",
        args: &["report", "open-stall", "--interval", "100ms", "-o", "OUT"],
    },
    Case {
        name: "open-stall-merge",
        args: &["merge", "open-stall", "-o", "OUT/results.csv"],
    },
    Case {
        name: "tls-report",
        args: &["report", "tls", "-o", "OUT"],
    },
    Case {
        name: "tls-merge",
        args: &["merge", "tls", "-o", "OUT/results.csv"],
    },
    Case {
        name: "errors-report",
        args: &["report", "errors", "-o", "OUT"],
    },
    Case {
        name: "errors-merge",
        args: &["merge", "errors", "-o", "OUT/results.csv"],
    },
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                found.insert(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    found
}

/// Where two byte strings first differ, for the failure message: the line number
/// and both lines (cut short: an HTML line can be long).
fn first_difference(want: &[u8], got: &[u8]) -> String {
    let (want, got) = (text(want), text(got));
    let (mut w, mut g) = (want.lines(), got.lines());
    for n in 1.. {
        match (w.next(), g.next()) {
            (None, None) => return "same lines, different line endings".into(),
            (a, b) if a == b => continue,
            (a, b) => {
                let cut = |s: Option<&str>| match s {
                    None => "(end of file)".to_string(),
                    Some(s) => {
                        // Show the neighbourhood of the first differing byte.
                        let other = if Some(s) == a { b } else { a }.unwrap_or("");
                        let at = s
                            .bytes()
                            .zip(other.bytes())
                            .position(|(x, y)| x != y)
                            .unwrap_or(s.len().min(other.len()));
                        let from = s.floor_char_boundary(at.saturating_sub(80));
                        let to = s.ceil_char_boundary((at + 80).min(s.len()));
                        format!("...{}...", &s[from..to])
                    }
                };
                return format!("line {n}:\n  want {}\n  got  {}", cut(a), cut(b));
            }
        }
    }
    unreachable!()
}

/// Runs one case into a scratch directory; returns what it printed (`OUT` for the
/// directory) and the directory.
fn run_case(case: &Case) -> (String, PathBuf) {
    let out = scratch(&format!("fixture-{}", case.name));
    let out_s = p(&out).to_string();
    let args: Vec<String> = case.args.iter().map(|a| a.replace("OUT", &out_s)).collect();
    let o = Command::new(bin())
        .args(&args)
        .current_dir(fixtures().join("runs"))
        .output()
        .expect("run barrage");
    assert!(
        o.status.success(),
        "{}: barrage {args:?} failed ({:?}): {}{}",
        case.name,
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
    let mut printed = text(&o.stdout);
    if !o.stderr.is_empty() {
        printed.push_str("--- stderr\n");
        printed.push_str(&text(&o.stderr));
    }
    (printed.replace(&out_s, "OUT"), out)
}

#[test]
fn recorded_runs_report_byte_for_byte_as_before() {
    let expected = fixtures().join("expected");
    let bless = std::env::var_os("BARRAGE_BLESS").is_some();
    let mut failures = Vec::new();
    for case in CASES {
        let (printed, out) = run_case(case);
        let want_txt = expected.join(format!("{}.txt", case.name));
        let want_dir = expected.join(case.name);
        if bless {
            let _ = std::fs::remove_dir_all(&want_dir);
            for f in files_under(&out) {
                let dst = want_dir.join(&f);
                std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
                std::fs::copy(out.join(&f), dst).unwrap();
            }
            std::fs::write(&want_txt, &printed).unwrap();
            continue;
        }
        let want = std::fs::read(&want_txt)
            .unwrap_or_else(|e| panic!("{}: {e} (BARRAGE_BLESS=1 writes it)", want_txt.display()));
        if want != printed.as_bytes() {
            failures.push(format!(
                "{}: printed output differs, {}",
                case.name,
                first_difference(&want, printed.as_bytes())
            ));
        }
        let (want_files, got_files) = (files_under(&want_dir), files_under(&out));
        assert!(!want_files.is_empty(), "{}: no expected files", case.name);
        if want_files != got_files {
            failures.push(format!(
                "{}: files written {got_files:?}, expected {want_files:?}",
                case.name
            ));
        }
        for f in want_files.intersection(&got_files) {
            let (want, got) = (
                std::fs::read(want_dir.join(f)).unwrap(),
                std::fs::read(out.join(f)).unwrap(),
            );
            if want != got {
                failures.push(format!(
                    "{}: {} differs, {}",
                    case.name,
                    f.display(),
                    first_difference(&want, &got)
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
