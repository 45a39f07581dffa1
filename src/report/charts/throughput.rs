//! The throughput chart: requests completed per second in each interval, failed ones
//! apart, as step lines; a partial last interval drawn apart.

use std::fmt::Write as _;

use super::axis::{Scale, axes, nice_ceil, ticks_of, time_scale};
use super::groups::{IntervalChart, groups, hover_targets, span};
use super::{BOTTOM, C_FAIL, C_OK, H, MUTED, Mark, TOP};
use super::{close, empty_note, legend, open};
use crate::report::fmt::{fmt_ns, fmt_secs};
use crate::report::{IntervalStats, Report};

pub(super) fn throughput(r: &Report) -> IntervalChart {
    let mut s = String::new();
    let iv = r.summary.interval_s;
    let subtitle = format!(
        "requests completed per second, in intervals of {}; overall {:.1}/s",
        fmt_secs(iv),
        r.summary.requests.rps
    );
    open(&mut s, "Throughput", &subtitle);
    if r.intervals.is_empty() {
        empty_note(&mut s, "no requests");
        return IntervalChart::plain(s);
    }
    // A partial last interval is drawn apart, dashed over a grey band: its rate (over
    // the interval's full length, as intervals.csv has it) is low only because the run
    // ended in it, and drawn like the others it would read as a drop.
    let (full, partial) = match r.intervals.split_last() {
        Some((last, rest)) if last.partial => (rest, Some(last)),
        _ => (&r.intervals[..], None),
    };
    let gs = groups(full);
    let rate = |g: &[IntervalStats], errors: bool| {
        let n: u64 = g
            .iter()
            .map(|i| if errors { i.errors } else { i.count })
            .sum();
        n as f64 / (g.len() as f64 * iv)
    };
    let max = gs
        .iter()
        .copied()
        .chain(partial.map(std::slice::from_ref))
        .map(|g| rate(g, false))
        .fold(0.0, f64::max);
    let x = time_scale(r);
    let y = Scale {
        log: false,
        d0: 0.0,
        d1: nice_ceil(max * 1.05),
        r0: H - BOTTOM,
        r1: TOP,
    };
    axes(
        &mut s,
        &x,
        &y,
        "time since start (s)",
        "requests per second",
        &ticks_of(&x),
    );
    let shaded = generator_limited(&mut s, r, &x);
    let any_errors = r.intervals.iter().any(|i| i.errors > 0);
    for errors in [false, true] {
        if errors && !any_errors {
            continue;
        }
        // A step line: each interval's rate held across the interval.
        let mut d = String::new();
        for (k, g) in gs.iter().enumerate() {
            let (a, b) = span(g);
            let py = y.map(rate(g, errors));
            let cmd = if k == 0 { 'M' } else { 'L' };
            let _ = write!(d, "{cmd}{:.1} {py:.1}L{:.1} {py:.1}", x.map(a), x.map(b));
        }
        let colour = if errors { C_FAIL } else { C_OK };
        if !errors {
            let base = y.map(0.0);
            let (first, _) = span(gs[0]);
            let (_, last) = span(gs[gs.len() - 1]);
            let _ = write!(
                s,
                r##"<path d="{d}L{:.1} {base:.1}L{:.1} {base:.1}Z" fill="{colour}" fill-opacity="0.12"/>"##,
                x.map(last),
                x.map(first)
            );
        }
        let _ = write!(
            s,
            r##"<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.8" stroke-linejoin="round"/>"##
        );
        if let (Some(p), Some(g)) = (partial, gs.last()) {
            // From the last whole interval's level to the partial one's.
            let (a, b) = (x.map(p.start_ns as f64 / 1e9), x.map(p.end_ns as f64 / 1e9));
            let (from, to) = (
                y.map(rate(g, errors)),
                y.map(rate(std::slice::from_ref(p), errors)),
            );
            let _ = write!(
                s,
                r##"<path class="partial" d="M{a:.1} {from:.1}L{a:.1} {to:.1}L{:.1} {to:.1}" fill="none" stroke="{colour}" stroke-width="1.5" stroke-dasharray="3 3" stroke-opacity="0.6"/>"##,
                b.max(a + 2.0)
            );
        }
    }
    if let Some(p) = partial {
        let a = x.map(p.start_ns as f64 / 1e9);
        let b = x.map(p.end_ns as f64 / 1e9).max(a + 3.0);
        let _ = write!(
            s,
            r##"<rect class="partial" x="{a:.1}" y="{TOP}" width="{:.1}" height="{}" fill="{MUTED}" fill-opacity="0.18"><title>partial interval: the run ended {} into it</title></rect>"##,
            b - a,
            H - TOP - BOTTOM,
            fmt_ns(p.end_ns - p.start_ns)
        );
    }
    let targets_at = s.len();
    let mut targets = String::new();
    let mut hover = gs.clone();
    hover.extend(partial.map(std::slice::from_ref));
    hover_targets(&mut targets, r, &hover, &x);
    let mut items = vec![(C_OK, "all requests".to_string(), Mark::Line)];
    if any_errors {
        items.push((C_FAIL, "failed".to_string(), Mark::Line));
    }
    if shaded {
        items.push((C_LIMIT, "generator was the limit".to_string(), Mark::Dot));
    }
    if let Some(p) = partial {
        items.push((
            MUTED,
            format!("last interval partial ({})", fmt_ns(p.end_ns - p.start_ns)),
            Mark::Dashed,
        ));
    }
    legend(&mut s, &items);
    close(&mut s);
    IntervalChart {
        svg: s,
        targets_at,
        targets,
    }
}

/// Shading for the self-check's intervals where the generator was the limit
/// (`report/verdict.rs`): there the figures describe barrage, not the server.
const C_LIMIT: &str = "#f59e0b";

/// Shades the intervals the verdict says the generator limited. True if any.
fn generator_limited(s: &mut String, r: &Report, x: &super::axis::Scale) -> bool {
    let Some(v) = &r.summary.verdict else {
        return false;
    };
    let mut any = false;
    for i in &v.intervals {
        let Some(limit) = i.limit.filter(|l| l.is_generator()) else {
            continue;
        };
        let a = x.map(i.start_s.max(x.d0));
        let b = x.map((i.start_s + i.wall_s).min(x.d1)).max(a + 2.0);
        let _ = write!(
            s,
            r##"<rect class="limited" x="{a:.1}" y="{TOP}" width="{:.1}" height="{}" fill="{C_LIMIT}" fill-opacity="0.18"><title>{} s to {} s: {} (busiest core {:.0}%, loop delay p99 {})</title></rect>"##,
            b - a,
            H - TOP - BOTTOM,
            i.start_s,
            i.start_s + i.wall_s.round(),
            limit.name(),
            100.0 * i.busiest_core,
            fmt_secs(i.loop_delay_p99_s)
        );
        any = true;
    }
    any
}
