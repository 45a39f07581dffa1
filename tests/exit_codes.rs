//! Issue 12, item 6: exit codes a script can rely on (`barrage run --help` lists
//! them): 0 at least one request succeeded, 5 none did (with one line naming why),
//! 130 after SIGINT and 143 after SIGTERM (results still written), 4 a `--fail-if`
//! threshold failed, in the documented precedence.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

/// A loopback port nothing listens on: bound, then released.
fn refused_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// The stderr lines that start with "barrage: no request succeeded".
fn verdicts(out: &Output) -> Vec<String> {
    text(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("barrage: no request succeeded"))
        .map(str::to_string)
        .collect()
}

const SMALL: &[&str] = &["-p", "1", "-t", "1", "-c", "2"];

#[test]
fn a_run_with_successes_exits_0() {
    let dir = scratch("exit-ok");
    let server = Server::start(&[]);
    let out = run_in(
        &[&[server.url("/").as_str(), "-n", "200"], SMALL].concat(),
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(verdicts(&out).is_empty());
}

#[test]
fn every_connection_refused_exits_5_with_one_line_naming_why() {
    let dir = scratch("exit-refused");
    let addr = refused_addr();
    let url = format!("http://{addr}/");
    let out = run_in(&[&[url.as_str(), "-d", "1s"], SMALL].concat(), &dir);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert_eq!(
        verdicts(&out),
        [format!(
            "barrage: no request succeeded: every connection to {addr} was refused (is the server running?)"
        )]
    );
    // The run's files are still there: every attempt is a status-0 row.
    let rows = read_csv(&dir.join("results.csv"));
    assert!(!rows.is_empty() && rows.iter().all(|r| r.status == 0));
    assert!(dir.join("summary.json").exists());
    // A --fail-if that also fails does not hide it: 5 comes before 4.
    let out = run_in(
        &[
            &[url.as_str(), "-d", "200ms", "--fail-if", "errors > 0"],
            SMALL,
        ]
        .concat(),
        &dir.join("with-threshold"),
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
}

#[test]
fn every_response_failing_its_check_exits_5() {
    let dir = scratch("exit-expect");
    let server = Server::start(&[]);
    let url = server.url("/");
    let out = run_in(
        &[&[url.as_str(), "-n", "50", "--expect-status", "404"], SMALL].concat(),
        &dir,
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert_eq!(
        verdicts(&out),
        [
            "barrage: no request succeeded: every response failed --expect-status (see the status line)"
        ]
    );
}

#[test]
fn a_failed_threshold_exits_4_and_a_passed_one_0() {
    let dir = scratch("exit-threshold");
    let server = Server::start(&[]);
    let url = server.url("/");
    let out = run_in(
        &[
            &[url.as_str(), "-n", "100", "--fail-if", "requests < 1000"],
            SMALL,
        ]
        .concat(),
        &dir.join("fail"),
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("threshold failed: requests < 1000"));
    let out = run_in(
        &[
            &[url.as_str(), "-n", "100", "--fail-if", "requests > 1000"],
            SMALL,
        ]
        .concat(),
        &dir.join("pass"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// Starts a 30 s run, sends `sig` once it has run a while, and returns its output
/// and the server's request count.
fn stop_with(sig: i32, dir: &std::path::Path, stdout: Stdio) -> (Output, u64) {
    let server = Server::start(&[]);
    let url = server.url("/");
    let child = Command::new(bin())
        .args([
            "run", &url, "-p", "2", "-t", "1", "-c", "4", "-d", "30s", "-o",
        ])
        .arg(dir)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("two workers", Duration::from_secs(5), || {
        (children_of(child.id()).len() == 2).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    nix_kill(child.id(), sig);
    let out = child.wait_with_output().unwrap();
    let (served, _) = server.stop();
    (out, served)
}

#[test]
fn sigint_exits_130_with_every_request_recorded() {
    // With stdout a pipe nobody reads any more, as in `barrage run ... | head -1`
    // followed by Ctrl-C: the exit code is still the signal's.
    let dir = scratch("exit-sigint");
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    let (out, served) = stop_with(libc::SIGINT, &dir, Stdio::from(w));
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("stopped early"));
    let rows = read_csv(&dir.join("results.csv"));
    assert!(served > 0);
    assert_eq!(rows.len() as u64, served, "results.csv has every request");
    assert!(dir.join("summary.json").exists());
}

#[test]
fn sigterm_exits_143_with_every_request_recorded() {
    let dir = scratch("exit-sigterm");
    let (out, served) = stop_with(libc::SIGTERM, &dir, Stdio::piped());
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
    assert_eq!(read_csv(&dir.join("results.csv")).len() as u64, served);
}
