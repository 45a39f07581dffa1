//! What the two interval charts (throughput, percentiles over time) share: the
//! intervals in groups of consecutive ones, so that a chart of any length draws at most
//! about two points per pixel column, and the hover targets report.html adds to them.

use std::fmt::Write as _;

use super::axis::Scale;
use super::{BOTTOM, H, LEFT, RIGHT, TOP, W};
use crate::report::fmt::{esc, fmt_ns};
use crate::report::{IntervalStats, Report};

/// Intervals in groups of consecutive ones, so a chart draws at most about two
/// points per pixel column however many intervals there are.
pub(super) fn groups(intervals: &[IntervalStats]) -> Vec<&[IntervalStats]> {
    let max_points = ((W - LEFT - RIGHT) * 2.0) as usize;
    let per = intervals.len().div_ceil(max_points).max(1);
    intervals.chunks(per).collect()
}

pub(super) fn span(g: &[IntervalStats]) -> (f64, f64) {
    (
        g[0].start_ns as f64 / 1e9,
        g[g.len() - 1].end_ns as f64 / 1e9,
    )
}

/// An interval chart, drawn once, and the hover targets report.html inserts into it
/// (before the legend, which stays on top).
pub(super) struct IntervalChart {
    pub(super) svg: String,
    pub(super) targets_at: usize,
    pub(super) targets: String,
}

impl IntervalChart {
    /// A chart with nothing to hover (no intervals).
    pub(super) fn plain(svg: String) -> IntervalChart {
        IntervalChart {
            targets_at: svg.len(),
            svg,
            targets: String::new(),
        }
    }

    pub(super) fn with_targets(&self) -> String {
        let mut s = self.svg.clone();
        s.insert_str(self.targets_at, &self.targets);
        s
    }
}

/// Invisible full-height rectangles, one per group of intervals, whose `<title>` the
/// browser shows on hover.
pub(super) fn hover_targets(s: &mut String, r: &Report, gs: &[&[IntervalStats]], x: &Scale) {
    s.push_str(r#"<g fill="transparent">"#);
    let iv = r.summary.interval_s;
    for g in gs {
        let (a, b) = span(g);
        let x0 = x.map(a);
        let x1 = x.map(b).max(x0 + 0.5);
        let n: u64 = g.iter().map(|i| i.count).sum();
        let e: u64 = g.iter().map(|i| i.errors).sum();
        let mut t = format!(
            "{a:.3} s to {b:.3} s\n{n} requests ({:.1}/s), {e} failed",
            n as f64 / (g.len() as f64 * iv)
        );
        if let [one] = g
            && one.partial
        {
            let _ = write!(
                t,
                "\npartial: the run ended {} into this interval; only requests still in flight then",
                fmt_ns(one.end_ns - one.start_ns)
            );
        }
        if let [one] = g
            && let Some(l) = one.latency
        {
            let _ = write!(
                t,
                "\nmean {}  p50 {}  p90 {}  p99 {}  max {}",
                fmt_ns(l.mean as u64),
                fmt_ns(l.p50),
                fmt_ns(l.p90),
                fmt_ns(l.p99),
                fmt_ns(l.max)
            );
        }
        let _ = write!(
            s,
            r##"<rect x="{x0:.1}" y="{TOP}" width="{:.1}" height="{}"><title>{}</title></rect>"##,
            x1 - x0,
            H - TOP - BOTTOM,
            esc(&t)
        );
    }
    s.push_str("</g>");
}
