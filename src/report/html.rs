//! report.html: one self-contained page (inline CSS and SVG, no script, nothing
//! fetched, so it opens offline and can be mailed or archived as one file) with the
//! headline numbers, the summary tables, every chart and the interval table; in a
//! scenario run, also the per-step table and the iterations (from summary.json's
//! `steps` and `iterations`, so the page and the file never disagree).

use std::fmt::Write as _;

use super::charts::Charts;
use super::json::Latency;
use super::steps::Percentiles;
use super::{Report, names};
use crate::report::fmt::{count, esc, fmt_bytes, fmt_ns, fmt_round_secs, fmt_secs};

/// Interval rows shown in the page; intervals.csv has them all.
const MAX_TABLE_ROWS: usize = 2000;

const CSS: &str = r#"
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f3f4f6;--ok:#2563eb;--bad:#dc2626}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif}
main{max-width:1040px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:16px;margin:0 0 10px}
.meta{color:var(--muted);margin:0}
.meta code{color:var(--ink)}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin-top:16px}
section.chart{padding:8px}
.cards{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;background:none;border:0;padding:0}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:22px;font-weight:600;margin-top:2px;white-space:nowrap}
.card .s{color:var(--muted);font-size:12px}
.card.bad .v{color:var(--bad)}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:5px 8px;text-align:right;border-bottom:1px solid var(--line);white-space:nowrap}
th{font-weight:600;color:var(--muted);font-size:12px}
th:first-child,td:first-child{text-align:left}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:24px;margin-top:18px}
.chart svg{width:100%;height:auto;display:block}
.warn{background:#fef2f2;border-color:#fecaca;color:#991b1b}
details summary{cursor:pointer;color:var(--ok)}
.scroll{max-height:480px;overflow:auto;margin-top:8px}
.scroll th{position:sticky;top:0;background:#fff}
td.l{text-align:left}
table.sum th,table.sum td{padding:5px 6px}
footer{color:var(--muted);font-size:12px;margin-top:18px;text-align:center}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
"#;

/// The whole page.
pub fn render(r: &Report, charts: &Charts) -> String {
    let s = &r.summary;
    let mut h = String::with_capacity(256 * 1024 + charts.scatter.len());
    let title = s
        .source
        .run_id
        .clone()
        .unwrap_or_else(|| s.source.paths.join(", "));
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>barrage report: {}</title><style>{CSS}</style></head><body><main>",
        esc(&title)
    );
    header(&mut h, r, &title);
    verdict(&mut h, r);
    warnings(&mut h, r);
    cards(&mut h, r);
    summary_tables(&mut h, r);
    scenario_tables(&mut h, r);
    for svg in [
        &charts.scatter, &charts.throughput_hover, &charts.latency_hover, &charts.histogram,
        &charts.spectrum,
    ] {
        let _ = write!(h, "<section class=\"chart\">{svg}</section>");
    }
    interval_table(&mut h, r);
    files(&mut h);
    let _ = writeln!(
        h,
        "<footer>barrage {} · summary.json schema {}</footer></main></body></html>",
        esc(&s.barrage_version),
        esc(&s.schema)
    );
    h
}

fn header(h: &mut String, r: &Report, title: &str) {
    let s = &r.summary;
    let what = if s.source.kind == "samples" {
        "run"
    } else {
        "results.csv"
    };
    let mut meta = vec![format!("{what} <code>{}</code>", esc(title))];
    if let Some(t) = r.source.wall_start_ns {
        meta.push(format!(
            "started {}",
            crate::time::pretty_utc(t / 1_000_000_000)
        ));
    }
    meta.push(format!("{:.2} s", s.duration_s));
    meta.push(format!("intervals of {}", fmt_secs(s.interval_s)));
    if s.latency_mode != "recorded" {
        meta.push(format!("latency {}", esc(&s.latency_mode)));
    }
    let _ = write!(
        h,
        "<header><h1>barrage report</h1><p class=\"meta\">{}</p></header>",
        meta.join(" · ")
    );
}

/// The self-check's verdict, first thing under the title: whose limit the figures
/// describe (the throughput chart shades the intervals where it was barrage's).
fn verdict(h: &mut String, r: &Report) {
    let Some(v) = &r.summary.verdict else {
        return;
    };
    // Styled inline, so the page of a run without a verdict stays as it was.
    let (class, style) = if v.generator_limited {
        ("warn", "font-weight:600")
    } else {
        (
            "ok",
            "font-weight:600;background:#f0fdf4;border-color:#bbf7d0;color:#166534",
        )
    };
    let _ = write!(
        h,
        "<section class=\"{class} verdict\" style=\"{style}\" id=\"verdict\">{}</section>",
        esc(&v.line)
    );
}

fn warnings(h: &mut String, r: &Report) {
    let s = &r.summary;
    let mut w = Vec::new();
    if s.source.skipped_lines > 0 {
        w.push(format!(
            "{} bad lines of results.csv were skipped (--skip-bad-lines).",
            s.source.skipped_lines
        ));
    }
    if s.late_rows > 0 {
        w.push(format!(
            "{} rows of results.csv were far out of time order: they count in the totals but in no interval.",
            s.late_rows
        ));
    }
    if let Some(c) = &s.connections
        && c.lost_samples > 0
    {
        w.push(format!(
            "{} samples could not be recorded (the sample log could not grow).",
            c.lost_samples
        ));
    }
    if !w.is_empty() {
        let _ = write!(h, "<section class=\"warn\">{}</section>", w.join("<br>"));
    }
}

fn cards(h: &mut String, r: &Report) {
    let s = &r.summary;
    let lat = s.latency_s.as_ref();
    let l = |f: fn(&super::json::Latency) -> f64| lat.map_or("–".to_string(), |l| fmt_secs(f(l)));
    let items = [
        (
            "requests",
            count(s.requests.total),
            format!("in {:.2} s", s.duration_s),
            false,
        ),
        (
            "throughput",
            format!("{}/s", count(s.requests.rps.round() as u64)),
            if s.requests.bytes > 0 {
                format!("{}/s read", fmt_bytes(s.requests.bytes_per_s))
            } else {
                format!("{} successful", count(s.requests.ok))
            },
            false,
        ),
        (
            "errors",
            count(s.requests.errors),
            format!("{:.3}% of requests", s.requests.error_ratio * 100.0),
            s.requests.errors > 0,
        ),
        (
            "p50",
            l(|l| l.p50),
            format!("mean {}", l(|l| l.mean)),
            false,
        ),
        ("p99", l(|l| l.p99), format!("p90 {}", l(|l| l.p90)), false),
        (
            "p99.9",
            l(|l| l.p99_9),
            format!("max {}", l(|l| l.max)),
            false,
        ),
    ];
    h.push_str("<section class=\"cards\">");
    for (k, v, sub, bad) in items {
        let _ = write!(
            h,
            "<div class=\"card{}\"><div class=\"k\">{k}</div><div class=\"v\">{}</div><div class=\"s\">{}</div></div>",
            if bad { " bad" } else { "" },
            esc(&v),
            esc(&sub)
        );
    }
    h.push_str("</section>");
}

fn summary_tables(h: &mut String, r: &Report) {
    let s = &r.summary;
    h.push_str("<section><h2>Summary</h2><table class=\"sum\"><tr><th></th>");
    let cols = ["count", "errors"]
        .into_iter()
        .chain(Latency::STATS.map(|(name, _)| name));
    for c in cols {
        let _ = write!(h, "<th>{c}</th>");
    }
    let _ = write!(
        h,
        "</tr><tr><td>all requests</td><td>{}</td><td>{}</td>",
        count(s.requests.total),
        count(s.requests.errors)
    );
    match &s.latency_s {
        Some(l) => {
            for (_, stat) in Latency::STATS {
                let _ = write!(h, "<td>{}</td>", fmt_secs(stat(l)));
            }
        }
        None => h.push_str("<td colspan=\"10\" class=\"l\">no successful requests</td>"),
    }
    h.push_str("</tr></table>");

    h.push_str("<div class=\"grid2\"><div><h2>Status codes</h2><table><tr><th>status</th><th>requests</th><th>share</th></tr>");
    let total = s.requests.total.max(1) as f64;
    if s.status.is_empty() {
        h.push_str("<tr><td colspan=\"3\">no responses</td></tr>");
    }
    for (&code, &n) in &s.status {
        let _ = write!(
            h,
            "<tr><td>{code}</td><td>{}</td><td>{:.2}%</td></tr>",
            count(n),
            n as f64 / total * 100.0
        );
    }
    h.push_str("</table></div><div><h2>Errors</h2><table><tr><th>kind</th><th>requests</th><th>share</th></tr>");
    let kinds = s.errors_by_count();
    if kinds.is_empty() {
        h.push_str("<tr><td colspan=\"3\">none</td></tr>");
    }
    for (k, n) in kinds {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{:.2}%</td></tr>",
            esc(k),
            count(n),
            n as f64 / total * 100.0
        );
        if let Some(why) = s.error_reasons.get(k) {
            let _ = write!(
                h,
                "<tr><td colspan=\"3\" class=\"meta\">{}</td></tr>",
                esc(why)
            );
        }
    }
    h.push_str("</table></div></div>");
    if let Some(sch) = &s.schedule {
        let _ = write!(
            h,
            "<p class=\"meta\" style=\"margin-top:12px\">Open loop: {} of {} requests started behind schedule by more than {} (timer granularity {}); start lag p50 {}, p99 {}, max {}. Response times count from the intended start ({}).</p>",
            count(sch.behind),
            count(sch.scheduled),
            fmt_round_secs(sch.behind_threshold_s),
            fmt_round_secs(sch.timer_granularity_s),
            fmt_secs(sch.lag_s.p50),
            fmt_secs(sch.lag_s.p99),
            fmt_secs(sch.lag_s.max),
            esc(&s.latency_mode)
        );
        if sch.unsent > 0 {
            let _ = write!(
                h,
                "<p class=\"meta\">{} requests due before the end were never sent: every connection was busy (raise --max-connections).</p>",
                count(sch.unsent)
            );
        }
    }
    if let Some(t) = &s.tls {
        let _ = write!(
            h,
            "<p class=\"meta\" style=\"margin-top:12px\">TLS: {} {} {}, {} full handshakes, {} resumed{}</p>",
            esc(&t.version),
            esc(&t.cipher_suite),
            esc(&t.kx_group),
            count(t.full_handshakes),
            count(t.resumed_handshakes),
            if t.certificate_verified == Some(false) {
                "; certificates <b>not verified</b> (--insecure)"
            } else {
                ""
            }
        );
    }
    if let Some(c) = &s.connections {
        let _ = write!(
            h,
            "<p class=\"meta\" style=\"margin-top:12px\">{} connections opened, {} closed idle by the server, {} requests re-sent after such a close · {} read</p>",
            count(c.opened),
            count(c.closed_idle),
            count(c.retried),
            fmt_bytes(s.requests.bytes as f64)
        );
    }
    h.push_str("</section>");
}

/// Scenario runs only (nothing for a plain run): one row per step (count, errors,
/// p50/p90/p99/max of its successful requests, its errors by kind), then the
/// iterations (count, completed, duration percentiles, failed by step and kind).
fn scenario_tables(h: &mut String, r: &Report) {
    let s = &r.summary;
    if s.steps.is_empty() && s.iterations.is_none() {
        return;
    }
    let pct = |p: &Option<Percentiles>| match p {
        Some(p) => [p.p50, p.p90, p.p99, p.max]
            .map(|v| format!("<td>{}</td>", fmt_secs(v)))
            .concat(),
        None => "<td colspan=\"4\">–</td>".to_string(),
    };
    h.push_str("<section><h2>Steps</h2><table class=\"sum\"><tr><th>step</th><th>count</th><th>errors</th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>errors by kind</th></tr>");
    for st in &s.steps {
        let kinds: Vec<String> = st
            .errors_by_kind
            .iter()
            .map(|(k, n)| format!("{}: {}", esc(k), count(*n)))
            .collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td>{}<td class=\"l\">{}</td></tr>",
            esc(&st.name),
            count(st.count),
            count(st.errors),
            pct(&st.latency_s),
            kinds.join(", ")
        );
    }
    h.push_str("</table>");
    if let Some(it) = &s.iterations {
        let _ = write!(
            h,
            "<h2 style=\"margin-top:18px\">Iterations</h2><table class=\"sum\"><tr><th></th><th>count</th><th>completed</th><th>failed</th><th>interrupted</th><th>duration p50</th><th>p90</th><th>p99</th><th>max</th></tr><tr><td>iterations</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr></table>",
            count(it.count),
            count(it.completed),
            count(it.failed.values().sum()),
            count(it.interrupted),
            pct(&it.duration_s)
        );
        if !it.failed.is_empty() {
            h.push_str("<table style=\"margin-top:12px\"><tr><th>failed at (step: kind)</th><th>iterations</th></tr>");
            for (at, n) in &it.failed {
                let _ = write!(h, "<tr><td>{}</td><td>{}</td></tr>", esc(at), count(*n));
            }
            h.push_str("</table>");
        }
        h.push_str("<p class=\"meta\" style=\"margin-top:12px\">An iteration's duration runs from its start (open loop: its intended start) to its last step's end, think times included; an iteration the end of the run cut short (interrupted) has none.</p>");
    }
    h.push_str("</section>");
}

fn interval_table(h: &mut String, r: &Report) {
    let n = r.intervals.len();
    let _ = write!(
        h,
        "<section><h2>Intervals</h2><details><summary>{} intervals of {}{}</summary><div class=\"scroll\"><table><tr><th>start (s)</th><th>requests</th><th>rps</th><th>errors</th><th>mean</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>",
        count(n as u64),
        fmt_secs(r.summary.interval_s),
        if n > MAX_TABLE_ROWS {
            format!(" (the first {MAX_TABLE_ROWS} shown; all are in intervals.csv)")
        } else {
            String::new()
        }
    );
    let iv = r.summary.interval_s;
    for i in r.intervals.iter().take(MAX_TABLE_ROWS) {
        let _ = write!(
            h,
            "<tr><td>{:.3}</td><td>{}</td><td>{:.1}</td><td>{}</td>",
            i.start_ns as f64 / 1e9,
            i.count,
            i.count as f64 / iv,
            i.errors
        );
        match i.latency {
            None if i.partial => {
                let _ = write!(
                    h,
                    "<td colspan=\"6\">partial: the run ended {} into it; requests still in flight at the end only</td>",
                    fmt_ns(i.end_ns - i.start_ns)
                );
            }
            Some(l) => {
                for v in [l.mean as u64, l.min, l.p50, l.p90, l.p99, l.max] {
                    let _ = write!(h, "<td>{}</td>", fmt_ns(v));
                }
            }
            None => h.push_str("<td colspan=\"6\">–</td>"),
        }
        h.push_str("</tr>");
    }
    h.push_str("</table></div></details></section>");
}

fn files(h: &mut String) {
    let list = [
        (
            "results.csv",
            "every request: elapsed, response_time, status",
        ),
        (names::INTERVALS, "the time series behind the charts above"),
        (
            names::SUMMARY,
            "every number on this page, for scripts and CI",
        ),
        (
            names::HLOG,
            "HdrHistogram interval log (HistogramLogProcessor, HistogramLogAnalyzer)",
        ),
        (
            names::HGRM,
            "percentile distribution for the HdrHistogram plotter",
        ),
        ("charts/*.svg", "these charts, for documents"),
    ];
    h.push_str("<section><h2>Files</h2><table>");
    for (f, what) in list {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td class=\"l\">{}</td></tr>",
            esc(f),
            esc(what)
        );
    }
    h.push_str("</table></section>");
}
