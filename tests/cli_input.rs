//! Issue 12, item 10: the remaining bad inputs get one clear line naming the problem
//! and the fix (negative values are named as such, not taken for flags; zero
//! durations carry their unit; `--fail-if` names an unknown operator), a non-zero
//! exit code, and no load.

mod common;

use common::*;

#[test]
fn negative_zero_and_malformed_values_are_named() {
    let url = "http://127.0.0.1:1/";
    // (arguments after `run URL`, exit code, the message's first line must contain)
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["-d", "-5s"],
            2,
            "'-5s' for '--duration <DURATION>': \"-5s\" is negative: give a positive duration, like 10s",
        ),
        (
            &["--timeout", "-1s"],
            2,
            "\"-1s\" is negative: give a positive duration",
        ),
        (
            &["-R", "-5"],
            1,
            "--rate -5 must be positive: a number of requests per second above 0",
        ),
        (
            &["-c", "-5"],
            2,
            "-5 is negative: give a whole number, 1 or more",
        ),
        (&["-n", "-1"], 2, "-1 is negative: give a whole number"),
        (&["-t", "1.5"], 2, "\"1.5\" is not a whole number"),
        (
            &["--timeout", "0"],
            1,
            "--timeout must be longer than 0s: give a duration like 10s, 500ms or 2m",
        ),
        (
            &["-d", "0s"],
            1,
            "--duration must be longer than 0s: give a duration like 10s, 500ms or 2m",
        ),
        (
            &["--fail-if", "p99 >> 5"],
            2,
            "unknown operator \">>\" in \"p99 >> 5\": use one of > >= < <=",
        ),
        (&["--fail-if", "p99 == 5ms"], 2, "unknown operator \"==\""),
    ];
    for (extra, code, want) in cases {
        let mut args = vec!["run", url];
        args.extend_from_slice(extra);
        let out = barrage(&args);
        let err = text(&out.stderr);
        let first = err.lines().next().unwrap_or_default();
        assert_eq!(out.status.code(), Some(*code), "{extra:?}: {err}");
        assert!(
            first.contains(want),
            "{extra:?}: want {want:?} in {first:?}"
        );
        assert!(!err.contains("panicked") && !err.contains("'-- -"), "{err}");
        assert!(text(&out.stdout).is_empty(), "{extra:?} started a load");
    }
    // `barrage report --fail-if` parses the same way.
    let out = barrage(&["report", "/nonexistent", "--fail-if", "rps => 10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown operator \"=>\""));
}
