//! The latency histogram: successful requests by response time in log-spaced bins,
//! with p50 and p99 marked.

use std::fmt::Write as _;

use super::axis::{Scale, axes, latency_unit, nice_ceil, ticks_of};
use super::{BOTTOM, C_OK, C_P90, C_P99, H, LEFT, RIGHT, TOP, W};
use super::{close, empty_note, open};
use crate::report::Report;
use crate::report::fmt::{count, fmt_ns, fmt_secs};

pub(super) fn histogram(r: &Report) -> String {
    let mut s = String::new();
    let h = &r.overall;
    let subtitle = format!(
        "successful requests ({}) by response time, in log-spaced bins",
        count(h.len())
    );
    open(&mut s, "Response time distribution", &subtitle);
    if h.is_empty() {
        empty_note(&mut s, "no successful requests");
        return s;
    }
    let lo = h.min().max(1) as f64;
    let hi = (h.max() as f64).max(lo * 1.01);
    const BINS: usize = 80;
    let (llo, lhi) = (lo.log10(), hi.log10() + 1e-9);
    let mut bins = [0u64; BINS];
    for v in h.iter_recorded() {
        let x = (v.value_iterated_to() as f64).clamp(lo, hi).log10();
        let b = ((x - llo) / (lhi - llo) * BINS as f64) as usize;
        bins[b.min(BINS - 1)] += v.count_at_value();
    }
    let unit = latency_unit(hi / 1e9);
    let k = unit.per_s / 1e9;
    let x = Scale {
        log: true,
        d0: 10f64.powf((lo * k).log10().floor()),
        d1: 10f64.powf((hi * k).log10().ceil()),
        r0: LEFT,
        r1: W - RIGHT,
    };
    let top = bins.iter().copied().max().unwrap_or(1) as f64;
    let y = Scale {
        log: false,
        d0: 0.0,
        d1: nice_ceil(top * 1.05),
        r0: H - BOTTOM,
        r1: TOP,
    };
    axes(
        &mut s,
        &x,
        &y,
        &format!("response time ({}), log scale", unit.name),
        "requests",
        &ticks_of(&x),
    );
    let base = y.map(0.0);
    let edge = |b: usize| 10f64.powf(llo + (lhi - llo) * b as f64 / BINS as f64);
    for (b, n) in bins.iter().enumerate().filter(|(_, n)| **n > 0) {
        let (v0, v1) = (edge(b), edge(b + 1));
        let (x0, x1) = (x.map(v0 * k), x.map(v1 * k));
        let py = y.map(*n as f64);
        let _ = write!(
            s,
            r##"<rect x="{:.1}" y="{py:.1}" width="{:.1}" height="{:.1}" fill="{C_OK}" fill-opacity="0.8"><title>{} to {}: {} requests</title></rect>"##,
            x0 + 0.5,
            (x1 - x0 - 1.0).max(0.8),
            (base - py).max(0.5),
            fmt_ns(v0 as u64),
            fmt_ns(v1 as u64),
            count(*n)
        );
    }
    if let Some(l) = &r.summary.latency_s {
        for (name, v, colour) in [("p50", l.p50, C_P90), ("p99", l.p99, C_P99)] {
            let px = x.map(v * unit.per_s);
            let _ = write!(
                s,
                r##"<line x1="{px:.1}" x2="{px:.1}" y1="{TOP}" y2="{base:.1}" stroke="{colour}" stroke-dasharray="4 3" stroke-width="1.5"/><text x="{:.1}" y="{:.1}" fill="{colour}" font-weight="600">{name} {}</text>"##,
                px + 4.0,
                TOP + 12.0,
                fmt_secs(v)
            );
        }
    }
    close(&mut s);
    s
}
