//! Issue 16: `barrage run --metrics-listen`. A run scraped while it goes: every
//! scrape parses with a real Prometheus parser (PyPI's `prometheus_client`, Debian's
//! python3-prometheus-client, installed by scripts/test.sh), counters never go down,
//! the histogram's count is the requests completed in the same scrape, the last
//! scrape is close to (and not above) results.csv; while the results are written the
//! final counts are still served; the address is refused after the run; a port in use stops the run before any load. The live page loaded in headless
//! Chromium draws its chart (screenshot kept under target/). Shell completions and the
//! man page name every subcommand.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// Starts `barrage run ARGS --metrics-listen 127.0.0.1:0` and returns it with the
/// address it printed.
fn start_run(args: &[&str]) -> (Child, String, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(bin())
        .arg("run")
        .args(args)
        .args(["--metrics-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn barrage run");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            break None;
        }
        if let Some(rest) = line.trim().strip_prefix("metrics      http://") {
            break Some(rest.split('/').next().unwrap().to_string());
        }
    };
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("barrage run printed no metrics line");
    };
    (child, addr, out)
}

/// GETs `path` with an `Accept` header; `None` if the connection is refused or cut
/// before a whole answer (the run is over).
fn get(addr: &str, path: &str, accept: &str) -> Option<(String, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    Some((head.to_string(), body.to_string()))
}

/// Parses each file with prometheus_client and prints, per file, one JSON list of
/// [family type, sample name, labels, value].
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families
for path in sys.argv[1:]:
    parse = om_families if path.endswith(".om") else text_string_to_metric_families
    text = open(path).read()
    out = []
    for fam in parse(text):
        for s in fam.samples:
            out.append([fam.type, s.name, s.labels, s.value])
    print(json.dumps(out))
"#;

type Sample = (String, String, BTreeMap<String, String>, f64);

fn parse_with_prometheus_client(files: &[std::path::PathBuf]) -> Vec<Vec<Sample>> {
    // Debian's python (where python3-prometheus-client installs) before any other.
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| !p.starts_with('/') || Path::new(p).exists())
        .unwrap();
    let out = Command::new(python)
        .arg("-c")
        .arg(PARSE)
        .args(files)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "prometheus_client could not parse a scrape (or is missing: apt-get install python3-prometheus-client, as scripts/test.sh does): {}",
        text(&out.stderr)
    );
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Vec<Sample>>(l).unwrap())
        .collect()
}

fn sum(samples: &[Sample], name: &str) -> f64 {
    samples.iter().filter(|s| s.1 == name).map(|s| s.3).sum()
}

#[test]
fn a_run_scraped_while_it_goes() {
    let _t = timing_lock();
    let dir = scratch("metrics-scrape");
    let server = Server::start(&[]);
    let out = dir.join("run");
    let (mut child, addr, _stdout) = start_run(&[
        &server.url("/"),
        "-p",
        "2",
        "-t",
        "1",
        "-c",
        "4",
        "-R",
        "2000",
        "-d",
        "2s",
        "-o",
        p(&out),
    ]);
    // Scrape until the run closes the socket, an OpenMetrics one now and then.
    let mut files = Vec::new();
    let mut om = 0;
    loop {
        let accept = if files.len() % 5 == 2 {
            "application/openmetrics-text; version=1.0.0"
        } else {
            "text/plain"
        };
        let Some((head, body)) = get(&addr, "/metrics", accept) else {
            break;
        };
        let ext = if head.contains("application/openmetrics-text") {
            om += 1;
            "om"
        } else {
            assert!(head.contains("text/plain; version=0.0.4"), "{head}");
            "txt"
        };
        let f = dir.join(format!("scrape-{:04}.{ext}", files.len()));
        std::fs::write(&f, body).unwrap();
        files.push(f);
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    // After the run: nothing listens there any more.
    let refused = TcpStream::connect(&addr).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    assert!(files.len() >= 5, "only {} scrapes", files.len());
    assert!(om >= 1);
    let scrapes = parse_with_prometheus_client(&files);
    let mut last: BTreeMap<(String, String), f64> = BTreeMap::new();
    for (i, s) in scrapes.iter().enumerate() {
        let completed = sum(s, "barrage_requests_total");
        let count = sum(s, "barrage_request_duration_seconds_count");
        assert_eq!(count, completed, "scrape {i}: histogram count vs completed");
        let inf = s
            .iter()
            .find(|x| x.1 == "barrage_request_duration_seconds_bucket" && x.2["le"] == "+Inf")
            .unwrap();
        assert_eq!(inf.3, count, "scrape {i}");
        for x in s {
            assert_eq!(x.2["shard"], "0");
            assert!(!x.2["run_id"].is_empty() && !x.2["host_id"].is_empty());
            if x.0 == "counter" || x.0 == "histogram" {
                let key = (x.1.clone(), format!("{:?}", x.2));
                let before = last.insert(key.clone(), x.3).unwrap_or(0.0);
                assert!(
                    x.3 >= before,
                    "scrape {i}: {key:?} went down: {before} -> {}",
                    x.3
                );
            }
        }
    }
    let rows = read_csv(&out.join("results.csv")).len() as f64;
    let final_total = sum(scrapes.last().unwrap(), "barrage_requests_total");
    assert!(
        final_total <= rows && final_total >= 0.9 * rows,
        "last scrape {final_total}, results.csv {rows}"
    );
    let first = &scrapes[0];
    assert!(first.iter().any(|x| x.1 == "barrage_schedule_lag_seconds"));
    assert!(first.iter().any(|x| x.1 == "barrage_connections_open"));
    server.stop();
}

/// The value of a sample line `NAME{...} VALUE` (summed over its label sets).
fn value_of(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// After the load, while results.csv and the report are written, scrapes are still
/// answered, with the load's final counts and its elapsed time frozen at its end: two
/// scrapes with the same elapsed time and every row of results.csv can only come from
/// then (during the load the clock moves between any two).
#[test]
fn the_final_counts_are_served_while_the_results_are_written() {
    let _t = timing_lock();
    let dir = scratch("metrics-merge");
    let server = Server::start(&[]);
    let out = dir.join("run");
    // Every column of results.csv: a merge long enough for several scrapes.
    let (mut child, addr, _stdout) = start_run(&[
        &server.url("/"),
        "-p",
        "1",
        "-t",
        "1",
        "-c",
        "16",
        "-d",
        "2s",
        "--columns",
        "all",
        "-o",
        p(&out),
    ]);
    let mut scrapes = Vec::new();
    while let Some((_, body)) = get(&addr, "/metrics", "text/plain") {
        scrapes.push((
            value_of(&body, "barrage_requests_total"),
            value_of(&body, "barrage_elapsed_seconds"),
        ));
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    server.stop();
    let rows = read_csv(&out.join("results.csv")).len() as f64;
    let after: Vec<&(f64, f64)> = scrapes.iter().filter(|s| s.0 == rows).collect();
    let frozen = after.windows(2).any(|w| w[0].1 == w[1].1);
    assert!(
        frozen,
        "no two scrapes with all {rows} rows and the same elapsed time: {:?}",
        &scrapes[scrapes.len().saturating_sub(8)..]
    );
    let elapsed = after.last().unwrap().1;
    assert!((2.0..3.0).contains(&elapsed), "frozen at {elapsed} s");
}

#[test]
fn a_port_in_use_is_refused_before_any_load() {
    let dir = scratch("metrics-busy");
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let out = dir.join("run");
    let err = assert_refused(
        &[
            "run",
            "http://127.0.0.1:9/",
            "-n",
            "10",
            "-o",
            p(&out),
            "--metrics-listen",
            &addr,
        ],
        &format!("cannot listen on {addr} for --metrics-listen"),
    );
    assert!(err.contains("choose a free port"), "{err}");
    // Refused before the run directory, let alone a worker, was made.
    assert!(!out.exists());
}

#[test]
fn a_host_name_is_refused_with_the_form_to_give() {
    let err = assert_refused(
        &[
            "run", "http://127.0.0.1:9/", "-n", "10", "--metrics-listen", "localhost",
        ],
        "\"localhost\" is not IP:PORT",
    );
    assert!(err.contains("like 127.0.0.1:9464"), "{err}");
}

/// Chromium is required where scripts/test.sh installed it (BARRAGE_REQUIRE_CHROMIUM=1);
/// elsewhere a missing one skips the test.
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "chromium-headless-shell"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("BARRAGE_REQUIRE_CHROMIUM").is_none(),
            "chromium not found: apt-get install chromium (scripts/test.sh does)"
        );
        eprintln!("skipped: chromium not found (apt-get install chromium)");
    }
    found
}

fn headless(browser: &str, profile: &Path, extra: &[&str], url: &str) -> String {
    let out = Command::new(browser)
        .args([
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--virtual-time-budget=6000", "--window-size=1000,750",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn the_live_page_draws_its_chart_in_headless_chromium() {
    let Some(browser) = chromium() else { return };
    let _t = timing_lock();
    let dir = scratch("metrics-page");
    let server = Server::start(&[]);
    let out = dir.join("run");
    let (mut child, addr, _stdout) = start_run(&[
        &server.url("/"),
        "-p",
        "1",
        "-c",
        "2",
        "-R",
        "500",
        // Stopped by SIGINT once both pages are taken; long enough that the second
        // still finds the run going on a loaded machine (the first can take seconds).
        "-d",
        "60s",
        "-o",
        p(&out),
    ]);
    let url = format!("http://{addr}/");
    let dom = headless(browser, &dir.join("profile-dom"), &["--dump-dom"], &url);
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("metrics-live-page.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        browser,
        &dir.join("profile-shot"),
        &[&format!("--screenshot={}", shot.display())],
        &url,
    );
    common::nix_kill(child.id(), libc::SIGINT);
    let _ = child.wait();
    server.stop();

    // The chart has points, and its rate line is drawn.
    let n: usize = dom
        .split("data-points=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no chart in {dom}"));
    assert!(n >= 2, "{n} points: {dom}");
    let rate = dom
        .split("id=\"rate-line\"")
        .nth(1)
        .and_then(|r| r.split("points=\"").nth(1))
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no rate line in {dom}"));
    assert!(rate.split_whitespace().count() >= 2, "{rate}");
    let status = dom.split("<div id=\"status\">").nth(1).unwrap_or("");
    assert!(status.starts_with("updated at"), "{status}");
    let png =
        std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5000,
        "{}",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
}
