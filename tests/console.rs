//! Issue 12, item 1: a closed stdout (or stderr) never loses a run. Each test gives
//! barrage a pipe whose read end is closed (after the first line, or before anything
//! was written, like `| true`) and checks that the run still ends normally: exit
//! code from the run, results.csv with one row per request the server counted.

mod common;

use std::io::{BufRead, BufReader, PipeReader, PipeWriter};
use std::process::{Child, Command, Stdio};

use common::*;

/// A pipe for a child's stdout and stderr together: (read end, write end).
fn pipe() -> (PipeReader, PipeWriter) {
    std::io::pipe().expect("pipe")
}

/// Spawns `barrage ARGS` with stdout and stderr both writing into `w` (dropped here,
/// so the child holds the only write ends).
fn spawn_into(args: &[&str], w: PipeWriter) -> Child {
    let w2 = w.try_clone().unwrap();
    Command::new(bin())
        .args(args)
        // Debug builds: every worker traces its connections' states to stderr, so
        // the forked workers write to the closed pipe too.
        .env("BARRAGE_TRACE", "1")
        .stdout(Stdio::from(w))
        .stderr(Stdio::from(w2))
        .spawn()
        .expect("spawn barrage")
}

/// Reads one line from `r`, then closes it: `barrage ... | head -1`.
fn read_first_line_and_close(r: PipeReader) -> String {
    let mut line = String::new();
    BufReader::new(r).read_line(&mut line).unwrap();
    line
}

#[test]
fn run_with_stdout_closed_after_the_first_line_keeps_every_request() {
    let dir = scratch("console-head");
    let server = Server::start(&[]);
    let url = server.url("/");
    let (r, w) = pipe();
    let child = spawn_into(
        &[
            "run",
            &url,
            "-p",
            "1",
            "-t",
            "1",
            "-c",
            "4",
            "-d",
            "2s",
            "-o",
            p(&dir),
        ],
        w,
    );
    let first = read_first_line_and_close(r);
    assert!(first.starts_with("barrage "), "{first:?}");
    let out = child.wait_with_output().unwrap();
    let (served, _) = server.stop();
    assert_eq!(
        out.status.code(),
        Some(0),
        "the run ends normally with its stdout closed"
    );
    let rows = read_csv(&dir.join("results.csv"));
    assert!(served > 0);
    assert_eq!(rows.len() as u64, served, "one row per request served");
    assert!(dir.join("summary.json").exists() && dir.join("report.html").exists());
}

#[test]
fn run_with_stdout_closed_from_the_start_keeps_every_request() {
    // `barrage run URL | true`: not even the banner can be written.
    let dir = scratch("console-true");
    let server = Server::start(&[]);
    let url = server.url("/");
    let (r, w) = pipe();
    drop(r);
    let child = spawn_into(
        &[
            "run",
            &url,
            "-p",
            "2",
            "-t",
            "1",
            "-c",
            "4",
            "-d",
            "1500ms",
            "-o",
            p(&dir),
        ],
        w,
    );
    let out = child.wait_with_output().unwrap();
    let (served, _) = server.stop();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(read_csv(&dir.join("results.csv")).len() as u64, served);
}

#[test]
fn report_merge_and_serve_with_stdout_closed() {
    let dir = scratch("console-report");
    let server = Server::start(&[]);
    let url = server.url("/");
    run_ok(&[&url, "-p", "1", "-t", "1", "-c", "2", "-n", "300"], &dir);
    drop(server);
    std::fs::remove_file(dir.join("summary.json")).unwrap();
    std::fs::remove_file(dir.join("results.csv")).unwrap();

    // `barrage report DIR | true`
    let (r, w) = pipe();
    drop(r);
    let out = spawn_into(&["report", p(&dir)], w)
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "report");
    assert!(dir.join("summary.json").exists(), "the report is written");

    // `barrage merge DIR | true`
    let (r, w) = pipe();
    drop(r);
    let out = spawn_into(&["merge", p(&dir)], w)
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "merge");
    assert_eq!(read_csv(&dir.join("results.csv")).len(), 300);

    // `barrage serve -d 1s | true`: it still serves and exits normally.
    let (r, w) = pipe();
    drop(r);
    let out = spawn_into(&["serve", "--listen", "127.0.0.1:0", "-d", "1s"], w)
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "serve");
}

/// Every line `barrage run` prints, banner to summary, fits 80 columns.
#[test]
fn a_run_prints_nothing_wider_than_80_columns() {
    let dir = scratch("console-80");
    let server = Server::start(&[]);
    let url = server.url("/");
    let out = Command::new(bin())
        .args(["run", &url, "-p", "1", "-t", "1", "-c", "2", "-d", "2500ms"])
        .args(["-o", p(&dir)])
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    drop(server);
    let stdout = assert_ok(&out);
    for line in stdout.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line:?}\n{stdout}",
            line.chars().count()
        );
    }
    // Progress: one line per whole second and one at the end of -d, with the
    // cumulative errors beside the total.
    let ticks: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with('['))
        .map(|l| l.split(']').next().unwrap())
        .collect();
    assert_eq!(
        ticks,
        ["[   1.0s/2.5s", "[   2.0s/2.5s", "[   2.5s/2.5s"],
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .filter(|l| l.starts_with('['))
            .all(|l| l.contains(" total ") && l.ends_with("errors 0")),
        "{stdout}"
    );
    // The latency table is two rows of columns.
    assert!(
        stdout.contains("  latency           min      mean"),
        "{stdout}"
    );
    assert!(
        stdout.contains("p99     p99.9       max     stdev     count"),
        "{stdout}"
    );
}

/// The banner names the load model: closed loop with -c, `-R N/s` open loop,
/// stages, a targets file and its number of targets; singular where it is one.
#[test]
fn the_banner_names_the_load_model() {
    let dir = scratch("console-banner");
    let server = Server::start(&[]);
    let url = server.url("/");
    let base = server.url("");
    let targets = dir.join("targets.txt");
    std::fs::write(&targets, format!("GET {base}/a\n\nGET {base}/b weight=3\n")).unwrap();
    let one: &[&str] = &["-p", "1", "-t", "1"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![&url, "-c", "1", "-n", "5"],
            "  load         closed loop, -c 1 connection; 5 requests\n  workers      1 process x 1 thread\n",
        ),
        (
            vec![&url, "-c", "2", "-R", "200", "-d", "300ms"],
            "  load         -R 200/s open loop, 2 connections; 0.3s\n",
        ),
        (
            vec![&url, "-c", "2", "--rate-stages", "300ms:100"],
            "  load         --rate-stages 300ms:100 (peak 100/s) open loop, 2 connections;",
        ),
        (
            vec!["--targets", p(&targets), "-c", "2", "-n", "8"],
            "-> --targets ",
        ),
    ];
    for (i, (args, want)) in cases.into_iter().enumerate() {
        let (out, _) = run_ok(&[&args[..], one].concat(), &dir.join(i.to_string()));
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(want),
            "{args:?}: want {want:?} in\n{stdout}"
        );
    }
    let (out, _) = run_ok(
        &[&["--targets", p(&targets), "-c", "2", "-n", "8"][..], one].concat(),
        &dir.join("targets"),
    );
    // The first line, folded at 80 columns if the path is long.
    let words = text(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let want = format!(
        "targets.txt (2 targets, round-robin) at {} load",
        server.addr
    );
    assert!(words.contains(&want), "{want:?} in {words}");
}
