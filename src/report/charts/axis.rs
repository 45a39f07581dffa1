//! Scales and axes: data values mapped to SVG coordinates (linear or log10), tick
//! positions and labels at 1-2-5 steps, the latency unit for a range, and the drawn
//! grid, ticks and axis labels.

use std::fmt::Write as _;

use super::{BOTTOM, GRID, H, LEFT, MUTED, RIGHT, TOP, W};
use crate::report::Report;
use crate::report::fmt::{esc, trim};

/// Maps data values to SVG coordinates, linearly or on a log10 scale.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub log: bool,
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Scale {
    pub fn map(&self, v: f64) -> f64 {
        let (a, b, x) = if self.log {
            (
                self.d0.log10(),
                self.d1.log10(),
                v.max(self.d0 * 1e-3).log10(),
            )
        } else {
            (self.d0, self.d1, v)
        };
        if b == a {
            return self.r0;
        }
        self.r0 + (x - a) / (b - a) * (self.r1 - self.r0)
    }

    /// Tick positions (data values), and the step for their labels (0 on a log scale).
    pub fn ticks(&self) -> (Vec<f64>, f64) {
        if self.log {
            let mut t = Vec::new();
            let (lo, hi) = (
                self.d0.log10().floor() as i32,
                self.d1.log10().ceil() as i32,
            );
            let decades = hi - lo;
            for e in lo..=hi {
                for m in [1.0, 2.0, 5.0] {
                    if decades > 3 && m != 1.0 {
                        continue;
                    }
                    let v = m * 10f64.powi(e);
                    if v >= self.d0 * 0.999 && v <= self.d1 * 1.001 {
                        t.push(v);
                    }
                }
            }
            return (t, 0.0);
        }
        let step = nice_step((self.d1 - self.d0) / 6.0);
        let mut t = Vec::new();
        let mut k = (self.d0 / step).ceil();
        while k * step <= self.d1 + step * 1e-9 {
            t.push(k * step + 0.0);
            k += 1.0;
        }
        (t, step)
    }
}

/// 1, 2, 2.5 or 5 times a power of ten, at or above `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let n = raw / mag;
    let m = if n <= 1.0 {
        1.0
    } else if n <= 2.0 {
        2.0
    } else if n <= 2.5 {
        2.5
    } else if n <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// The smallest tick-aligned value at or above `v` (for an axis top).
pub fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let step = nice_step(v / 6.0);
    (v / step).ceil() * step
}

/// A tick label: `0.25`, `40`, `12k`, `1.5M`. `step` 0 means a log-scale tick.
pub fn tick_label(v: f64, step: f64) -> String {
    let a = v.abs();
    if a >= 1e6 && (step >= 1e5 || step == 0.0) {
        return trim(format!("{:.2}", v / 1e6)) + "M";
    }
    if a >= 1e4 && (step >= 1e3 || step == 0.0) {
        return trim(format!("{:.1}", v / 1e3)) + "k";
    }
    if step == 0.0 {
        return trim(format!("{v:.6}"));
    }
    // As many decimals as the step has.
    let decimals = trim(format!("{step:.6}"))
        .split('.')
        .nth(1)
        .map_or(0, str::len);
    trim(format!("{v:.decimals$}"))
}

/// A latency unit chosen for a chart's range.
#[derive(Debug, Clone, Copy)]
pub struct Unit {
    pub name: &'static str,
    /// Units per second.
    pub per_s: f64,
}

/// µs below 1 ms, ms below 1 s, else s.
pub fn latency_unit(max_s: f64) -> Unit {
    let (name, per_s) = if max_s < 1e-3 {
        ("µs", 1e6)
    } else if max_s < 1.0 {
        ("ms", 1e3)
    } else {
        ("s", 1.0)
    };
    Unit { name, per_s }
}

/// A y scale for latencies (in display units) from 0 to `max`, or a log scale when
/// `max` dwarfs `typical`: a few outliers would otherwise press every other point
/// flat against the axis.
pub(super) fn latency_scale(min: f64, typical: f64, max: f64) -> Scale {
    let (r0, r1) = (H - BOTTOM, TOP);
    if max > 20.0 * typical && min > 0.0 && typical > 0.0 {
        return Scale {
            log: true,
            d0: 10f64.powf(min.log10().floor()),
            d1: 10f64.powf(max.log10().ceil()),
            r0,
            r1,
        };
    }
    Scale {
        log: false,
        d0: 0.0,
        d1: nice_ceil(max * 1.05),
        r0,
        r1,
    }
}

/// The 1, 2 or 5 times a power of ten at or below `v` (> 0), or at or above it.
fn nice_log_bound(v: f64, up: bool) -> f64 {
    let mag = 10f64.powf(v.log10().floor());
    let steps = [1.0, 2.0, 5.0, 10.0].map(|m| m * mag);
    let found = if up {
        steps.iter().find(|s| **s >= v * (1.0 - 1e-9))
    } else {
        steps.iter().rev().find(|s| **s <= v * (1.0 + 1e-9))
    };
    found.copied().unwrap_or(mag)
}

/// A log y scale for latencies from `lo` to `hi` (display units, > 0), its ends on
/// 1-2-5 steps so that a narrow range still fills the chart.
pub(super) fn log_latency_scale(lo: f64, hi: f64) -> Scale {
    let d0 = nice_log_bound(lo, false);
    Scale {
        log: true,
        d0,
        d1: nice_log_bound(hi, true).max(d0 * 2.0),
        r0: H - BOTTOM,
        r1: TOP,
    }
}

pub(super) fn time_scale(r: &Report) -> Scale {
    let start = r.intervals.first().map_or(0.0, |i| i.start_ns as f64 / 1e9);
    let end = r
        .intervals
        .last()
        .map_or(r.summary.duration_s, |i| i.end_ns as f64 / 1e9)
        .max(r.summary.duration_s);
    Scale {
        log: false,
        d0: start,
        d1: end.max(start + 1e-6),
        r0: LEFT,
        r1: W - RIGHT,
    }
}

/// Ticks of `x` labelled as plain numbers.
pub(super) fn ticks_of(x: &Scale) -> Vec<(f64, String)> {
    let (t, step) = x.ticks();
    t.into_iter().map(|v| (v, tick_label(v, step))).collect()
}

/// Grid, ticks and axis labels.
pub(super) fn axes(
    s: &mut String,
    x: &Scale,
    y: &Scale,
    xlabel: &str,
    ylabel: &str,
    xticks: &[(f64, String)],
) {
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, H - BOTTOM, TOP);
    let (yt, ystep) = y.ticks();
    for v in yt {
        let py = y.map(v);
        let _ = write!(
            s,
            r##"<line x1="{x0}" x2="{x1}" y1="{py:.1}" y2="{py:.1}" stroke="{GRID}"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="{MUTED}">{}</text>"##,
            x0 - 6.0,
            py + 4.0,
            tick_label(v, ystep)
        );
    }
    for (v, label) in xticks {
        let px = x.map(*v);
        // A label at the right edge would be cut off: end it there instead.
        let anchor = if px > x1 - 20.0 { "end" } else { "middle" };
        let _ = write!(
            s,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{y1}" y2="{y0}" stroke="{GRID}"/><text x="{:.1}" y="{:.1}" text-anchor="{anchor}" fill="{MUTED}">{}</text>"##,
            if anchor == "end" { px + 2.0 } else { px },
            y0 + 16.0,
            esc(label)
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{x0}" x2="{x1}" y1="{y0}" y2="{y0}" stroke="{MUTED}"/><line x1="{x0}" x2="{x0}" y1="{y1}" y2="{y0}" stroke="{MUTED}"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"##,
        (x0 + x1) / 2.0,
        H - 10.0,
        esc(xlabel),
        (y0 + y1) / 2.0,
        esc(ylabel)
    );
}

pub(super) fn latency_label(unit: Unit, y: &Scale) -> String {
    format!(
        "response time ({}){}",
        unit.name,
        if y.log { ", log scale" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_numbers() {
        assert_eq!(nice_step(0.13), 0.2);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(2.2), 2.5);
        assert_eq!(nice_ceil(97.0), 100.0);
        assert_eq!(tick_label(12_000.0, 2000.0), "12k");
        assert_eq!(tick_label(0.25, 0.25), "0.25");
        assert_eq!(tick_label(0.2, 0.2), "0.2");
        assert_eq!(tick_label(7.5, 2.5), "7.5");
        assert_eq!(tick_label(40.0, 10.0), "40");
        assert_eq!(tick_label(0.001, 0.0), "0.001");
    }

    #[test]
    fn scales() {
        let s = Scale {
            log: false,
            d0: 0.0,
            d1: 10.0,
            r0: 100.0,
            r1: 0.0,
        };
        assert_eq!(s.map(5.0), 50.0);
        let (t, step) = s.ticks();
        assert_eq!(step, 2.0);
        assert_eq!(t, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let l = Scale {
            log: true,
            d0: 1.0,
            d1: 1000.0,
            r0: 0.0,
            r1: 300.0,
        };
        assert!((l.map(10.0) - 100.0).abs() < 1e-9);
        assert_eq!(l.ticks().0.first(), Some(&1.0));
        // 1-2-5 ends: a narrow range fills the chart, a wide one gets whole decades.
        let n = log_latency_scale(0.93, 1.21);
        assert_eq!((n.d0, n.d1), (0.5, 2.0));
        assert_eq!(n.ticks().0, vec![0.5, 1.0, 2.0]);
        let w = log_latency_scale(0.08, 466.0);
        assert_eq!((w.d0, w.d1), (0.05, 500.0));
        assert_eq!(nice_log_bound(1.0, false), 1.0);
        assert_eq!(nice_log_bound(1.0, true), 1.0);
        assert_eq!(nice_log_bound(6.0, true), 10.0);
    }
}
