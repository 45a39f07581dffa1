//! The percentile spectrum: response time at each percentile, as HdrHistogram plots
//! it (x at 1/(1-q) on a log scale, so 90%, 99%, 99.9%... are evenly spaced).

use std::fmt::Write as _;

use super::axis::{Scale, axes, latency_label, latency_unit, log_latency_scale};
use super::{C_OK, LEFT, RIGHT, W};
use super::{close, empty_note, open};
use crate::report::Report;
use crate::report::fmt::trim;

pub(super) fn spectrum(r: &Report) -> String {
    let mut s = String::new();
    let h = &r.overall;
    open(
        &mut s,
        "Percentile spectrum",
        "response time at each percentile of the successful requests, as HdrHistogram plots it",
    );
    if h.is_empty() {
        empty_note(&mut s, "no successful requests");
        return s;
    }
    // x: 1/(1-q) on a log scale, so 0%, 90%, 99%, 99.9% ... are evenly spaced; as
    // many nines as the sample count supports.
    let nines = ((h.len() as f64).log10().ceil() as i32).clamp(2, 6);
    let xmax = 10f64.powi(nines);
    let x = Scale {
        log: true,
        d0: 1.0,
        d1: xmax,
        r0: LEFT,
        r1: W - RIGHT,
    };
    let unit = latency_unit(h.max() as f64 / 1e9);
    let k = unit.per_s / 1e9;
    // y: response time on a log scale, like x: the tail a spectrum is drawn for spans
    // decades, and one slow request would press a linear axis's body flat. (A value
    // of 0, from a results.csv rounded to milliseconds, sits on the bottom edge.)
    let lo = h
        .iter_recorded()
        .map(|v| v.value_iterated_to())
        .find(|v| *v > 0)
        .unwrap_or(1);
    let y = log_latency_scale(lo as f64 * k, h.max().max(lo) as f64 * k);
    // Ticks only at the nines: 2s and 5s of a log axis mean nothing here.
    let xticks: Vec<(f64, String)> = (0..=nines)
        .map(|e| {
            let v = 10f64.powi(e);
            (v, trim(format!("{:.6}", 100.0 - 100.0 / v)) + "%")
        })
        .collect();
    axes(
        &mut s,
        &x,
        &y,
        "percentile",
        &latency_label(unit, &y),
        &xticks,
    );
    let mut d = String::new();
    for (i, v) in h
        .iter_quantiles(crate::report::hlog::TICKS_PER_HALF)
        .enumerate()
    {
        let q = v.quantile_iterated_to();
        let inv = if q >= 1.0 {
            xmax
        } else {
            (1.0 / (1.0 - q)).min(xmax)
        };
        let _ = write!(
            d,
            "{}{:.1} {:.1}",
            if i == 0 { 'M' } else { 'L' },
            x.map(inv),
            y.map((v.value_iterated_to() as f64 * k).max(y.d0))
        );
    }
    let _ = write!(
        s,
        r##"<path d="{d}" fill="none" stroke="{C_OK}" stroke-width="2.2" stroke-linejoin="round"/>"##
    );
    close(&mut s);
    s
}
