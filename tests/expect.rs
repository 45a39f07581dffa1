//! Response checks (--expect-*) against `barrage serve`, whose query string sets the
//! status and body of each answer: the number of failures must equal the number of
//! answers the server was told to get wrong.

mod common;

use common::*;

/// Runs a targets file (written from `lines`) with `extra` flags; returns the rows
/// (extra columns: target,error) and stdout.
fn run_targets(name: &str, lines: &[String], extra: &[&str]) -> (Vec<Row>, String) {
    let dir = scratch(name);
    let server = Server::start(&[]);
    let base = server.url("");
    let body: String = lines
        .iter()
        .map(|l| format!("{}\n", l.replace("BASE", &base)))
        .collect();
    let targets = dir.join("targets.txt");
    std::fs::write(&targets, body).unwrap();
    let targets = p(&targets);
    let args: &[&str] = &[
        "--targets", targets, "-p", "1", "-t", "2", "-c", "4", "--columns", "target,error",
    ];
    let out = run_in(&[args, extra].concat(), &dir.join("run"));
    let rows = read_csv(&dir.join("run").join("results.csv"));
    // A run where every response failed its check exits 5 (no request succeeded).
    let all_failed = rows.iter().all(|r| !r.extra[1].is_empty());
    assert_eq!(
        out.status.code(),
        Some(if all_failed { 5 } else { 0 }),
        "{}",
        text(&out.stderr)
    );
    let (served, _) = server.stop();
    assert_eq!(rows.len() as u64, served);
    (rows, text(&out.stdout))
}

fn failures<'a>(rows: &'a [Row], kind: &str) -> Vec<&'a Row> {
    rows.iter().filter(|r| r.extra[1] == kind).collect()
}

#[test]
fn wrong_status_is_counted_exactly_and_keeps_its_code() {
    let (rows, stdout) = run_targets(
        "exp-status",
        &["GET BASE/?status=503".into(), "GET BASE/ weight=3".into()],
        &["-n", "400", "--expect-status", "2xx"],
    );
    let bad = failures(&rows, "unexpected status");
    assert_eq!(bad.len(), 100, "one in four answers was told to be 503");
    assert!(
        bad.iter().all(|r| r.status == 503 && r.extra[0] == "0"),
        "real status kept in the CSV"
    );
    assert_eq!(rows.iter().filter(|r| r.extra[1].is_empty()).count(), 300);
    assert!(stdout.contains("unexpected status"), "{stdout}");
    assert!(stdout.contains("errors       100 (25.00%)"), "{stdout}");
}

#[test]
fn missing_substring_in_chunked_bodies() {
    // barrage serve sends chunked bodies in 7-byte chunks, so the needle straddles
    // chunk boundaries; the second target lacks it.
    let (rows, _) = run_targets(
        "exp-chunked",
        &[
            "GET BASE/?chunked=1&body=lorem%20ipsum%20the%20needle%20sits%20here".into(),
            "GET BASE/?chunked=1&body=lorem%20ipsum%20the%20needl%20e%20sits%20here".into(),
        ],
        &["-n", "300", "--expect-body", "the needle sits"],
    );
    let bad = failures(&rows, "body mismatch");
    assert_eq!(bad.len(), 150);
    assert!(bad.iter().all(|r| r.extra[0] == "1" && r.status == 200));
}

#[test]
fn regex_over_bodies_split_across_reads() {
    // 300 kB bodies span several reads of the client's 64 kB buffer.
    let (rows, _) = run_targets(
        "exp-regex",
        &[
            "GET BASE/?size=300000".into(),
            "GET BASE/?size=299999".into(),
        ],
        &["-n", "60", "--expect-body-regex", "^x{300000}$"],
    );
    assert_eq!(failures(&rows, "body mismatch").len(), 30);
    assert!(
        failures(&rows, "body mismatch")
            .iter()
            .all(|r| r.extra[0] == "1")
    );
    let (rows, stdout) = run_targets(
        "exp-regex-big",
        &["GET BASE/?size=300000".into()],
        &["-n", "10", "--expect-body-regex", "x", "--max-body", "64k"],
    );
    assert_eq!(
        failures(&rows, "body too large to check").len(),
        10,
        "{stdout}"
    );
}

#[test]
fn size_mismatch_and_per_target_expectations() {
    let (rows, _) = run_targets(
        "exp-size",
        &["GET BASE/".into(), "GET BASE/?size=10".into()],
        &["-n", "200", "--expect-size", "3"],
    );
    assert_eq!(failures(&rows, "size mismatch").len(), 100);
    // A target's own expectations win over the flags.
    let (rows, _) = run_targets(
        "exp-per-target",
        &[
            "GET BASE/?status=404 expect-status=404 expect-body=ok".into(),
            "GET BASE/?body=nope".into(),
        ],
        &["-n", "200", "--expect-status", "200", "--expect-body", "ok"],
    );
    assert_eq!(
        rows.iter().filter(|r| r.extra[1].is_empty()).count(),
        100,
        "404 expected for target 0"
    );
    let bad = failures(&rows, "body mismatch");
    assert_eq!(bad.len(), 100);
    assert!(bad.iter().all(|r| r.extra[0] == "1"));
}

#[test]
fn bad_expectations_are_refused_before_load() {
    let url = "http://127.0.0.1:1/";
    let cases: [(&[&str], &str); 5] = [
        (
            &["--expect-body-regex", "(unclosed"],
            "invalid --expect-body-regex",
        ),
        (&["--expect-status", "2x"], "invalid status \"2x\""),
        (&["--expect-status", "600-500"], "invalid status"),
        (&["--expect-size", "10..5"], "invalid size"),
        (&["--max-body", "lots"], "invalid size"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["run", url, "-n", "1"];
        args.extend_from_slice(extra);
        let err = assert_refused(&args, want);
        assert!(
            err.contains("regex parse error") || !want.contains("regex"),
            "shows the regex error: {err}"
        );
    }
}
