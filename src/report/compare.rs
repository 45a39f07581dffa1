//! `barrage report --compare A B`: two runs' summaries side by side, with the
//! relative change from A to B of throughput, error rate and each latency statistic,
//! and whether that change is for the better.
//!
//! Only what does not depend on a run's length is compared: rates and latencies.
//! Request and error counts are shown, not compared (a 10 s run has twice the
//! requests of a 5 s one at the same throughput). Throughput is not judged when the
//! user set it: an open-loop run (`-R`, `--rate-stages`; its summary has a
//! `schedule`) sent what its schedule said, so its rate says nothing about the server.

use std::fmt::Write as _;

use super::Summary;
use super::thresholds::Metric;

/// How a line's change is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judge {
    /// A count that grows with the run's length: shown, not compared.
    Count,
    /// Higher is better (throughput), unless the rate was set (open loop).
    Higher,
    /// Lower is better (error rate, latency).
    Lower,
}

/// The verdict on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Better,
    Worse,
    /// Less than 1% apart, a value missing, or a count.
    None,
    /// Throughput of an open-loop run: the user set it with `-R`.
    RateSet,
}

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: &'static str,
    pub metric: Metric,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// (b - a) / a; `None` for counts, when either is missing, or when a is 0.
    pub change: Option<f64>,
    pub verdict: Verdict,
}

const ROWS: [(&str, Metric, Judge); 14] = [
    ("requests", Metric::Requests, Judge::Count),
    ("rps", Metric::Rps, Judge::Higher),
    ("errors", Metric::Errors, Judge::Count),
    ("error rate", Metric::ErrorShare, Judge::Lower),
    ("min", Metric::Min, Judge::Lower),
    ("mean", Metric::Mean, Judge::Lower),
    ("p50", Metric::P50, Judge::Lower),
    ("p80", Metric::P80, Judge::Lower),
    ("p90", Metric::P90, Judge::Lower),
    ("p95", Metric::P95, Judge::Lower),
    ("p99", Metric::P99, Judge::Lower),
    ("p99.9", Metric::P999, Judge::Lower),
    ("max", Metric::Max, Judge::Lower),
    ("stdev", Metric::Stdev, Judge::Lower),
];

/// Whether the run's request rate was set by the user (open loop).
pub fn rate_set(s: &Summary) -> bool {
    s.schedule.is_some()
}

/// The load model as the comparison names it.
fn load_model(s: &Summary) -> &'static str {
    if rate_set(s) {
        "open (-R)"
    } else if s.source.kind == "samples" {
        "closed"
    } else {
        // A results.csv does not say.
        "-"
    }
}

/// The comparison's lines.
pub fn rows(a: &Summary, b: &Summary) -> Vec<Row> {
    let rate_set = rate_set(a) || rate_set(b);
    ROWS.iter()
        .map(|&(name, metric, judge)| {
            let (va, vb) = (metric.value(a), metric.value(b));
            let change = match (va, vb) {
                _ if judge == Judge::Count => None,
                (Some(x), Some(y)) if x != 0.0 => Some((y - x) / x),
                _ => None,
            };
            let verdict = match (judge, change) {
                (Judge::Higher, _) if rate_set => Verdict::RateSet,
                (_, Some(c)) if c.abs() >= 0.01 => {
                    if (c > 0.0) == (judge == Judge::Higher) {
                        Verdict::Better
                    } else {
                        Verdict::Worse
                    }
                }
                _ => Verdict::None,
            };
            Row {
                name,
                metric,
                a: va,
                b: vb,
                change,
                verdict,
            }
        })
        .collect()
}

/// The table printed by `--compare`.
pub fn render(a_name: &str, a: &Summary, b_name: &str, b: &Summary) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "  A  {a_name}");
    let _ = writeln!(s, "  B  {b_name}");
    let _ = writeln!(s);
    let _ = writeln!(s, "  {:<12} {:>14} {:>14} {:>10}", "", "A", "B", "change");
    let _ = writeln!(
        s,
        "  {:<12} {:>14} {:>14}",
        "duration",
        format!("{:.2}s", a.duration_s),
        format!("{:.2}s", b.duration_s)
    );
    let _ = writeln!(
        s,
        "  {:<12} {:>14} {:>14}",
        "load",
        load_model(a),
        load_model(b)
    );
    for r in rows(a, b) {
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| r.metric.show(v));
        let change = r
            .change
            .map_or(String::new(), |c| format!("{:+.1}%", c * 100.0));
        let verdict = match r.verdict {
            Verdict::Better => "  better",
            Verdict::Worse => "  worse",
            Verdict::RateSet => "  rate set by -R",
            Verdict::None => "",
        };
        let line = format!(
            "  {:<12} {:>14} {:>14} {:>10}{verdict}",
            r.name,
            show(r.a),
            show(r.b),
            change
        );
        let _ = writeln!(s, "{}", line.trim_end());
    }
    if (a.duration_s - b.duration_s).abs() > 0.01 * a.duration_s.max(b.duration_s) {
        let _ = writeln!(
            s,
            "  (runs of different lengths: compare rps and error rate, not counts)"
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Accumulator, ReportOptions, Sample, SourceInfo};

    /// A summary of `n` requests evenly over `secs`, `errors` of them failed, each
    /// taking `lat_ms`; open loop when `open`.
    fn run(n: u64, secs: u64, errors: u64, lat_ms: u64, open: bool) -> Summary {
        let mut acc = Accumulator::new(ReportOptions::default().summary_only());
        for i in 0..n {
            acc.add(Sample {
                end_ns: (i + 1) * secs * 1_000_000_000 / n,
                latency_ns: lat_ms * 1_000_000,
                status: if i < errors { 0 } else { 200 },
                error: if i < errors { 255 } else { 0 },
                bytes: 0,
                lag_ns: open.then_some(1000),
            });
        }
        let source = SourceInfo {
            kind: "samples",
            ..Default::default()
        };
        acc.finish(source).unwrap().summary
    }

    fn row<'a>(rows: &'a [Row], name: &str) -> &'a Row {
        rows.iter().find(|r| r.name == name).unwrap()
    }

    #[test]
    fn counts_are_shown_rates_compared() {
        // B ran twice as long at the same rate, with the same share of errors.
        let (a, b) = (run(1000, 10, 10, 5, false), run(2000, 20, 20, 5, false));
        let rows = rows(&a, &b);
        for name in ["requests", "errors"] {
            let r = row(&rows, name);
            assert!(r.a.is_some() && r.b.is_some());
            assert_eq!((r.change, r.verdict), (None, Verdict::None), "{name}");
        }
        let rps = row(&rows, "rps");
        assert!(rps.change.unwrap().abs() < 1e-9);
        assert_eq!(rps.verdict, Verdict::None);
        assert_eq!(row(&rows, "error rate").verdict, Verdict::None);
        let text = render("a", &a, "b", &b);
        assert!(text.contains("runs of different lengths"), "{text}");
        assert!(
            text.contains("load                 closed         closed"),
            "{text}"
        );
    }

    #[test]
    fn closed_loop_throughput_and_errors_are_judged() {
        let (a, b) = (run(1000, 10, 10, 5, false), run(2000, 10, 40, 4, false));
        let rows = rows(&a, &b);
        assert_eq!(row(&rows, "rps").verdict, Verdict::Better);
        assert_eq!(row(&rows, "error rate").verdict, Verdict::Worse);
        assert_eq!(row(&rows, "p50").verdict, Verdict::Better);
    }

    #[test]
    fn a_rate_the_user_set_is_not_better() {
        for (open_a, open_b) in [(true, true), (false, true), (true, false)] {
            let (a, b) = (run(1000, 10, 0, 5, open_a), run(4000, 10, 0, 5, open_b));
            let rows = rows(&a, &b);
            let rps = row(&rows, "rps");
            assert!((rps.change.unwrap() - 3.0).abs() < 1e-9);
            assert_eq!(rps.verdict, Verdict::RateSet, "{open_a} {open_b}");
            let text = render("a", &a, "b", &b);
            let line = text.lines().find(|l| l.contains("rps")).unwrap();
            assert!(line.ends_with("+300.0%  rate set by -R"), "{line}");
            assert!(text.contains("open (-R)"), "{text}");
        }
    }
}
