//! `barrage run --scenario` end to end (issue 13 part B): examples/shop.toml run by
//! the engine against `barrage serve`'s demo shop over real loopback sockets, its
//! results.csv rows compared with what the server counted and captured; `--dry-run`;
//! bad input through the binary.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop.toml")
}

/// A copy of examples/shop.toml (and users.csv) in `dir`, edited by `edit`.
fn edited(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::copy(src.join("users.csv"), dir.join("users.csv")).unwrap();
    let text = std::fs::read_to_string(src.join("shop.toml")).unwrap();
    let path = dir.join("shop.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// `shop: N logins, M checkouts` of the server's last words.
fn shop_counts(out: &str) -> (u64, u64) {
    let l = out
        .lines()
        .find_map(|l| l.strip_prefix("barrage serve: shop: "))
        .filter(|l| l.contains("logins"))
        .unwrap_or_else(|| panic!("no shop counts in {out:?}"));
    let n: Vec<u64> = l
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1])
}

/// Rows by (step, status, error) with `--columns step,error`.
fn by_step(rows: &[Row]) -> BTreeMap<(String, u16, String), u64> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry((r.extra[0].clone(), r.status, r.extra[1].clone()))
            .or_insert(0) += 1;
    }
    m
}

fn count(m: &BTreeMap<(String, u16, String), u64>, f: impl Fn(&str, u16, &str) -> bool) -> u64 {
    m.iter()
        .filter(|((s, st, e), _)| f(s, *st, e))
        .map(|(_, n)| n)
        .sum()
}

/// Runs the example against a fresh demo shop with `args`; returns the rows and
/// the shop's (logins, checkouts).
fn run_shop(name: &str, args: &[&str]) -> (Vec<Row>, (u64, u64), String) {
    let server = Server::start(&[]);
    let dir = scratch(name);
    let url = server.url("/");
    let scenario = example();
    let mut all = vec!["--scenario", p(&scenario), &url, "--columns", "step,error"];
    all.extend_from_slice(args);
    let (out, rows) = run_ok(&all, &dir.join("run"));
    let said = server.stop_output();
    (rows, shop_counts(&said), text(&out.stdout))
}

/// Closed loop: every checkout the server counted is a 2xx `buy.checkout` row and
/// the counts agree exactly; so do the logins; every step succeeded (the token and
/// item captures worked, the session cookie went back, or checkout would be 401/403).
#[test]
fn closed_loop_rows_are_what_the_shop_counted() {
    let (rows, (logins, checkouts), stdout) = run_shop(
        "scen-closed",
        &["-p", "1", "-t", "2", "-c", "6", "-d", "1500ms"],
    );
    let m = by_step(&rows);
    assert!(checkouts > 0, "{m:?}");
    let ok_checkouts = count(&m, |s, st, e| {
        s == "buy.checkout" && (200..300).contains(&st) && e.is_empty()
    });
    assert_eq!(ok_checkouts, checkouts, "{m:?}");
    assert_eq!(count(&m, |s, _, _| s == "buy.checkout"), checkouts, "{m:?}");
    let ok_logins = count(&m, |s, st, e| {
        s.ends_with(".login") && st == 200 && e.is_empty()
    });
    assert_eq!(ok_logins, logins, "{m:?}");
    assert_eq!(count(&m, |_, _, e| !e.is_empty()), 0, "{m:?}");
    assert!(stdout.contains("requests"), "{stdout}");
}

/// An iteration the end of the run cuts short (a user thinking, or between steps) is
/// counted as interrupted, apart from the failed ones and without a duration: every
/// iteration that logged in is counted once, as the shop counted its logins.
#[test]
fn iterations_cut_short_by_the_end_are_interrupted() {
    let server = Server::start(&[]);
    let dir = scratch("scen-interrupted");
    let url = server.url("/");
    // Without the browse scenario's 1 s pause after its last step, a user is always
    // in an iteration (its next starts as one ends), so the end of a 1 s run cuts
    // some short; with it, every user can be waiting out that pause by then.
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = edited(&dir, |t| {
        assert!(t.contains("think = \"1s\""), "examples/shop.toml changed");
        t.replace("think = \"1s\"", "")
    });
    let run = dir.join("run");
    let (out, _) = run_ok(
        &[
            "--scenario",
            p(&scenario),
            &url,
            "-p",
            "1",
            "-t",
            "2",
            "-c",
            "6",
            "-d",
            "1s",
        ],
        &run,
    );
    let (logins, _) = shop_counts(&server.stop_output());
    let stdout = text(&out.stdout);
    let summary = summary_json(&run);
    let it = &summary["iterations"];
    let n = |k: &str| it[k].as_u64().unwrap_or_else(|| panic!("{k}: {it}"));
    let failed: u64 = it["failed"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    // Closed loop: a user starts its next iteration as one ends, so nearly all six
    // are in one (buy's of them thinking 100-300 ms) when the second ends.
    assert!((1..=6).contains(&n("interrupted")), "{it}\n{stdout}");
    assert_eq!(
        n("count"),
        n("completed") + failed + n("interrupted"),
        "{it}"
    );
    assert_eq!(n("count"), logins, "every iteration logged in once\n{it}");
    assert!(
        stdout.contains(&format!(
            "interrupted by the end of the run: {}",
            n("interrupted")
        )),
        "{stdout}"
    );
}

/// Open loop (-R): the same exact agreement. A user holds its connection for its
/// whole iteration (think times included), so the schedule needs more connections
/// than -c: `--max-connections`.
#[test]
fn open_loop_rows_are_what_the_shop_counted() {
    let (rows, (logins, checkouts), _) = run_shop(
        "scen-open",
        &[
            "-p", "1", "-t", "2", "-c", "4", "--max-connections", "64", "-R", "40", "-d", "1s",
        ],
    );
    let m = by_step(&rows);
    assert!(checkouts > 0, "{m:?}");
    let ok = |s: &str, st: u16, e: &str| (200..300).contains(&st) && e.is_empty() && !s.is_empty();
    assert_eq!(
        count(&m, |s, st, e| s == "buy.checkout" && ok(s, st, e)),
        checkouts,
        "{m:?}"
    );
    assert_eq!(
        count(&m, |s, st, e| s.ends_with(".login") && ok(s, st, e)),
        logins,
        "{m:?}"
    );
    // 40/s for 1s: 40 iterations, each one login.
    assert_eq!(logins, 40, "{m:?}");
}

/// -n counts iterations: `-n 7` logs in exactly 7 times (every iteration's first step).
#[test]
fn requests_bound_counts_iterations() {
    let (rows, (logins, _), _) = run_shop("scen-n", &["-p", "1", "-t", "2", "-c", "3", "-n", "7"]);
    assert_eq!(logins, 7);
    let m = by_step(&rows);
    assert_eq!(count(&m, |s, _, _| s.ends_with(".login")), 7, "{m:?}");
}

/// The banner of a scenario run names the file and its scenarios on one line of at
/// most 80 columns (step names when they fit, else step counts), and counts virtual
/// users and iterations, not connections and requests.
#[test]
fn the_banner_names_the_scenarios_and_counts_iterations() {
    let dir = scratch("scen-banner");
    let one = dir.join("one.toml");
    std::fs::write(
        &one,
        "[[scenario]]\nname = \"look\"\n[[scenario.step]]\nname = \"home\"\npath = \"/\"\n\
         [[scenario.step]]\nname = \"about\"\npath = \"/about\"\n",
    )
    .unwrap();
    let server = Server::start(&[]);
    let url = server.url("/");
    let manifest = env!("CARGO_MANIFEST_DIR");
    let cases: [(&str, &str, &[&str], &str); 2] = [
        (
            manifest,
            "examples/shop.toml",
            &["-c", "3", "-n", "6"],
            "  scenario     examples/shop.toml: buy (3 steps) 75%, browse (2 steps) 25%\n\
             \x20 load         closed loop, -c 3 virtual users; 6 iterations\n",
        ),
        (
            p(&dir),
            "one.toml",
            &[
                "-c", "2", "--max-connections", "8", "-R", "20", "-d", "300ms",
            ],
            "  scenario     one.toml: look (home, about)\n\
             \x20 load         -R 20 iterations/s open loop, 2 virtual users, up to 8; 0.3s\n",
        ),
    ];
    for (i, (cwd, file, args, want)) in cases.into_iter().enumerate() {
        let run = dir.join(format!("run{i}"));
        let out = std::process::Command::new(bin())
            .current_dir(cwd)
            .args([
                "run",
                "--scenario",
                file,
                &url,
                "-p",
                "1",
                "-t",
                "1",
                "-o",
                p(&run),
            ])
            .args(args)
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
        assert!(stdout.contains(want), "want {want:?} in\n{stdout}");
        assert!(stdout.lines().all(|l| l.chars().count() <= 80), "{stdout}");
    }
    drop(server);
}

/// The users whose logins `capture` holds after its first `from` bytes, in order,
/// and the capture's length.
fn logged_in(capture: &Path, from: usize) -> (Vec<String>, usize) {
    let all = std::fs::read(capture).unwrap();
    let sent = String::from_utf8_lossy(&all[from..]).into_owned();
    let users = sent
        .split("POST /login ")
        .skip(1)
        .map(|r| {
            let body = r
                .split("\r\n\r\n")
                .nth(1)
                .unwrap_or_else(|| panic!("{r:?}"));
            body.strip_prefix("user=")
                .unwrap()
                .split('&')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    (users, all.len())
}

/// Sequential data: one loop uses the rows in turn; two `--shard` halves (one loop
/// each) take disjoint rows (every other one). The session cookie set at login is
/// sent back on the next requests.
#[test]
fn sequential_rows_in_turn_and_disjoint_shards_and_cookies_sent_back() {
    let dir = scratch("scen-rows");
    let capture = dir.join("sent.bin");
    let server = Server::start(&["--capture", p(&capture)]);
    let url = server.url("/");
    let scenario = example();
    let base = ["--scenario", p(&scenario), &url, "-p", "1", "-t", "1"];
    run_ok(
        &[&base[..], &["-c", "1", "-n", "5"]].concat(),
        &dir.join("one"),
    );
    let (users, mut seen) = logged_in(&capture, 0);
    assert_eq!(users, ["alice", "bob", "carol", "dave", "erin"]);
    let sent = String::from_utf8_lossy(&std::fs::read(&capture).unwrap()).into_owned();
    for req in sent.split("GET /items").skip(1) {
        let head = req.split("\r\n\r\n").next().unwrap();
        assert!(head.contains("\r\nCookie: sid="), "{head}");
    }
    let mut halves = Vec::new();
    for shard in ["0/2", "1/2"] {
        let at = format!("{:.3}", common_now() + 0.3);
        let args = [
            &base[..],
            &["-c", "2", "-n", "6", "--shard", shard, "--start-at", &at],
        ]
        .concat();
        run_ok(&args, &dir.join(shard.replace('/', "-")));
        let (users, len) = logged_in(&capture, seen);
        halves.push(users);
        seen = len;
    }
    assert_eq!(halves[0], ["alice", "carol", "erin"], "{halves:?}");
    assert_eq!(halves[1], ["bob", "dave", "frank"], "{halves:?}");
    drop(server);
}

fn common_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A capture that finds nothing fails its step as `capture failed` (status kept in
/// `partial_status`-free results.csv as 0, the kind in `error`) and ends the
/// iteration: nothing after login is sent.
#[test]
fn a_failed_capture_ends_the_iteration() {
    let dir = scratch("scen-capture");
    let file = edited(&dir, |t| {
        t.replace(r#"json = "/token""#, r#"json = "/tokn""#)
    });
    let server = Server::start(&[]);
    let url = server.url("/");
    let out = run_in(
        &[
            "--scenario",
            p(&file),
            &url,
            "-p",
            "1",
            "-t",
            "1",
            "-c",
            "2",
            "-n",
            "6",
            "--columns",
            "step,error",
        ],
        &dir.join("run"),
    );
    let rows = read_csv(&dir.join("run/results.csv"));
    let said = server.stop_output();
    assert_eq!(shop_counts(&said), (6, 0), "{said}");
    assert_eq!(rows.len(), 6, "{}", text(&out.stderr));
    for r in &rows {
        assert!(r.extra[0].ends_with(".login"), "{r:?}");
        assert_eq!(r.extra[1], "capture failed", "{r:?}");
    }
    // Every iteration failed at its login, as "capture failed".
    let summary = summary_json(&dir.join("run"));
    let failed = summary["iterations"]["failed"].as_object().unwrap();
    assert!(
        failed.keys().all(|k| k.ends_with(".login: capture failed")),
        "{failed:?}"
    );
    let n: u64 = failed.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(n, 6, "{failed:?}");
    assert_eq!(summary["iterations"]["completed"].as_u64(), Some(0));
}

/// `--dry-run` prints every scenario's first iteration (data row 1, user 1), sends
/// nothing, exits 0.
#[test]
fn dry_run_prints_the_first_iteration() {
    let scenario = example();
    let out = barrage(&[
        "run",
        "--scenario",
        p(&scenario),
        "http://127.0.0.1:9/",
        "--dry-run",
    ]);
    let stdout = assert_ok(&out);
    assert!(
        stdout.contains("POST /login HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("user=alice&password=alice-secret"),
        "{stdout}"
    );
    assert!(stdout.contains("# buy.checkout"), "{stdout}");
    assert!(stdout.contains("# browse.items"), "{stdout}");
    assert!(stdout.contains("GET /items?token= HTTP/1.1"), "{stdout}");
}

/// Bad input: one line naming the file (and place) and the fix, exit 1, before any
/// load.
#[test]
fn bad_scenario_input_is_one_line() {
    let dir = scratch("scen-bad");
    let missing = dir.join("nope.toml");
    let e = assert_refused(
        &["run", "--scenario", p(&missing)],
        "cannot read scenario file",
    );
    assert!(e.contains("no such file"), "{e}");
    let syntax = edited(&dir, |t| t.replace("weight = 3", "weight = = 3"));
    let e = assert_refused(&["run", "--scenario", p(&syntax)], "shop.toml:");
    assert!(e.contains(":16:") || e.contains(":17:"), "{e}");
    let unknown = edited(&dir, |t| t.replace("{{item}}", "{{itme}}"));
    assert_refused(
        &["run", "--scenario", p(&unknown)],
        "unknown template name {{itme}}",
    );
    let file = example();
    assert_refused(
        &["run", "--scenario", p(&file), "-m", "POST"],
        "-m/--method does not apply with --scenario",
    );
    assert_refused(
        &[
            "run",
            "--scenario",
            p(&file),
            "-p",
            "1",
            "-t",
            "30",
            "-c",
            "30",
        ],
        "the data file has 20 rows but the test runs 30 worker loops",
    );
    assert_refused(&["run", "http://127.0.0.1:9/", "--dry-run"], "--scenario");
}

/// Bad input through the binary (issue 13's list): each case one line on stderr
/// naming the file, line and column of the problem and how to fix it, exit 1, and no
/// run directory (refused before any process forks).
#[test]
fn bad_scenario_files_name_file_line_and_column() {
    let dir = scratch("scen-bad-table");
    // (case, text replaced in examples/shop.toml, by, users.csv's new text, the
    // error after "barrage: error: ", with FILE for shop.toml and DATA for users.csv)
    let cases: [(&str, &str, &str, Option<&str>, &str); 7] = [
        (
            "pointer",
            r#"json = "/token""#,
            r#"json = "token""#,
            None,
            "FILE:26:30: invalid JSON Pointer \"token\": it must start with /",
        ),
        (
            "regex",
            r#"regex = '"id":\s*(\d+)'"#,
            r#"regex = '"id":\s*(\d+'"#,
            None,
            "FILE:31:30: invalid regex \"\\\"id\\\":\\\\s*(\\\\d+\": unclosed group: correct the pattern",
        ),
        (
            "empty-data",
            "",
            "",
            Some(""),
            "DATA:1:1: the data file is empty: its first line names the columns",
        ),
        (
            "weight",
            "weight = 3",
            "weight = 0",
            None,
            "FILE:17:10: weight 0 must be a whole number from 1 to 10000",
        ),
        (
            "unknown-key",
            "path = \"/checkout\"",
            "pathh = \"/checkout\"",
            None,
            "FILE:37:1: unknown field `pathh`, expected one of `name`, `method`, `path`,",
        ),
        (
            "unknown-scenario-key",
            "weight = 3",
            "weight = 3\ncookie = false",
            None,
            "FILE:18:1: unknown field `cookie`, expected one of `name`, `weight`, `cookies`, `step`",
        ),
        (
            "origin",
            "path = \"/checkout\"",
            "path = \"http://127.0.0.1:9/checkout\"",
            None,
            "FILE:37:8: http://127.0.0.1:9 is not the file's origin (http://127.0.0.1:8080): one scenario file talks to one origin; write the path alone (\"/checkout\")",
        ),
    ];
    for (case, from, to, csv, want) in cases {
        let here = dir.join(case);
        std::fs::create_dir_all(&here).unwrap();
        let file = edited(&here, |t| {
            assert!(t.contains(from), "{case}: no {from:?} in shop.toml");
            t.replacen(from, to, 1)
        });
        if let Some(csv) = csv {
            std::fs::write(here.join("users.csv"), csv).unwrap();
        }
        let want = want
            .replace("FILE", p(&file))
            .replace("DATA", p(&here.join("users.csv")));
        let run = here.join("run");
        let err = assert_refused(
            &[
                "run",
                "--scenario",
                p(&file),
                "-c",
                "4",
                "-n",
                "4",
                "-o",
                p(&run),
            ],
            &format!("barrage: error: {want}"),
        );
        assert!(err.starts_with("barrage: error: "), "{case}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{case}: {err}");
        assert!(!run.exists(), "{case}: a run directory was made");
    }
}

/// Open loop with a server stall of 1 s: the later steps (items, checkout) whose
/// requests met the stall show it in their latencies, counted from their intended
/// start (the previous step's end plus its think time), and every step still gets
/// a row.
#[test]
fn open_loop_stall_shows_in_later_steps() {
    let dir = scratch("scen-stall");
    // Only the shopper: a checkout follows every items step by 100-300 ms, so
    // checkouts are sent while the server stalls.
    let scenario = edited(&dir, |t| {
        t.split("[[scenario]]\nname = \"browse\"")
            .next()
            .unwrap()
            .to_string()
    });
    let server = Server::start(&["--stall", "600ms:1s"]);
    let url = server.url("/");
    let (_, rows) = run_ok(
        &[
            "--scenario",
            p(&scenario),
            &url,
            "-p",
            "1",
            "-t",
            "1",
            "-c",
            "4",
            "--max-connections",
            "200",
            "-R",
            "20",
            "-d",
            "2s",
            "--columns",
            "step,error",
        ],
        &dir.join("run"),
    );
    server.stop_output();
    let later: Vec<&Row> = rows
        .iter()
        .filter(|r| !r.extra[0].ends_with(".login"))
        .collect();
    let stalled = later.iter().filter(|r| r.response_time >= 0.5).count();
    assert!(stalled > 0, "no later step shows the stall: {later:?}");
    assert!(rows.iter().all(|r| r.extra[1].is_empty()), "{rows:?}");
}

/// Iterations are recorded (one record each, no results.csv row), and the report
/// has the per-step table and the iterations: in summary.json, in the terminal
/// summary (80 columns), in report.html (each step named with its count), and after `barrage merge`, which names the steps from the
/// run directory. `--fail-if` can name a step.
#[test]
fn steps_and_iterations_are_reported_and_thresholds_name_steps() {
    let server = Server::start(&[]);
    let dir = scratch("scen-report");
    let url = server.url("/");
    let scenario = example();
    let run = dir.join("run");
    let out = run_in(
        &[
            "--scenario",
            p(&scenario),
            &url,
            "-p",
            "1",
            "-t",
            "1",
            "-c",
            "3",
            "-n",
            "9",
            "--fail-if",
            "checkout.p99 > 1us",
            "--fail-if",
            "checkout.errors > 1%",
        ],
        &run,
    );
    server.stop_output();
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    assert!(
        stderr.contains("threshold failed: checkout.p99 > 1us"),
        "{stderr}"
    );
    assert!(!stderr.contains("checkout.errors > 1%"), "{stderr}");
    assert!(stdout.contains("  steps "), "{stdout}");
    assert!(stdout.contains("iterations 9 completed of 9"), "{stdout}");
    assert!(stdout.lines().all(|l| l.chars().count() <= 80), "{stdout}");
    let rows = read_csv(&run.join("results.csv"));
    let summary = summary_json(&run);
    let steps = summary["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "buy.login", "buy.items", "buy.checkout", "browse.login", "browse.items"
        ]
    );
    let counted: u64 = steps.iter().map(|s| s["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, rows.len() as u64);
    assert_eq!(
        summary["requests"]["total"].as_u64(),
        Some(rows.len() as u64)
    );
    assert_eq!(summary["iterations"]["count"].as_u64(), Some(9));
    assert_eq!(summary["iterations"]["completed"].as_u64(), Some(9));
    assert!(summary["iterations"]["duration_s"]["max"].as_f64().unwrap() > 0.0);
    // Logins are every iteration's first step.
    let logins = steps[0]["count"].as_u64().unwrap() + steps[3]["count"].as_u64().unwrap();
    assert_eq!(logins, 9);
    // report.html: the same per-step table, each step named with its count, and
    // the iterations.
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("<h2>Steps</h2>"), "{html}");
    for st in steps {
        let row = format!(
            "<tr><td>{}</td><td>{}</td><td>0</td>",
            st["name"].as_str().unwrap(),
            st["count"].as_u64().unwrap()
        );
        assert!(html.contains(&row), "no {row} in report.html");
    }
    assert!(
        html.contains("<tr><td>iterations</td><td>9</td><td>9</td><td>0</td>"),
        "no iterations row in report.html"
    );
    let merged = dir.join("merged.csv");
    let m = assert_ok(&barrage(&[
        "merge",
        p(&run),
        "-o",
        p(&merged),
        "--columns",
        "step",
    ]));
    assert!(m.contains("iterations 9 completed of 9"), "{m}");
    let rows = read_csv(&merged);
    assert_eq!(rows.len() as u64, counted);
    assert!(
        rows.iter().all(|r| names.contains(&r.extra[0].as_str())),
        "{rows:?}"
    );
}
