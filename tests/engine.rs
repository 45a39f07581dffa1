//! End-to-end tests of the core engine against `barrage serve` on loopback: counts
//! that match the server, ordering, failure kinds, killed workers, bad input.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn rows_match_what_the_server_served() {
    let dir = scratch("count");
    let server = Server::start(&["--threads", "2"]);
    let url = server.url("/");
    let (out, rows) = run_ok(&[&url, "-p", "2", "-t", "2", "-c", "16", "-d", "1s"], &dir);
    let (served, conns) = server.stop();
    let stdout = text(&out.stdout);
    assert!(rows.len() > 100, "too few rows: {}", rows.len());
    assert_eq!(
        rows.len() as u64,
        served,
        "every request the server saw is a row"
    );
    assert_eq!(conns, 16, "one connection each, kept alive");
    assert!(rows.iter().all(|r| r.status == 200), "all 200");
    assert!(
        rows.windows(2).all(|w| w[0].elapsed <= w[1].elapsed),
        "completion times non-decreasing"
    );
    assert!(
        rows.iter()
            .all(|r| r.response_time > 0.0 && r.response_time < 1.0)
    );
    assert!(dir.join("samples-000.bin").exists() && dir.join("samples-001.bin").exists());
    assert!(
        stdout.contains(&format!("requests     {}", rows.len())),
        "{stdout}"
    );
    assert!(stdout.contains("p99.9"), "{stdout}");
}

#[test]
fn request_count_is_exact() {
    let dir = scratch("count-n");
    let server = Server::start(&[]);
    let url = server.url("/");
    let (_, rows) = run_ok(&[&url, "-p", "2", "-t", "2", "-c", "7", "-n", "1001"], &dir);
    let (served, _) = server.stop();
    assert_eq!(rows.len(), 1001);
    assert_eq!(served, 1001);
}

#[test]
fn server_closing_connections_is_not_an_error() {
    // Every response says Connection: close; the client reconnects each time.
    let dir = scratch("close");
    let server = Server::start(&[]);
    let url = server.url("/?close=1");
    let (_, rows) = run_ok(&[&url, "-p", "1", "-t", "1", "-c", "4", "-n", "400"], &dir);
    let (served, conns) = server.stop();
    assert_eq!(rows.len(), 400);
    assert_eq!(served, 400);
    assert_eq!(conns, 400, "a fresh connection per request");
    assert!(rows.iter().all(|r| r.status == 200));
}

#[test]
fn chunked_and_close_delimited_bodies() {
    for (path, name) in [
        ("/?chunked=1&size=5000", "chunked"),
        ("/?eof=1&size=3000", "eof"),
        ("/?status=204", "204"),
    ] {
        let dir = scratch(name);
        let server = Server::start(&[]);
        let url = server.url(path);
        let (_, rows) = run_ok(
            &[
                &url, "-p", "1", "-t", "1", "-c", "3", "-n", "300", "--columns", "bytes,error",
            ],
            &dir,
        );
        let (served, _) = server.stop();
        assert_eq!(rows.len() as u64, served, "{name}");
        assert_eq!(rows.len(), 300, "{name}");
        for r in &rows {
            assert_eq!(r.extra[1], "", "{name}: no error, got {:?}", r.extra);
            assert!(r.status == 200 || r.status == 204, "{name}");
        }
        let bytes: u64 = rows[0].extra[0].parse().unwrap();
        let min_body = match name {
            "chunked" => 5000,
            "eof" => 3000,
            _ => 0,
        };
        assert!(bytes > min_body, "{name}: {bytes} bytes");
    }
}

#[test]
fn refusing_port_records_every_attempt_as_failure() {
    // Bind then drop a listener: nothing listens on that port now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = scratch("refused");
    let url = format!("http://127.0.0.1:{port}/");
    let out = run_in(
        &[
            &url, "-p", "1", "-t", "1", "-c", "2", "-d", "300ms", "--columns", "error",
        ],
        &dir,
    );
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(5),
        "a refusing target is not bad input (1) but a run where nothing succeeded: {}",
        text(&out.stderr)
    );
    assert!(stdout.contains("connect refused"), "{stdout}");
    let rows = read_csv(&dir.join("results.csv"));
    assert!(rows.len() > 10, "every attempt is a row: {}", rows.len());
    assert!(
        rows.iter()
            .all(|r| r.status == 0 && r.extra[0] == "connect refused"),
        "{:?}",
        &rows[..3]
    );
}

#[test]
fn timeout_is_recorded_and_the_run_ends() {
    let dir = scratch("timeout");
    let server = Server::start(&[]);
    let url = server.url("/?delay=5s");
    let out = run_in(
        &[
            &url, "-p", "1", "-t", "1", "-c", "2", "-d", "200ms", "--timeout", "300ms",
            "--columns", "error",
        ],
        &dir,
    );
    drop(server);
    assert_eq!(out.status.code(), Some(5), "nothing succeeded");
    assert!(
        text(&out.stderr).contains("every request to 127.0.0.1:"),
        "{}",
        text(&out.stderr)
    );
    let rows = read_csv(&dir.join("results.csv"));
    assert_eq!(rows.len(), 2, "one timed-out request per connection");
    for r in rows {
        assert_eq!(r.extra[0], "timeout");
        assert!((0.29..0.6).contains(&r.response_time), "{r:?}");
    }
}

/// Starts `barrage run ARGS... -o DIR` with its output piped, to signal it mid-run.
fn spawn_run(args: &[&str], dir: &std::path::Path) -> std::process::Child {
    Command::new(bin())
        .arg("run")
        .args(args)
        .args(["-o", p(dir)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn killed_worker_keeps_its_samples() {
    let dir = scratch("kill");
    let server = Server::start(&["--threads", "2"]);
    let url = server.url("/");
    let child = spawn_run(&[&url, "-p", "2", "-t", "1", "-c", "8", "-d", "3s"], &dir);
    let workers = wait_for("two worker processes", Duration::from_secs(5), || {
        let c = children_of(child.id());
        (c.len() == 2).then_some(c)
    });
    std::thread::sleep(Duration::from_millis(700));
    nix_kill(workers[0], libc::SIGKILL);
    let out = child.wait_with_output().unwrap();
    drop(server);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a killed worker is reported: {stderr}"
    );
    assert!(stderr.contains("was killed by SIGKILL"), "{stderr}");
    let killed = count_valid_records(&dir.join("samples-000.bin"));
    let survivor = count_valid_records(&dir.join("samples-001.bin"));
    assert!(
        killed > 100,
        "the killed worker's completed samples survive: {killed}"
    );
    assert!(
        survivor > killed,
        "the survivor ran longer: {survivor} vs {killed}"
    );
    let rows = read_csv(&dir.join("results.csv"));
    assert_eq!(
        rows.len() as u64,
        killed + survivor,
        "every complete record is merged"
    );
    assert!(rows.windows(2).all(|w| w[0].elapsed <= w[1].elapsed));
}

#[test]
fn sigint_stops_gracefully_and_keeps_everything() {
    let dir = scratch("sigint");
    let server = Server::start(&[]);
    let url = server.url("/");
    let child = spawn_run(&[&url, "-p", "2", "-t", "1", "-c", "4", "-d", "30s"], &dir);
    wait_for("workers", Duration::from_secs(5), || {
        (children_of(child.id()).len() == 2).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    nix_kill(child.id(), libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    let (served, _) = server.stop();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("stopped early"));
    let rows = read_csv(&dir.join("results.csv"));
    assert_eq!(
        rows.len() as u64,
        served,
        "in-flight requests finished and were recorded"
    );
    // Stopped promptly: the last request ended seconds into a run of 30 s.
    let last = rows.last().unwrap().elapsed;
    assert!(last < 5.0, "last request ended at {last} s");
}

#[test]
fn merge_rewrites_results_with_other_precision() {
    let dir = scratch("merge");
    let server = Server::start(&[]);
    let url = server.url("/");
    let out = run_in(
        &[
            &url, "-p", "1", "-t", "1", "-c", "2", "-n", "50", "--no-csv",
        ],
        &dir,
    );
    drop(server);
    assert_ok(&out);
    assert!(!dir.join("results.csv").exists());
    let csv = dir.join("seed.csv");
    assert_ok(&barrage(&[
        "merge",
        p(&dir),
        "-o",
        p(&csv),
        "--precision",
        "3",
    ]));
    let body = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(body.lines().count(), 50);
    let first = body.lines().next().unwrap();
    let fields: Vec<&str> = first.split(',').collect();
    assert_eq!(fields.len(), 3);
    assert_eq!(
        fields[0].split('.').nth(1).unwrap().len(),
        3,
        "seed format: {first}"
    );
}

#[test]
fn merge_rejects_foreign_and_corrupt_files() {
    let dir = scratch("corrupt");
    std::fs::write(dir.join("samples-000.bin"), b"definitely not a sample file").unwrap();
    let out = barrage(&["merge", p(&dir)]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("samples-000.bin") && err.contains("too short"),
        "{err}"
    );
    let mut junk = vec![0u8; 8192];
    junk[..8].copy_from_slice(b"NOTMAGIC");
    std::fs::write(dir.join("samples-000.bin"), &junk).unwrap();
    let err = text(&barrage(&["merge", p(&dir)]).stderr);
    assert!(err.contains("bad magic"), "{err}");
    let empty = scratch("empty");
    let err = text(&barrage(&["merge", p(&empty)]).stderr);
    assert!(err.contains("no sample files"), "{err}");
}

#[test]
fn bad_input_gets_one_clear_line_and_no_load() {
    let unwritable = "/proc/barrage-cannot-create-this";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", "not a url"], "no scheme"),
        (vec!["run", "ftp://127.0.0.1/"], "unsupported scheme"),
        (
            vec!["run", "http://no-such-host.invalid/"],
            "cannot resolve host",
        ),
        (vec!["run", "http://127.0.0.1:0/"], "port 0"),
        (
            vec!["run", "http://127.0.0.1:1/", "-c", "0"],
            "--connections must be at least 1",
        ),
        (
            vec!["run", "http://127.0.0.1:1/", "-n", "0"],
            "--requests must be at least 1",
        ),
        (
            vec!["run", "http://127.0.0.1:1/", "-p", "0"],
            "--processes must be at least 1",
        ),
        (
            vec!["run", "http://127.0.0.1:1/", "-t", "0"],
            "--threads must be at least 1",
        ),
        (
            vec!["run", "http://127.0.0.1:1/", "-d", "0s"],
            "--duration must be longer than 0s",
        ),
        (
            vec!["run", "http://127.0.0.1:1/", "-c", "-5"],
            "-5 is negative",
        ),
        (
            vec![
                "run", "http://127.0.0.1:1/", "-p", "2", "-t", "2", "-c", "3",
            ],
            "use -c 4 or more",
        ),
        (
            vec!["run", "http://127.0.0.1:1/", "-d", "10 parsecs"],
            "invalid duration",
        ),
        (
            vec!["run", "http://127.0.0.1:1/", "-o", unwritable],
            "cannot create run directory",
        ),
    ];
    for (args, want) in cases {
        assert_refused(&args, want);
    }
}

#[test]
fn bind_spreads_connections_over_source_addresses() {
    let dir = scratch("bind");
    let server = Server::start(&["--peers"]);
    let url = server.url("/");
    let (_, rows) = run_ok(
        &[
            &url, "-p", "1", "-t", "2", "-c", "8", "-n", "400", "--bind", "127.0.0.2-127.0.0.5",
        ],
        &dir,
    );
    let served = server.stop_output();
    assert_eq!(rows.len(), 400);
    for ip in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        assert!(
            served.contains(&format!("peer {ip} sent 100 requests")),
            "{ip}: {served}"
        );
    }
    for (bind, want) in [
        ("nonsense", "not an IP address"),
        ("::1", "not the same IP version"),
        ("127.0.0.9-127.0.0.2", "range"),
    ] {
        let out = barrage(&["run", "http://127.0.0.1:1/", "-n", "1", "--bind", bind]);
        assert!(
            text(&out.stderr).contains(want),
            "{bind}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn second_sigint_stops_hard_and_records_in_flight_as_cancelled() {
    let dir = scratch("hard-stop");
    let server = Server::start(&[]);
    let url = server.url("/?delay=20s");
    let child = spawn_run(
        &[
            &url, "-p", "1", "-t", "1", "-c", "3", "-d", "30s", "--timeout", "30s", "--columns",
            "error",
        ],
        &dir,
    );
    wait_for("worker", Duration::from_secs(5), || {
        (children_of(child.id()).len() == 1).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    nix_kill(child.id(), libc::SIGINT);
    std::thread::sleep(Duration::from_millis(200));
    nix_kill(child.id(), libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    drop(server);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let rows = read_csv(&dir.join("results.csv"));
    assert_eq!(rows.len(), 3, "the three requests in flight are rows");
    assert!(
        rows.iter()
            .all(|r| r.status == 0 && r.extra[0] == "cancelled"),
        "{rows:?}"
    );
    // The requests started before the first Ctrl-C; had the second not cut the 2 s
    // grace short, they would have been cancelled at its end, in flight for over 2 s.
    assert!(
        rows.iter().all(|r| r.response_time < 2.0),
        "a second Ctrl-C does not wait out the grace: {rows:?}"
    );
}

#[test]
fn run_sh_local_sessions_work() {
    // The README's first command, plain and TLS, with a short duration.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for extra in [&[][..], &["--tls"][..]] {
        let out = Command::new(root.join("scripts/run.sh"))
            .args(extra)
            .args([
                "-p",
                "1",
                "-t",
                "1",
                "-o",
                scratch(if extra.is_empty() {
                    "runsh"
                } else {
                    "runsh-tls"
                })
                .join("r")
                .to_str()
                .unwrap(),
            ])
            .env("DURATION", "1s")
            .current_dir(root)
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{extra:?}: {stdout}{}",
            text(&out.stderr)
        );
        let requests: u64 = stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("requests"))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        let served = stdout.lines().find(|l| l.contains("served")).unwrap();
        assert!(
            served.contains(&format!("served {requests} requests")),
            "{extra:?}: {stdout}"
        );
        assert!(stdout.contains("errors       0 "), "{extra:?}: {stdout}");
        if !extra.is_empty() {
            assert!(stdout.contains("tls          TLSv1.3"), "{stdout}");
        }
    }
}
