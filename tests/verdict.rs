//! Issue 14: the generator's self-check and its verdict, against real sockets.
//! Server-bound against a slow server with few connections; starved or bound under
//! a CPU quota (a cgroup v2 `cpu.max` or v1 `cpu.cfs_quota_us`; skipped, saying why,
//! when neither is writable); port exhaustion in a network namespace whose ephemeral
//! port range is four ports (skipped, saying why, when `unshare -n` is not allowed);
//! shared cores when the server is pinned to barrage's own core. And `barrage search`
//! (see `search_*`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

fn verdict(dir: &Path) -> Value {
    summary_json(dir)["verdict"].clone()
}

/// A CPU quota the test can put a command under: a cgroup of its own.
pub struct Quota {
    dir: PathBuf,
    procs: PathBuf,
}

impl Quota {
    /// A cgroup limited to `percent` of one CPU, or why there can be none here.
    pub fn new(name: &str, percent: u32) -> Result<Quota, String> {
        let name = format!("barrage-test-{}-{name}", std::process::id());
        let period = 100_000u32;
        let quota = period * percent / 100;
        // cgroup v2: cpu.max in a child of the root, with the cpu controller enabled.
        let v2 = Path::new("/sys/fs/cgroup");
        if std::fs::read_to_string(v2.join("cgroup.controllers")).is_ok_and(|c| c.contains("cpu")) {
            let _ = std::fs::write(v2.join("cgroup.subtree_control"), "+cpu");
            let dir = v2.join(&name);
            if std::fs::create_dir(&dir).is_ok()
                && std::fs::write(dir.join("cpu.max"), format!("{quota} {period}")).is_ok()
            {
                return Ok(Quota {
                    procs: dir.join("cgroup.procs"),
                    dir,
                });
            }
            let _ = std::fs::remove_dir(&dir);
        }
        // cgroup v1: the cpu hierarchy's CFS quota.
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        let dir = v1.join(&name);
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                let set = std::fs::write(dir.join("cpu.cfs_period_us"), period.to_string())
                    .and_then(|_| std::fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string()));
                match set {
                    Ok(()) => Ok(Quota {
                        procs: dir.join("cgroup.procs"),
                        dir,
                    }),
                    Err(e) => {
                        let _ = std::fs::remove_dir(&dir);
                        Err(format!("cannot set a CFS quota in {}: {e}", dir.display()))
                    }
                }
            }
            Err(e) => Err(format!(
                "no writable cgroup: /sys/fs/cgroup has no cpu controller for v2, and {} cannot be made ({e})",
                dir.display()
            )),
        }
    }

    /// Runs `barrage ARGS` inside the quota (the shell joins the cgroup, then execs).
    pub fn barrage(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "echo $$ > {} && exec \"$0\" \"$@\"",
                self.procs.display()
            ))
            .arg(bin())
            .args(args);
        cmd.output().expect("run barrage under a quota")
    }
}

impl Drop for Quota {
    fn drop(&mut self) {
        // Its processes have exited; the empty cgroup can go.
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// A slow server (20 ms per response) and two connections: barrage idles, so the
/// verdict is server-bound, in the terminal, summary.json and report.html, and
/// `barrage report` reproduces it from the self-check files.
#[test]
fn slow_server_few_connections_is_server_bound() {
    let _timing = timing_lock();
    let server = Server::start(&["--delay", "20ms"]);
    let dir = scratch("server-bound");
    let run = dir.join("run");
    let out = run_in(
        &[
            &server.url("/"),
            "-p",
            "1",
            "-t",
            "1",
            "-c",
            "2",
            "-d",
            "3s",
            "--fail-if",
            "generator-bound",
        ],
        &run,
    );
    let stdout = assert_ok(&out);
    let v = verdict(&run);
    assert_eq!(v["limit"], "server-bound", "{v:#}\n{stdout}");
    assert_eq!(v["generator_limited"], false);
    assert!(
        stdout.contains("  verdict      server-bound (barrage's busiest core"),
        "{stdout}"
    );
    assert!(v["busiest_core"].as_f64().unwrap() < 0.5, "{v:#}");
    let intervals = v["intervals"].as_array().unwrap();
    assert!(intervals.len() >= 3, "{v:#}");
    assert!(run.join("selfcheck-000.bin").is_file());
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.contains("id=\"verdict\">verdict: server-bound"),
        "no verdict at the top"
    );
    assert!(!html.contains("class=\"limited\""), "nothing to shade");
    // `barrage report DIR` judges the same records the same way.
    let again = dir.join("again");
    let out = barrage(&["report", p(&run), "-o", p(&again)]);
    assert_ok(&out);
    assert_eq!(verdict(&again), v);
}

/// The same kind of run held to 5% of a CPU: the loops wait for the quota, and the
/// verdict puts the limit in barrage (starved, or bound); `--fail-if generator-bound`
/// fails the run with the threshold code.
#[test]
fn a_cpu_quota_starves_the_generator() {
    let _timing = timing_lock();
    let quota = match Quota::new("starved", 5) {
        Ok(q) => q,
        Err(why) => {
            eprintln!("SKIPPED a_cpu_quota_starves_the_generator: {why}");
            return;
        }
    };
    let server = Server::start(&[]);
    let dir = scratch("starved");
    let out = quota.barrage(&[
        "run",
        &server.url("/"),
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
        "--fail-if",
        "generator-bound",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}{}", text(&out.stderr));
    let v = verdict(&dir);
    assert_eq!(v["generator_limited"], true, "{v:#}");
    let limit = v["limit"].as_str().unwrap();
    assert!(
        limit == "generator-starved" || limit == "generator-bound",
        "{v:#}"
    );
    assert!(
        stdout.contains("these figures describe barrage"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("threshold failed: generator-bound"),
        "{}",
        text(&out.stderr)
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("class=\"limited\""),
        "limited intervals shaded"
    );
}

/// The first CPU this test may run on (its `Cpus_allowed_list`).
fn first_allowed_cpu() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    list.split([',', '-']).next().unwrap().to_string()
}

/// The server on barrage's own core (both pinned to one CPU with taskset): the core
/// has no idle time left while barrage's loop uses about half of it, so the verdict
/// says the cores were shared, not that the server was the limit, and
/// `--fail-if generator-bound` fails the run.
#[test]
fn a_server_on_barrage_s_core_makes_the_cores_shared() {
    let _timing = timing_lock();
    let cpu = first_allowed_cpu();
    let server = Server::start(&["--threads", "1"]);
    let pinned = Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu, &server.pid().to_string()])
        .output()
        .expect("taskset (util-linux)");
    assert!(pinned.status.success(), "{}", text(&pinned.stderr));
    let dir = scratch("shared-cores");
    let out = Command::new("taskset")
        .args(["-c", &cpu, bin(), "run", &server.url("/")])
        .args(["-p", "1", "-t", "1", "-c", "16", "-d", "3s", "-o", p(&dir)])
        .args(["--fail-if", "generator-bound"])
        .output()
        .expect("run barrage");
    server.stop();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}{}", text(&out.stderr));
    let v = verdict(&dir);
    assert_eq!(v["limit"], "shared-cores", "{v:#}\n{stdout}");
    assert_eq!(v["generator_limited"], true);
    assert!(
        stdout.contains("  verdict      SHARED CORES in "),
        "{stdout}"
    );
    let judged: Vec<&Value> = v["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !i["limit"].is_null())
        .collect();
    assert!(judged.len() >= 2, "{v:#}");
    for i in judged {
        assert!(i["core_idle"].as_f64().unwrap() < 0.1, "{i}");
        assert!(i["busiest_core"].as_f64().unwrap() < 0.9, "{i}");
    }
}

/// More connections than local ports: in a network namespace of its own whose
/// ephemeral range is 4 ports, 12 of 16 connections cannot connect. Their failures
/// are "connect: no free local port", and the verdict says the run was limited by
/// local ports.
#[test]
fn more_connections_than_ports_is_port_exhaustion() {
    let dir = scratch("ports");
    let script = format!(
        "ip link set lo up && echo '40000 40003' > /proc/sys/net/ipv4/ip_local_port_range && \
         {bin} serve -l 127.0.0.1:18080 -d 5s >/dev/null & sleep 0.3; \
         {bin} run http://127.0.0.1:18080/ -p 1 -t 1 -c 16 -d 1s --interval 10ms -o {dir}",
        bin = bin(),
        dir = p(&dir)
    );
    let probe = Command::new("unshare").args(["-n", "true"]).output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!(
            "SKIPPED more_connections_than_ports_is_port_exhaustion: `unshare -n` is not allowed here ({})",
            probe.map_or_else(|e| e.to_string(), |o| text(&o.stderr))
        );
        return;
    }
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let s = summary_json(&dir);
    let v = &s["verdict"];
    assert_eq!(
        v["limit"],
        "local-ports",
        "{v:#}\n{stdout}{}",
        text(&out.stderr)
    );
    assert!(v["no_port_connects"].as_u64().unwrap() > 0);
    assert!(
        s["errors_by_kind"]["connect: no free local port"]
            .as_u64()
            .unwrap()
            > 0,
        "{s:#}"
    );
    assert!(
        stdout.contains("limited by local ports") && stdout.contains("EADDRNOTAVAIL"),
        "{stdout}"
    );
}

fn search_json(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("search.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A server that serves one request at a time in 10 ms holds about 100 req/s: the
/// search finds its maximum within 15%, every step is a run directory, and
/// search.json and search.html are written.
#[test]
fn search_finds_a_known_capacity() {
    let _timing = timing_lock();
    let server = Server::start(&["--service-time", "10ms"]);
    let dir = scratch("search");
    let out = barrage(&[
        "search",
        &server.url("/"),
        "--slo",
        "p99 < 50ms",
        "--slo",
        "errors < 1%",
        "--from",
        "50",
        "--step-duration",
        "1s",
        "--precision",
        "10%",
        "-p",
        "1",
        "-t",
        "1",
        "-c",
        "8",
        "--max-connections",
        "64",
        "-o",
        p(&dir),
    ]);
    let stdout = assert_ok(&out);
    let j = search_json(&dir);
    let max = j["max_rate"]
        .as_f64()
        .unwrap_or_else(|| panic!("{j:#}\n{stdout}"));
    assert!((85.0..=115.0).contains(&max), "max {max}\n{stdout}");
    assert_eq!(j["limit"], "server", "{stdout}");
    assert!(
        stdout.contains(&format!("max rate holding the SLO: {max:.0} req/s")),
        "{stdout}"
    );
    let steps = j["steps"].as_array().unwrap();
    assert!(steps.len() >= 3, "{j:#}");
    assert!(stdout.contains("step 01  50 req/s  achieved"), "{stdout}");
    for s in steps {
        let d = PathBuf::from(s["dir"].as_str().unwrap());
        assert!(d.join("summary.json").is_file(), "{}", d.display());
        assert!(
            s["p99_s"].is_number() && s["achieved_rps"].is_number(),
            "{s}"
        );
        assert_eq!(s["verdict"], "server-bound", "{s}");
    }
    assert!(dir.join("step-01-50").is_dir());
    let html = std::fs::read_to_string(dir.join("search.html")).unwrap();
    assert!(html.contains("Latency against rate") && html.contains("<svg"));
}

/// With barrage held to 5% of a CPU, the search reports the generator as the limit,
/// never a server capacity.
#[test]
fn search_under_a_quota_reports_the_generator() {
    let _timing = timing_lock();
    let quota = match Quota::new("search", 5) {
        Ok(q) => q,
        Err(why) => {
            eprintln!("SKIPPED search_under_a_quota_reports_the_generator: {why}");
            return;
        }
    };
    let server = Server::start(&[]);
    let dir = scratch("search-quota");
    let out = quota.barrage(&[
        "search",
        &server.url("/"),
        "--slo",
        "p99 < 50ms",
        "--from",
        "2000",
        "--step-duration",
        "1s",
        "-p",
        "1",
        "-t",
        "1",
        "-c",
        "16",
        "-o",
        p(&dir),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}{}", text(&out.stderr));
    let j = search_json(&dir);
    assert_eq!(j["limit"], "generator", "{j:#}\n{stdout}");
    assert!(j["max_rate"].is_null(), "{j:#}");
    assert!(
        stdout.contains("max rate holding the SLO: not found: the generator was the limit"),
        "{stdout}"
    );
}

/// Bad input is refused before any load, in one line that says what to do.
#[test]
fn search_refuses_bad_input() {
    let url = "http://127.0.0.1:9/";
    assert_refused(&["search", url, "--from", "10"], "needs at least one --slo");
    assert_refused(&["search", url, "--slo", "p99 50ms"], "has no comparison");
    assert_refused(&["search", url, "--slo", "p98 < 5ms"], "unknown metric");
    assert_refused(
        &[
            "search", url, "--slo", "p99 < 50ms", "--from", "200", "--to", "100",
        ],
        "--from 200 is above --to 100",
    );
    assert_refused(
        &["search", url, "--slo", "p99 < 50ms", "--from", "0"],
        "--from 0 is not a rate",
    );
    assert_refused(
        &["search", url, "--slo", "p99 < 50ms", "-R", "100"],
        "-R/--rate is set by barrage search",
    );
    assert_refused(
        &["search", url, "--slo", "p99 < 50ms", "--precision", "0%"],
        "invalid precision",
    );
}
