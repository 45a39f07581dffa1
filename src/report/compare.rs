//! `barrage report --compare A B`: two runs' summaries side by side, with the
//! relative change from A to B of throughput and each latency statistic, and whether
//! that change is for the better.

use std::fmt::Write as _;

use super::Summary;
use super::thresholds::Metric;

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: &'static str,
    pub metric: Metric,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// (b - a) / a; `None` when either is missing or a is 0.
    pub change: Option<f64>,
}

impl Row {
    /// Whether B is better than A on this line (`None`: less than 1% apart).
    pub fn better(&self) -> Option<bool> {
        let c = self.change?;
        if c.abs() < 0.01 {
            return None;
        }
        let higher_is_better = matches!(self.metric, Metric::Rps | Metric::Requests);
        Some((c > 0.0) == higher_is_better)
    }
}

const ROWS: [(&str, Metric); 14] = [
    ("requests", Metric::Requests),
    ("rps", Metric::Rps),
    ("errors", Metric::Errors),
    ("error rate", Metric::ErrorShare),
    ("min", Metric::Min),
    ("mean", Metric::Mean),
    ("p50", Metric::P50),
    ("p80", Metric::P80),
    ("p90", Metric::P90),
    ("p95", Metric::P95),
    ("p99", Metric::P99),
    ("p99.9", Metric::P999),
    ("max", Metric::Max),
    ("stdev", Metric::Stdev),
];

/// The comparison's lines.
pub fn rows(a: &Summary, b: &Summary) -> Vec<Row> {
    ROWS.iter()
        .map(|(name, m)| {
            let (va, vb) = (m.value(a), m.value(b));
            let change = match (va, vb) {
                (Some(x), Some(y)) if x != 0.0 => Some((y - x) / x),
                _ => None,
            };
            Row {
                name,
                metric: *m,
                a: va,
                b: vb,
                change,
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
    for r in rows(a, b) {
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| r.metric.show(v));
        let change = r
            .change
            .map_or(String::new(), |c| format!("{:+.1}%", c * 100.0));
        let verdict = match r.better() {
            Some(true) => "  better",
            Some(false) => "  worse",
            None => "",
        };
        let _ = writeln!(
            s,
            "  {:<12} {:>14} {:>14} {:>10}{verdict}",
            r.name,
            show(r.a),
            show(r.b),
            change
        );
    }
    s
}
