//! `barrage report` end to end: the interval series of a hand-made results.csv with
//! known answers, both results.csv formats, bad input, summary.json against its
//! schema, thresholds, --compare, and a report from a real short run against
//! `barrage serve` (the one `barrage run` writes, and `barrage report` on its
//! directory and on its results.csv).

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// The seed tool's format: `%.3f,%.3f,%i`, no header, rows in completion order.
/// Interval 0 holds 3 requests, 1 holds 2 (one failed: status 0), 2 holds none, 3
/// holds 2 (a 404 is a response, not a failure).
const HAND_MADE: &str = "\
0.100,0.010,200
0.500,0.030,200
0.900,0.020,200
1.200,0.040,200
1.800,0.060,0
3.100,0.100,200
3.500,0.200,404
";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Within HdrHistogram's precision (0.1%) of `want`.
fn near(got: f64, want: f64) -> bool {
    (got - want).abs() <= want * 0.001 + 1e-9
}

#[test]
fn interval_series_of_a_hand_made_csv() {
    let dir = scratch("report-hand");
    let csv = write(&dir, "results.csv", HAND_MADE);
    assert_ok(&barrage(&["report", &csv]));

    let text = std::fs::read_to_string(dir.join("intervals.csv")).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0].join(","),
        "index,start_s,end_s,count,rps,mean_s,errors,min_s,p50_s,p90_s,p99_s,max_s,stdev_s,partial"
    );
    assert_eq!(rows.len(), 5, "{text}");
    // index, start, end, count, rps, mean, errors, min, max (exact columns).
    let want = [
        [
            "0", "0.000000", "1.000000", "3", "3.000", "0.020000000", "0", "0.010000000",
            "0.030000000",
        ],
        [
            "1", "1.000000", "2.000000", "2", "2.000", "0.040000000", "1", "0.040000000",
            "0.040000000",
        ],
        ["2", "2.000000", "3.000000", "0", "0.000", "", "0", "", ""],
        // The last interval, cut short by the end (3.5 s): partial, no latency.
        ["3", "3.000000", "3.500000", "2", "2.000", "", "0", "", ""],
    ];
    for (row, w) in rows[1..].iter().zip(want) {
        let got = [
            row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[11],
        ];
        assert_eq!(got, w, "{}", row.join(","));
    }
    // The empty interval: zeros and empty latency fields, no crash, no NaN.
    assert_eq!(rows[3][7..].join(","), ",,,,,,0");
    let partial: Vec<&str> = rows[1..].iter().map(|r| r[13]).collect();
    assert_eq!(partial, ["0", "0", "0", "1"]);
    // Percentiles within HdrHistogram's precision.
    let p = |r: usize, c: usize| rows[r][c].parse::<f64>().unwrap();
    assert!(near(p(1, 8), 0.020), "p50 of 10,20,30 ms: {}", p(1, 8));
    assert!(near(p(1, 9), 0.030) && near(p(1, 10), 0.030));

    let s = json(&dir.join("summary.json"));
    assert_eq!(s["requests"]["total"], 7);
    assert_eq!(s["requests"]["errors"], 1);
    assert_eq!(s["status"]["200"], 5);
    assert_eq!(s["status"]["404"], 1);
    assert_eq!(s["errors_by_kind"]["failed (status 0)"], 1);
    assert!(near(f(&s["requests"]["rps"]), 2.0), "7 requests in 3.5 s");
    assert!(near(f(&s["latency_s"]["mean"]), 0.4 / 6.0));
    assert_eq!(f(&s["latency_s"]["min"]), 0.010);
    assert_eq!(f(&s["latency_s"]["max"]), 0.200);
    assert_eq!(s["intervals"][2]["latency_s"], Value::Null);
    assert_eq!(s["intervals"][2]["count"], 0);
    assert_eq!(s["intervals"][3]["partial"], true);
    assert_eq!(s["intervals"][3]["latency_s"], Value::Null);
    assert_eq!(s["intervals"][3]["count"], 2);
    assert_eq!(s["latency_mode"], "recorded");
}

/// Issue 12, item 9: the last interval holds only the requests in flight when the
/// load stopped (here 4 ms of slow ones). It keeps its count but is no point of the
/// percentiles chart and has no percentiles in intervals.csv; the throughput chart
/// marks it instead of drawing a drop.
#[test]
fn the_partial_last_interval_is_marked_not_plotted() {
    let dir = scratch("report-partial");
    let mut csv = String::new();
    for i in 0..300 {
        csv += &format!("{:.3},0.010,200\n", 0.005 + i as f64 * 0.01);
    }
    csv += "3.001,0.900,200\n3.004,0.950,200\n";
    let csv = write(&dir, "results.csv", &csv);
    assert_ok(&barrage(&["report", &csv]));

    let text = std::fs::read_to_string(dir.join("intervals.csv")).unwrap();
    let last = text.lines().last().unwrap();
    assert_eq!(last, "3,3.000000,3.004000,2,2.000,,0,,,,,,,1");
    assert_eq!(text.lines().count(), 5, "{text}");
    let s = json(&dir.join("summary.json"));
    validate(&schema(), &s, "summary.json with a partial interval");
    assert_eq!(s["intervals"][3]["partial"], true);
    assert_eq!(s["intervals"][2]["partial"], false);
    // Its requests are still in every whole-run number.
    assert_eq!(s["requests"]["total"], 302);
    assert_eq!(f(&s["latency_s"]["max"]), 0.95);

    // Percentiles over time: one point per series for each whole interval only (5
    // series x 3), on an axis the 0.9 s stragglers do not stretch.
    let lat = std::fs::read_to_string(dir.join("charts/latency-over-time.svg")).unwrap();
    assert_eq!(lat.matches("<circle").count(), 15, "{lat}");
    assert!(lat.contains("partial interval (4.00ms"), "subtitle says so");
    assert!(
        !lat.contains("log scale"),
        "no 0.9 s outlier to make room for"
    );
    let tp = std::fs::read_to_string(dir.join("charts/throughput.svg")).unwrap();
    assert_eq!(
        tp.matches(r#"class="partial""#).count(),
        2,
        "dashed step and band"
    );
    assert!(tp.contains("last interval partial (4.00ms)"), "legend");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("partial: the run ended 4.00ms into it"));
}

/// Issue 12, item 9: the percentile spectrum's latency axis is logarithmic, so one
/// 466 ms outlier among ~1 ms responses does not press the curve flat.
#[test]
fn the_percentile_spectrum_has_a_log_latency_axis() {
    let dir = scratch("report-spectrum");
    let mut csv = String::new();
    for i in 0..10_000u32 {
        let lat = if i == 5000 {
            0.466
        } else {
            0.0008 + f64::from(i % 100) * 0.00002
        };
        csv += &format!("{:.6},{lat:.6},200\n", f64::from(i) * 0.0003 + lat);
    }
    let csv = write(&dir, "results.csv", &csv);
    assert_ok(&barrage(&["report", &csv]));
    let svg = std::fs::read_to_string(dir.join("charts/percentile-spectrum.svg")).unwrap();
    assert!(svg.contains("response time (ms), log scale"), "{svg}");
    // Decade ticks from below the fastest (0.8 ms) to above the outlier.
    for tick in [">1</text>", ">10</text>", ">100</text>"] {
        assert!(svg.contains(tick), "{tick} in {svg}");
    }
    // The median (~1.8 ms) sits well up the plot, not on the axis: its height is
    // log(1.8/0.5) / log(500/0.5) of the way up, about a fifth (on a linear axis to
    // 500 ms it was 0.4%). The curve's x is log10(1/(1-q)) over 4 nines.
    let d = svg
        .split("<path d=\"")
        .last()
        .and_then(|p| p.split('"').next())
        .unwrap();
    let points: Vec<(f64, f64)> = d
        .split(['M', 'L'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (x, y) = p.split_once(' ').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect();
    let (left, right, bottom, top) = (76.0, 936.0, 350.0, 62.0);
    let x50 = left + 2f64.log10() / 4.0 * (right - left);
    let (_, median_y) = points
        .iter()
        .min_by(|a, b| (a.0 - x50).abs().total_cmp(&(b.0 - x50).abs()))
        .unwrap();
    let height = (bottom - median_y) / (bottom - top);
    assert!(height > 0.12, "median {height} of the way up: {d}");
}

#[test]
fn a_header_line_and_extra_columns_give_the_same_series() {
    let dir = scratch("report-header");
    let mut with_header = String::from("elapsed,response_time,status,bytes,error\n");
    for l in HAND_MADE.lines() {
        let status = l.rsplit(',').next().unwrap();
        let err = if status == "0" { "timeout" } else { "" };
        with_header.push_str(&format!("{l},100,{err}\n"));
    }
    let csv = write(&dir, "results.csv", &with_header);
    assert_ok(&barrage(&["report", &csv, "-o", p(&dir.join("h"))]));
    let plain = scratch("report-header-plain");
    let seed = write(&plain, "results.csv", HAND_MADE);
    assert_ok(&barrage(&["report", &seed]));
    let a = std::fs::read_to_string(dir.join("h/intervals.csv")).unwrap();
    let b = std::fs::read_to_string(plain.join("intervals.csv")).unwrap();
    assert_eq!(a, b);
    let s = json(&dir.join("h/summary.json"));
    assert_eq!(
        s["errors_by_kind"]["timeout"], 1,
        "named by the error column"
    );
    assert_eq!(s["requests"]["bytes"], 700);
}

#[test]
fn bad_input_is_a_clear_error_or_a_counted_skip() {
    let dir = scratch("report-bad");
    let cases = [
        ("empty.csv", "", "is empty"),
        ("cut.csv", "0.1,0.1,200\n0.2,0.1", "cut.csv:2: 2 fields"),
        (
            "nan.csv",
            "0.1,0.1,200\n0.2,0.1,200\n0.3,fast,200\n",
            "nan.csv:3: response time \"fast\" is not a number",
        ),
    ];
    for (name, body, want) in cases {
        let csv = write(&dir, name, body);
        let out = barrage(&["report", &csv, "-o", p(&dir.join("out"))]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(want), "{name}: expected {want:?} in {err:?}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // Unreadable: mode 000, or (root reads those) a file whose read fails.
    let locked = dir.join("locked.csv");
    std::fs::write(&locked, "0.1,0.1,200\n").unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let unreadable = if std::fs::read(&locked).is_err() {
        locked.to_str().unwrap().to_string()
    } else {
        "/proc/self/mem".to_string()
    };
    let out = barrage(&["report", &unreadable, "-o", p(&dir.join("out"))]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot ") && err.contains(&unreadable),
        "{err}"
    );
    // A directory that is not a run.
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let out = barrage(&["report", p(&dir.join("out"))]);
    assert!(
        text(&out.stderr).contains("no sample files"),
        "{}",
        text(&out.stderr)
    );
    let out = barrage(&["report", "/nonexistent/results.csv"]);
    assert!(text(&out.stderr).contains("/nonexistent/results.csv"));

    // --skip-bad-lines: counted, reported, the rest used.
    let csv = write(
        &dir,
        "mixed.csv",
        "0.1,0.1,200\ngarbage\n0.2,0.1,200\n0.3,x,200\n0.4,0.1,200\n",
    );
    let out = barrage(&["report", &csv, "--skip-bad-lines", "-o", p(&dir.join("m"))]);
    assert_ok(&out);
    assert!(
        text(&out.stderr).contains("skipped 2 bad lines"),
        "{}",
        text(&out.stderr)
    );
    let s = json(&dir.join("m/summary.json"));
    assert_eq!(s["requests"]["total"], 3);
    assert_eq!(s["source"]["skipped_lines"], 2);
}

#[test]
fn thresholds_pass_and_fail_with_exit_code_4() {
    let dir = scratch("report-thresholds");
    let csv = write(&dir, "results.csv", HAND_MADE);
    // p99 is 200 ms, 1 of 7 requests failed (14.3%), 2 requests/s.
    let out = barrage(&[
        "report", &csv, "--fail-if", "p99 > 1s", "--fail-if", "errors > 20%", "--fail-if",
        "rps < 1",
    ]);
    let stdout = assert_ok(&out);
    assert!(stdout.contains("thresholds   3 of 3 passed"), "{stdout}");

    let out = barrage(&[
        "report", &csv, "--fail-if", "p99 > 50ms", "--fail-if", "errors > 0.1%", "--fail-if",
        "rps < 10000", "--fail-if", "max < 1s",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    let failed: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("threshold failed"))
        .collect();
    assert_eq!(failed.len(), 4, "{err}");
    assert!(
        err.contains("threshold failed: p99 > 50ms (p99 = 200.00ms)"),
        "{err}"
    );
    assert!(
        err.contains("threshold failed: errors > 0.1% (errors = 14.2857%)"),
        "{err}"
    );
    assert!(
        err.contains("threshold failed: rps < 10000 (rps = 2.0)"),
        "{err}"
    );

    // A malformed threshold is a bad command line (clap's code 2), not a failure.
    let out = barrage(&["report", &csv, "--fail-if", "p99 > 50"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("needs a unit"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn compare_prints_both_runs_and_the_change() {
    let dir = scratch("report-compare");
    let a = write(&dir, "a.csv", HAND_MADE);
    // B: every response time doubled.
    let doubled: String = HAND_MADE
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let rt: f64 = f[1].parse().unwrap();
            format!("{},{:.3},{}\n", f[0], rt * 2.0, f[2])
        })
        .collect();
    let b = write(&dir, "b.csv", &doubled);
    let out = barrage(&["report", "--compare", &a, &b]);
    let stdout = assert_ok(&out);
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} line in {stdout}"))
            .to_string()
    };
    assert!(
        line("p99").contains("+100.0%") && line("p99").contains("worse"),
        "{stdout}"
    );
    assert!(line("mean").contains("+100.0%"), "{stdout}");
    assert!(
        line("rps").contains("+0.0%")
            && !line("rps").contains("better")
            && !line("rps").contains("worse"),
        "same rps: {stdout}"
    );
    assert!(stdout.contains("p99.9"), "{stdout}");
    // Compare writes no files, and --fail-if applies to B.
    assert!(!dir.join("summary.json").exists());
    let out = barrage(&["report", "--compare", &a, &b, "--fail-if", "p99 > 300ms"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
}

/// Issue 12, item 9: comparing two open-loop runs of different lengths and rates
/// compares rates and latencies, not request counts, and does not call the higher
/// rate better: the user set it.
#[test]
fn compare_of_open_loop_runs_of_different_lengths() {
    let _t = timing_lock();
    let dir = scratch("report-compare-open");
    let server = Server::start(&[]);
    let url = server.url("/");
    let (a, b) = (dir.join("a"), dir.join("b"));
    run_ok(&[&url, "-p", "1", "-t", "1", "-R", "200", "-d", "1s"], &a);
    run_ok(&[&url, "-p", "1", "-t", "1", "-R", "400", "-d", "2s"], &b);
    server.stop();
    let stdout = assert_ok(&barrage(&["report", "--compare", p(&a), p(&b)]));
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} line in {stdout}"))
            .to_string()
    };
    // 200 and 800 requests: shown, not compared.
    let requests = line("requests");
    assert!(
        requests.contains("200") && requests.contains("800") && !requests.contains('%'),
        "{stdout}"
    );
    assert!(!line("errors").contains('%'), "{stdout}");
    let rps = line("rps");
    assert!(
        rps.contains("rate set by -R") && !rps.contains("better") && !rps.contains("worse"),
        "{stdout}"
    );
    assert_eq!(line("load").matches("open (-R)").count(), 2, "{stdout}");
    assert!(stdout.contains("runs of different lengths"), "{stdout}");
    // The same from the runs' summary.json files.
    let again = assert_ok(&barrage(&[
        "report",
        "--compare",
        p(&a.join("summary.json")),
        p(&b.join("summary.json")),
    ]));
    assert!(again.contains("rate set by -R"), "{again}");
}

/// A report from a real short run: `barrage run` writes it in the pass that writes
/// results.csv; `barrage report` on the directory and on results.csv agree with it.
#[test]
fn report_of_a_real_run() {
    let _t = timing_lock();
    let dir = scratch("report-run");
    let server = Server::start(&[]);
    let url = server.url("/");
    let (out, rows) = run_ok(
        &[
            &url, "-p", "2", "-t", "1", "-c", "4", "-d", "1500ms", "--fail-if", "errors > 0",
            "--fail-if", "p99 > 5s",
        ],
        &dir,
    );
    let (served, _) = server.stop();
    let stdout = text(&out.stdout);
    for want in [
        "requests     ", "p99.9", "thresholds   2 of 2 passed", "report.html",
    ] {
        assert!(stdout.contains(want), "{want:?} in {stdout}");
    }
    assert_eq!(rows.len() as u64, served);
    for f in [
        "report.html", "summary.json", "intervals.csv", "latency.hlog", "latency.hgrm",
        "charts/scatter.svg", "charts/throughput.svg", "charts/latency-over-time.svg",
        "charts/latency-histogram.svg", "charts/percentile-spectrum.svg",
    ] {
        let meta = std::fs::metadata(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(meta.len() > 100, "{f} is nearly empty");
    }
    let s = json(&dir.join("summary.json"));
    validate(&schema(), &s, "summary.json");
    assert_eq!(s["requests"]["total"], served);
    assert_eq!(s["status"]["200"], served);
    assert_eq!(s["source"]["kind"], "samples");
    let counts: u64 = s["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counts, served, "every request in exactly one interval");
    let max = f(&s["latency_s"]["max"]);
    let worst = rows.iter().map(|r| r.response_time).fold(0.0, f64::max);
    assert!(
        (max - worst).abs() < 1e-6,
        "max {max} vs results.csv {worst}"
    );

    // The .hlog reads back with the hdrhistogram crate: every success, once.
    let hlog = std::fs::read(dir.join("latency.hlog")).unwrap();
    let mut total = 0u64;
    let mut de = hdrhistogram::serialization::Deserializer::new();
    for e in hdrhistogram::serialization::interval_log::IntervalLogIterator::new(&hlog) {
        if let hdrhistogram::serialization::interval_log::LogEntry::Interval(i) = e.unwrap() {
            let bytes = base64_decode(i.encoded_histogram());
            let h: hdrhistogram::Histogram<u64> = de.deserialize(&mut &bytes[..]).unwrap();
            total += h.len();
        }
    }
    assert_eq!(total, served);
    let hgrm = std::fs::read_to_string(dir.join("latency.hgrm")).unwrap();
    assert!(hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
    assert!(
        hgrm.contains(&format!("Total count    = {served:>12}]")),
        "{hgrm}"
    );

    // report.html stands alone: no script, nothing fetched.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(!html.contains("<script"), "no script");
    for attr in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(
            !html.contains(attr),
            "report.html fetches something: {attr}"
        );
    }
    assert!(html.contains("Throughput") && html.contains("data:image/png;base64,"));

    // `barrage report` on the run directory, with another interval, and on its csv.
    let again = dir.join("again");
    assert_ok(&barrage(&[
        "report",
        p(&dir),
        "--interval",
        "250ms",
        "-o",
        p(&again),
    ]));
    let s2 = json(&again.join("summary.json"));
    assert_eq!(s2["requests"], s["requests"]);
    assert_eq!(s2["latency_s"], s["latency_s"]);
    assert_eq!(f(&s2["interval_s"]), 0.25);
    let fromcsv = dir.join("fromcsv");
    assert_ok(&barrage(&[
        "report",
        p(&dir.join("results.csv")),
        "-o",
        p(&fromcsv),
    ]));
    let s3 = json(&fromcsv.join("summary.json"));
    validate(&schema(), &s3, "summary.json from results.csv");
    assert_eq!(s3["requests"]["total"], served);
    // results.csv keeps 6 decimals (1 us): percentiles agree to that and 0.1%.
    let (a, b) = (f(&s["latency_s"]["p99"]), f(&s3["latency_s"]["p99"]));
    assert!((a - b).abs() <= a * 0.002 + 1e-6, "p99 {a} vs {b}");
}

/// An open-loop run: its summary says how far requests started behind schedule.
#[test]
fn open_loop_run_reports_its_schedule() {
    let _t = timing_lock();
    let dir = scratch("report-open-loop");
    let server = Server::start(&[]);
    let url = server.url("/");
    let (out, _) = run_ok(
        &[
            &url, "-p", "1", "-t", "1", "-c", "4", "-R", "400", "-d", "1s",
        ],
        &dir,
    );
    server.stop();
    let stdout = text(&out.stdout);
    assert!(stdout.contains("behind schedule"), "{stdout}");
    let s = json(&dir.join("summary.json"));
    validate(&schema(), &s, "summary.json of an open-loop run");
    assert_eq!(s["schedule"]["scheduled"], s["requests"]["total"]);
    assert_eq!(s["latency_mode"], "corrected");
}

#[test]
fn summary_json_schema_rejects_what_it_should() {
    let dir = scratch("report-schema");
    let csv = write(&dir, "results.csv", HAND_MADE);
    assert_ok(&barrage(&["report", &csv]));
    let schema = schema();
    let good = json(&dir.join("summary.json"));
    validate(&schema, &good, "summary.json");
    // The validator is not a rubber stamp.
    let mut bad = good.clone();
    bad["requests"].as_object_mut().unwrap().remove("rps");
    assert!(check(&schema, &schema, &bad, "$").is_err(), "missing field");
    let mut bad = good.clone();
    bad["requests"]["total"] = Value::from("7");
    assert!(check(&schema, &schema, &bad, "$").is_err(), "wrong type");
    let mut bad = good.clone();
    bad["status"]["abc"] = Value::from(1);
    assert!(
        check(&schema, &schema, &bad, "$").is_err(),
        "bad status key"
    );
    let mut bad = good;
    bad["surprise"] = Value::from(1);
    assert!(check(&schema, &schema, &bad, "$").is_err(), "unknown field");
}

// ---------------------------------------------------------------------------------
// A JSON Schema validator for the subset docs/summary.schema.json uses (type, const,
// enum, required, properties, additionalProperties, propertyNames, items, minimum,
// maximum, exclusiveMinimum, oneOf, $ref into $defs). Any other keyword fails the
// test, so the schema cannot silently use something unchecked. (The `jsonschema`
// crate would do this too, at the cost of ~40 more crates to build in CI.)

fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/summary.schema.json");
    json(&path)
}

fn validate(root: &Value, v: &Value, what: &str) {
    if let Err(e) = check(root, root, v, "$") {
        panic!("{what} does not match docs/summary.schema.json: {e}");
    }
}

fn check(root: &Value, s: &Value, v: &Value, at: &str) -> Result<(), String> {
    let obj = s
        .as_object()
        .ok_or(format!("{at}: schema is not an object"))?;
    for (k, want) in obj {
        match k.as_str() {
            "$schema" | "$id" | "title" | "description" | "$defs" => {}
            "$ref" => {
                let name = want
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .ok_or(format!("{at}: unsupported $ref {want}"))?;
                check(root, &root["$defs"][name], v, at)?;
            }
            "type" => {
                let types: Vec<&str> = match want {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => return Err(format!("{at}: bad type keyword")),
                };
                if !types.iter().any(|t| is_type(v, t)) {
                    return Err(format!("{at}: {v} is not {types:?}"));
                }
            }
            "const" if v != want => return Err(format!("{at}: {v} is not {want}")),
            "const" => {}
            "enum" => {
                if !want.as_array().unwrap().contains(v) {
                    return Err(format!("{at}: {v} not in {want}"));
                }
            }
            "minimum" | "maximum" | "exclusiveMinimum" => {
                let (x, lim) = (v.as_f64(), want.as_f64().unwrap());
                let okay = match (k.as_str(), x) {
                    (_, None) => true,
                    ("minimum", Some(x)) => x >= lim,
                    ("maximum", Some(x)) => x <= lim,
                    (_, Some(x)) => x > lim,
                };
                if !okay {
                    return Err(format!("{at}: {v} violates {k} {lim}"));
                }
            }
            "required" => {
                for r in want.as_array().unwrap() {
                    let r = r.as_str().unwrap();
                    if v.is_object() && v.get(r).is_none() {
                        return Err(format!("{at}: missing {r:?}"));
                    }
                }
            }
            "properties" => {
                if let Some(o) = v.as_object() {
                    for (name, sub) in want.as_object().unwrap() {
                        if let Some(x) = o.get(name) {
                            check(root, sub, x, &format!("{at}.{name}"))?;
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(o) = v.as_object() {
                    let known = obj.get("properties").and_then(Value::as_object);
                    for (name, x) in o {
                        if known.is_some_and(|p| p.contains_key(name)) {
                            continue;
                        }
                        match want {
                            Value::Bool(false) => {
                                return Err(format!("{at}: unexpected field {name:?}"));
                            }
                            Value::Bool(true) => {}
                            sub => check(root, sub, x, &format!("{at}.{name}"))?,
                        }
                    }
                }
            }
            "propertyNames" => {
                if let Some(o) = v.as_object() {
                    for name in o.keys() {
                        check(
                            root,
                            want,
                            &Value::from(name.as_str()),
                            &format!("{at} key"),
                        )?;
                    }
                }
            }
            "pattern" => {
                // The one pattern the schema uses: an HTTP status code.
                assert_eq!(want, "^[1-9][0-9]{0,4}$", "unsupported pattern");
                let t = v.as_str().unwrap_or("");
                let okay = (1..=5).contains(&t.len())
                    && t.bytes().all(|b| b.is_ascii_digit())
                    && !t.starts_with('0');
                if !okay {
                    return Err(format!("{at}: {t:?} does not match {want}"));
                }
            }
            "items" => {
                if let Some(a) = v.as_array() {
                    for (i, x) in a.iter().enumerate() {
                        check(root, want, x, &format!("{at}[{i}]"))?;
                    }
                }
            }
            "oneOf" => {
                let n = want
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|sub| check(root, sub, v, at).is_ok())
                    .count();
                if n != 1 {
                    return Err(format!("{at}: {v} matches {n} of oneOf"));
                }
            }
            other => panic!("the test's validator does not know keyword {other:?}"),
        }
    }
    Ok(())
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_u64() || v.is_i64(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|c| **c == b'=').count();
        let n = chunk.iter().fold(0u32, |n, c| {
            (n << 6) | if *c == b'=' { 0 } else { val(*c) as u32 }
        });
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}
