//! A distributed run over three "hosts" that are network namespaces on a bridge,
//! driven by scripts/run-distributed.sh through pdsh's exec module, against
//! barrage's own server in a fourth namespace. Only addresses inside the namespaces
//! this test creates are used, and they are removed even when the test fails.
//!
//! Needs root, iproute2 and pdsh (scripts/test.sh installs them). Without them the
//! test says why and passes, unless BARRAGE_REQUIRE_NGINX=1 (scripts/test.sh), where
//! missing tools fail it.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// Namespaces and a bridge, deleted on drop.
struct Net {
    prefix: String,
    bridge: String,
    names: Vec<String>,
}

fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{args:?}: {}", text(&out.stderr)))
    }
}

impl Net {
    /// `hosts` namespaces plus one for the server, on a bridge; addresses 10.77.0.1
    /// (server) and 10.77.0.10+i (host i).
    fn create(hosts: usize) -> Result<Net, String> {
        let tag = std::process::id() % 100_000;
        let mut net = Net {
            prefix: format!("brg{tag}"),
            bridge: format!("brgbr{tag}"),
            names: Vec::new(),
        };
        sh(&["ip", "link", "add", &net.bridge, "type", "bridge"])?;
        sh(&["ip", "link", "set", &net.bridge, "up"])?;
        for i in 0..=hosts {
            let (name, addr) = if i == hosts {
                (format!("{}srv", net.prefix), "10.77.0.1/24".to_string())
            } else {
                (
                    format!("{}h{i}", net.prefix),
                    format!("10.77.0.{}/24", 10 + i),
                )
            };
            sh(&["ip", "netns", "add", &name])?;
            net.names.push(name.clone());
            let (outer, inner) = (format!("{}v{i}", net.prefix), format!("{}p{i}", net.prefix));
            sh(&[
                "ip", "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ])?;
            sh(&["ip", "link", "set", &inner, "netns", &name])?;
            sh(&["ip", "link", "set", &outer, "master", &net.bridge, "up"])?;
            sh(&[
                "ip", "netns", "exec", &name, "ip", "addr", "add", &addr, "dev", &inner,
            ])?;
            sh(&[
                "ip", "netns", "exec", &name, "ip", "link", "set", &inner, "up",
            ])?;
            sh(&[
                "ip", "netns", "exec", &name, "ip", "link", "set", "lo", "up",
            ])?;
        }
        Ok(net)
    }

    fn host(&self, i: usize) -> &str {
        &self.names[i]
    }

    fn server_ns(&self) -> &str {
        self.names.last().unwrap()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = sh(&["ip", "netns", "del", n]);
        }
        let _ = sh(&["ip", "link", "del", &self.bridge]);
    }
}

/// Whether this machine can run the test; `Err` says why not.
fn prerequisites() -> Result<(), String> {
    if !nix::unistd::getuid().is_root() {
        return Err("needs root to create network namespaces".into());
    }
    for tool in ["ip", "pdsh"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            return Err(format!(
                "{tool} is not installed (scripts/test.sh installs it)"
            ));
        }
    }
    Ok(())
}

fn release_bin() -> std::path::PathBuf {
    // run-distributed.sh uses target/release/barrage; make sure it is this build.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("cargo")
        .args(["build", "--release", "--quiet"])
        .current_dir(root)
        .status()
        .unwrap();
    assert!(out.success(), "cargo build --release failed");
    root.join("target/release/barrage")
}

#[test]
fn three_shards_over_pdsh_make_one_test() {
    if let Err(why) = prerequisites() {
        if std::env::var_os("BARRAGE_REQUIRE_NGINX").is_some() {
            panic!("distributed test cannot run: {why}");
        }
        eprintln!("SKIPPED: {why}");
        return;
    }
    let _timing = timing_lock();
    let bin = release_bin();
    let net = Net::create(3).expect("create namespaces");
    let dir = scratch("distributed");
    let mut server = Command::new("ip")
        .args([
            "netns",
            "exec",
            net.server_ns(),
            bin.to_str().unwrap(),
            "serve",
            "--listen",
            "10.77.0.1:8080",
            "--peers",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(server.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        first.contains("listening on http://10.77.0.1:8080/"),
        "{first}"
    );

    let hosts = format!("{},{},{}", net.host(0), net.host(1), net.host(2));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/run-distributed.sh");
    let out_dir = dir.join("dist");
    let out = Command::new(&script)
        .args([
            "-w",
            &hosts,
            "-R",
            "exec",
            "-s",
            "2",
            "-o",
            out_dir.to_str().unwrap(),
            "--",
        ])
        .args([
            "http://10.77.0.1:8080/", "-R", "3000", "-d", "3s", "-p", "1", "-t", "1", "-c", "6",
        ])
        .output()
        .unwrap();
    nix_kill(server.id(), libc::SIGTERM);
    let mut served = String::new();
    server
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut served)
        .unwrap();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "run-distributed.sh failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // The server saw exactly what the shards recorded, from all three addresses.
    let total: u64 = served
        .lines()
        .find(|l| l.contains("served"))
        .and_then(|l| l.split_whitespace().find_map(|w| w.parse().ok()))
        .unwrap();
    let mut shard_rows = 0;
    for i in 0..3 {
        let rows = read_csv(&out_dir.join(net.host(i)).join("results.csv"));
        assert!(rows.len() > 2500, "shard {i} ran its share: {}", rows.len());
        shard_rows += rows.len() as u64;
        assert!(
            served.contains(&format!("peer 10.77.0.{} sent", 10 + i)),
            "shard {i}'s address reached the server:\n{served}"
        );
    }
    let merged = read_csv(&out_dir.join("results.csv"));
    assert_eq!(shard_rows, total, "server count = sum of the shards' rows");
    assert_eq!(
        merged.len() as u64,
        total,
        "merged results.csv has every row"
    );
    assert!(
        (merged.len() as f64 - 9000.0).abs() <= 180.0,
        "total rate within 2% of 3000/s x 3s: {}",
        merged.len()
    );

    // No synchronized bursts: requests start evenly, 100 ms windows each near 300.
    let mut windows = vec![0u32; 30];
    for r in &merged {
        let start = r.elapsed - r.response_time;
        if let Some(w) = windows.get_mut((start / 0.1) as usize) {
            *w += 1;
        }
    }
    assert!(
        windows.iter().all(|&w| (255..=345).contains(&w)),
        "per-100ms starts: {windows:?}"
    );
    assert!(out_dir.join("report.html").exists());

    // merge names a missing shard, and refuses directories of different runs.
    let (shard0, shard1) = (out_dir.join(net.host(0)), out_dir.join(net.host(1)));
    let two = barrage(&["merge", p(&shard0), p(&shard1), "-o", "/dev/null"]);
    assert!(
        text(&two.stderr).contains("shard 2 of 3 missing"),
        "{}",
        text(&two.stderr)
    );
    let dup = barrage(&["merge", p(&shard0), p(&shard0), "-o", "/dev/null"]);
    assert!(
        !dup.status.success(),
        "the same directory twice is not a whole test"
    );
    drop(net);
}

#[test]
fn merge_refuses_different_runs_and_late_starts_are_refused() {
    let dir = scratch("dist-mismatch");
    let server = Server::start(&[]);
    let url = server.url("/");
    let (a, b) = (dir.join("a"), dir.join("b"));
    for (d, id) in [(&a, "run-a"), (&b, "run-b")] {
        run_ok(
            &[
                &url, "-p", "1", "-t", "1", "-c", "1", "-n", "10", "--run-id", id,
            ],
            d,
        );
    }
    drop(server);
    let out = barrage(&["merge", p(&a), p(&b), "-o", p(&dir.join("m.csv"))]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("belongs to run \"run-b\", not \"run-a\""),
        "{err}"
    );
    let past = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 30
    );
    let cases = [
        (vec!["--start-at", past.as_str()], "in the past"),
        (vec!["--start-at", "tomorrow"], "not a Unix time"),
        (vec!["--shard", "3/3"], "below the count"),
        (vec!["--shard", "x/2"], "write I/N"),
        (vec!["--shard", "1/2"], "needs --start-at"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["run", "http://127.0.0.1:1/", "-n", "1"];
        args.extend(extra.iter().copied());
        assert_refused(&args, want);
    }
}

#[test]
fn start_at_delays_the_load() {
    let dir = scratch("start-at");
    let server = Server::start(&[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let at = format!("{:.3}", now + 1.5);
    let url = server.url("/");
    let (_, rows) = run_ok(
        &[
            &url, "-p", "2", "-t", "1", "-c", "2", "-d", "300ms", "--start-at", &at, "--columns",
            "start",
        ],
        &dir,
    );
    drop(server);
    // Each process recorded (sample header, docs/sample-format.md) the --start-at
    // instant, 1.5 s after the command, as its time base, and a clean finish on its own
    // wall clock no earlier than the 300 ms of load after it: it waited for the start.
    let at_ns = (at.parse::<f64>().unwrap() * 1e9).round() as u64;
    for i in 0..2 {
        let head = std::fs::read(dir.join(format!("samples-00{i}.bin"))).unwrap();
        let u64_at = |o: usize| u64::from_le_bytes(head[o..o + 8].try_into().unwrap());
        let (base, finished) = (u64_at(32), u64_at(256));
        assert_eq!(base, at_ns, "process {i}: time base");
        assert!(
            finished >= at_ns + 300_000_000,
            "process {i} finished {} ms after --start-at",
            (finished as i64 - at_ns as i64) / 1_000_000
        );
    }
    // A request that ended before the time base would be recorded at 0 (the clock
    // reads 0 until the base); the first one starts at once.
    assert!(
        rows.iter().all(|r| r.elapsed > 0.0),
        "a request ended before --start-at"
    );
    let first_start = rows
        .iter()
        .map(|r| r.extra[0].parse::<f64>().unwrap())
        .fold(f64::MAX, f64::min);
    assert!(
        (0.0..0.05).contains(&first_start),
        "elapsed counts from --start-at: {first_start}"
    );
}
