//! Response time percentiles over time: p50, p90, p99, max and mean of the successful
//! requests of each interval (the worst of each group when intervals are grouped).

use std::fmt::Write as _;

use super::axis::{axes, latency_label, latency_scale, latency_unit, ticks_of, time_scale};
use super::groups::{IntervalChart, groups, hover_targets, span};
use super::{C_MAX, C_MEAN, C_P50, C_P90, C_P99, Mark};
use super::{close, empty_note, legend, open};
use crate::report::fmt::{fmt_ns, fmt_secs};
use crate::report::{IntervalLatency, IntervalStats, Report};

type Pick = fn(&IntervalLatency) -> f64;

pub(super) fn latency_over_time(r: &Report) -> IntervalChart {
    let mut s = String::new();
    let mut subtitle = format!(
        "successful requests, in intervals of {}",
        fmt_secs(r.summary.interval_s)
    );
    if let Some(p) = r.intervals.last().filter(|i| i.partial) {
        // Its requests are the ones still in flight at the end: the slow ones.
        let _ = write!(
            subtitle,
            "; the last, partial interval ({}, requests in flight at the end) is left out",
            fmt_ns(p.end_ns - p.start_ns)
        );
    }
    open(&mut s, "Response time percentiles over time", &subtitle);
    let lats: Vec<IntervalLatency> = r.intervals.iter().filter_map(|i| i.latency).collect();
    if lats.is_empty() {
        empty_note(&mut s, "no successful requests");
        return IntervalChart::plain(s);
    }
    let gs = groups(&r.intervals);
    let series: [(&str, &str, Pick, bool); 5] = [
        ("max", C_MAX, |l| l.max as f64, false),
        ("p99", C_P99, |l| l.p99 as f64, false),
        ("p90", C_P90, |l| l.p90 as f64, false),
        ("p50", C_P50, |l| l.p50 as f64, false),
        ("mean", C_MEAN, |l| l.mean, true),
    ];
    // A group's value: the worst of its intervals, so spikes stay visible.
    let value = |g: &[IntervalStats], pick: Pick| {
        g.iter()
            .filter_map(|i| i.latency.as_ref().map(pick))
            .reduce(f64::max)
    };
    let max_ns = lats.iter().map(|l| l.max).max().unwrap_or(0) as f64;
    let p90_ns = lats.iter().map(|l| l.p90).max().unwrap_or(0) as f64;
    let min_ns = lats
        .iter()
        .map(|l| l.p50)
        .filter(|v| *v > 0)
        .min()
        .unwrap_or(1) as f64;
    let unit = latency_unit(max_ns / 1e9);
    let k = unit.per_s / 1e9;
    let y = latency_scale(min_ns * k, p90_ns * k, max_ns * k);
    let x = time_scale(r);
    axes(
        &mut s,
        &x,
        &y,
        "time since start (s)",
        &latency_label(unit, &y),
        &ticks_of(&x),
    );
    for (_, colour, pick, dashed) in series {
        let mut d = String::new();
        let mut dots = String::new();
        let mut pen_down = false;
        for g in &gs {
            match value(g, pick) {
                Some(v) => {
                    let (a, b) = span(g);
                    let (px, py) = (x.map((a + b) / 2.0), y.map(v * k));
                    let cmd = if pen_down { 'L' } else { 'M' };
                    let _ = write!(d, "{cmd}{px:.1} {py:.1}");
                    if gs.len() <= 120 {
                        let _ = write!(dots, r##"<circle cx="{px:.1}" cy="{py:.1}" r="2.3"/>"##);
                    }
                    pen_down = true;
                }
                // No successful request: a gap, not a dive to zero.
                None => pen_down = false,
            }
        }
        let dash = if dashed {
            r#" stroke-dasharray="5 4""#
        } else {
            ""
        };
        let _ = write!(
            s,
            r##"<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.8" stroke-linejoin="round"{dash}/><g fill="{colour}">{dots}</g>"##
        );
    }
    let targets_at = s.len();
    let mut targets = String::new();
    hover_targets(&mut targets, r, &gs, &x);
    let items: Vec<(&str, String, Mark)> = series
        .iter()
        .rev()
        .map(|(n, c, _, d)| {
            (
                *c,
                n.to_string(),
                if *d { Mark::Dashed } else { Mark::Line },
            )
        })
        .collect();
    legend(&mut s, &items);
    close(&mut s);
    IntervalChart {
        svg: s,
        targets_at,
        targets,
    }
}
