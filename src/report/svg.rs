//! The report's charts, hand-written as standalone SVG (no plotting dependency, no
//! script, nothing fetched): the response-time scatter, throughput per interval,
//! latency percentiles per interval, the latency histogram and the percentile
//! spectrum. report.html inlines the same SVG, with per-interval hover titles added.
//!
//! The scatter can hold a couple of hundred thousand points, far too many for SVG
//! elements, so its points are drawn into a raster (at twice the display resolution)
//! embedded as a PNG inside the SVG, with vector axes and text around it. The PNG
//! encoder is the minimum the format needs: one IDAT of zlib (flate2, which
//! hdrhistogram already builds) and CRC-32.

use std::fmt::Write as _;

use super::{IntervalLatency, IntervalStats, Point, Report};
use crate::report::fmt::{base64, count, esc, fmt_ns, fmt_secs, trim};

const W: f64 = 960.0;
const H: f64 = 400.0;
const LEFT: f64 = 76.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 62.0;
const BOTTOM: f64 = 50.0;
/// Raster pixels per SVG unit in the scatter.
const DPR: usize = 2;

const FONT: &str = "system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif";
const INK: &str = "#1f2937";
const MUTED: &str = "#6b7280";
const GRID: &str = "#e5e7eb";
const C_OK: &str = "#2563eb";
const C_HTTP_ERR: &str = "#d97706";
const C_FAIL: &str = "#dc2626";
const C_P50: &str = "#2563eb";
const C_P90: &str = "#0d9488";
const C_P99: &str = "#d97706";
const C_MAX: &str = "#7c3aed";
const C_MEAN: &str = "#6b7280";

/// Every chart of a report, as SVG text.
pub struct Charts {
    pub scatter: String,
    pub throughput: String,
    pub latency: String,
    pub histogram: String,
    pub spectrum: String,
    /// The interval charts with an invisible hover target per interval whose title
    /// the browser shows (for report.html; the standalone files stay lean).
    pub throughput_hover: String,
    pub latency_hover: String,
}

impl Charts {
    pub fn build(r: &Report) -> Charts {
        let (throughput, latency) = (throughput(r), latency_over_time(r));
        Charts {
            scatter: scatter(r),
            throughput: throughput.svg.clone(),
            latency: latency.svg.clone(),
            histogram: histogram(r),
            spectrum: spectrum(r),
            throughput_hover: throughput.with_targets(),
            latency_hover: latency.with_targets(),
        }
    }

    /// (file name, SVG) for each standalone chart.
    pub fn files(&self) -> [(&'static str, &str); 5] {
        [
            ("scatter.svg", &self.scatter),
            ("throughput.svg", &self.throughput),
            ("latency-over-time.svg", &self.latency),
            ("latency-histogram.svg", &self.histogram),
            ("percentile-spectrum.svg", &self.spectrum),
        ]
    }
}

// ---------------------------------------------------------------------------------
// Scales and axes

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
fn latency_scale(min: f64, typical: f64, max: f64) -> Scale {
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
fn log_latency_scale(lo: f64, hi: f64) -> Scale {
    let d0 = nice_log_bound(lo, false);
    Scale {
        log: true,
        d0,
        d1: nice_log_bound(hi, true).max(d0 * 2.0),
        r0: H - BOTTOM,
        r1: TOP,
    }
}

fn time_scale(r: &Report) -> Scale {
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

/// The opening of a chart: root element, background, title, subtitle.
fn open(s: &mut String, title: &str, subtitle: &str) {
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="{FONT}" font-size="12" fill="{INK}"><rect width="{W}" height="{H}" fill="#ffffff"/><text x="{LEFT}" y="24" font-size="16" font-weight="600">{}</text><text x="{LEFT}" y="43" fill="{MUTED}">{}</text>"##,
        esc(title),
        esc(subtitle)
    );
}

/// Ticks of `x` labelled as plain numbers.
fn ticks_of(x: &Scale) -> Vec<(f64, String)> {
    let (t, step) = x.ticks();
    t.into_iter().map(|v| (v, tick_label(v, step))).collect()
}

/// Grid, ticks and axis labels.
fn axes(
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

/// How a legend entry is drawn.
#[derive(Clone, Copy, PartialEq)]
enum Mark {
    Line,
    Dashed,
    Dot,
}

/// A legend in the top right: (colour, label, mark).
fn legend(s: &mut String, items: &[(&str, String, Mark)]) {
    // Right-aligned by a rough measure of the text (6.6 units per character).
    let widths: Vec<f64> = items
        .iter()
        .map(|(_, l, _)| 30.0 + 6.6 * l.chars().count() as f64)
        .collect();
    let mut x = W - RIGHT - widths.iter().sum::<f64>() + 8.0;
    for ((colour, label, mark), w) in items.iter().zip(widths) {
        if *mark == Mark::Dot {
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="20" r="4" fill="{colour}"/>"##,
                x + 8.0
            );
        } else {
            let dash = if *mark == Mark::Dashed {
                r#" stroke-dasharray="4 3""#
            } else {
                ""
            };
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" x2="{:.1}" y1="20" y2="20" stroke="{colour}" stroke-width="3"{dash}/>"##,
                x + 16.0
            );
        }
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="24">{}</text>"##,
            x + 21.0,
            esc(label)
        );
        x += w;
    }
}

fn empty_note(s: &mut String, what: &str) {
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{MUTED}" font-size="14">{}</text>"##,
        W / 2.0,
        H / 2.0,
        esc(what)
    );
    close(s);
}

fn close(s: &mut String) {
    s.push_str("</svg>\n");
}

fn latency_label(unit: Unit, y: &Scale) -> String {
    format!(
        "response time ({}){}",
        unit.name,
        if y.log { ", log scale" } else { "" }
    )
}

// ---------------------------------------------------------------------------------
// The charts

fn scatter(r: &Report) -> String {
    let mut s = String::new();
    let shown = (r.scatter.len() + r.error_points.len()) as u64;
    let seen = r.scatter_seen + r.error_points_seen;
    let subtitle = if shown == seen {
        format!("every request ({}), by completion time", count(seen))
    } else {
        let fails = if r.error_points_seen == 0 {
            String::new()
        } else if r.error_points.len() as u64 == r.error_points_seen {
            format!("; all {} failures", count(r.error_points_seen))
        } else {
            format!(
                "; failures: {} of {}",
                count(r.error_points.len() as u64),
                count(r.error_points_seen)
            )
        };
        format!(
            "{} of {} requests (a uniform random sample), by completion time{fails}",
            count(shown),
            count(seen),
        )
    };
    open(&mut s, "Response time of every request", &subtitle);
    if shown == 0 {
        empty_note(&mut s, "no requests");
        return s;
    }
    let all = || r.scatter.iter().chain(r.error_points.iter());
    let max_s = all().map(|p| p.latency_ns).max().unwrap_or(0) as f64 / 1e9;
    let unit = latency_unit(max_s);
    let typical = r
        .summary
        .latency_s
        .as_ref()
        .map_or(max_s, |l| l.p99.max(l.p50 * 4.0))
        * unit.per_s;
    let min = all()
        .map(|p| p.latency_ns)
        .filter(|v| *v > 0)
        .min()
        .unwrap_or(1) as f64
        / 1e9
        * unit.per_s;
    let y = latency_scale(min, typical, max_s * unit.per_s);
    let x = time_scale(r);
    axes(
        &mut s,
        &x,
        &y,
        "time since start (s)",
        &latency_label(unit, &y),
        &ticks_of(&x),
    );
    let (pw, ph) = (
        (W - LEFT - RIGHT) as usize * DPR,
        (H - TOP - BOTTOM) as usize * DPR,
    );
    let mut img = Raster::new(pw, ph);
    // Fainter dots the more there are, so dense bands read as density.
    let ok_alpha = (30_000.0 / r.scatter.len().max(1) as f64).clamp(0.25, 0.85);
    let plot = |img: &mut Raster, p: &Point, rgb: [u8; 3], alpha: f64, size: usize| {
        let px = (x.map(p.end_ns as f64 / 1e9) - LEFT) * DPR as f64;
        let py = (y.map(p.latency_ns as f64 / 1e9 * unit.per_s) - TOP) * DPR as f64;
        img.dot(px, py, size, rgb, alpha);
    };
    for p in r.scatter.iter().filter(|p| p.status < 400) {
        plot(&mut img, p, [0x25, 0x63, 0xeb], ok_alpha, 3);
    }
    let mut http_errors = false;
    for p in r.scatter.iter().filter(|p| p.status >= 400) {
        http_errors = true;
        plot(&mut img, p, [0xd9, 0x77, 0x06], 0.7, 3);
    }
    // Failures last, bigger and opaque: they must never hide under successes.
    for p in &r.error_points {
        plot(&mut img, p, [0xdc, 0x26, 0x26], 0.8, 4);
    }
    let png = base64(&img.png());
    let _ = write!(
        s,
        r##"<image x="{LEFT}" y="{TOP}" width="{}" height="{}" preserveAspectRatio="none" href="data:image/png;base64,{png}" xlink:href="data:image/png;base64,{png}"/>"##,
        W - LEFT - RIGHT,
        H - TOP - BOTTOM,
    );
    let mut items = vec![(C_OK, "success".to_string(), Mark::Dot)];
    if http_errors {
        items.push((C_HTTP_ERR, "HTTP 4xx/5xx".to_string(), Mark::Dot));
    }
    if !r.error_points.is_empty() {
        items.push((C_FAIL, "failed".to_string(), Mark::Dot));
    }
    legend(&mut s, &items);
    close(&mut s);
    s
}

/// Intervals in groups of consecutive ones, so a chart draws at most about two
/// points per pixel column however many intervals there are.
fn groups(intervals: &[IntervalStats]) -> Vec<&[IntervalStats]> {
    let max_points = ((W - LEFT - RIGHT) * 2.0) as usize;
    let per = intervals.len().div_ceil(max_points).max(1);
    intervals.chunks(per).collect()
}

fn span(g: &[IntervalStats]) -> (f64, f64) {
    (
        g[0].start_ns as f64 / 1e9,
        g[g.len() - 1].end_ns as f64 / 1e9,
    )
}

/// An interval chart, drawn once, and the hover targets report.html inserts into it
/// (before the legend, which stays on top).
struct IntervalChart {
    svg: String,
    targets_at: usize,
    targets: String,
}

impl IntervalChart {
    /// A chart with nothing to hover (no intervals).
    fn plain(svg: String) -> IntervalChart {
        IntervalChart {
            targets_at: svg.len(),
            svg,
            targets: String::new(),
        }
    }

    fn with_targets(&self) -> String {
        let mut s = self.svg.clone();
        s.insert_str(self.targets_at, &self.targets);
        s
    }
}

fn throughput(r: &Report) -> IntervalChart {
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

/// Invisible full-height rectangles, one per group of intervals, whose `<title>` the
/// browser shows on hover.
fn hover_targets(s: &mut String, r: &Report, gs: &[&[IntervalStats]], x: &Scale) {
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

type Pick = fn(&IntervalLatency) -> f64;

fn latency_over_time(r: &Report) -> IntervalChart {
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

fn histogram(r: &Report) -> String {
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

fn spectrum(r: &Report) -> String {
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
    for (i, v) in h.iter_quantiles(super::hlog::TICKS_PER_HALF).enumerate() {
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

// ---------------------------------------------------------------------------------
// Raster and PNG

/// An RGB image on white, for the scatter's points.
struct Raster {
    w: usize,
    h: usize,
    px: Vec<[f32; 3]>,
}

impl Raster {
    fn new(w: usize, h: usize) -> Raster {
        Raster {
            w,
            h,
            px: vec![[255.0; 3]; w * h],
        }
    }

    /// A `size`-pixel square dot centred at (x, y), alpha-blended.
    fn dot(&mut self, x: f64, y: f64, size: usize, rgb: [u8; 3], alpha: f64) {
        if !(x.is_finite() && y.is_finite()) || x < -4.0 || y < -4.0 {
            return;
        }
        let half = size as f64 / 2.0;
        let x0 = (x - half).round().max(0.0) as usize;
        let y0 = (y - half).round().max(0.0) as usize;
        let a = alpha as f32;
        for yy in y0..(y0 + size).min(self.h) {
            for xx in x0..(x0 + size).min(self.w) {
                let p = &mut self.px[yy * self.w + xx];
                for (c, v) in p.iter_mut().zip(rgb) {
                    *c = *c * (1.0 - a) + v as f32 * a;
                }
            }
        }
    }

    /// The image as PNG bytes; pixels nothing was drawn on are transparent, so the
    /// chart's grid shows through.
    fn png(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity(self.h * (1 + self.w * 4));
        for row in self.px.chunks(self.w) {
            raw.push(0); // filter type: none
            for p in row {
                let [r, g, b] = p.map(|c| c.round().clamp(0.0, 255.0) as u8);
                let a = if [r, g, b] == [255, 255, 255] { 0 } else { 255 };
                raw.extend_from_slice(&[r, g, b, a]);
            }
        }
        png_encode(self.w as u32, self.h as u32, &raw)
    }
}

/// Encodes RGBA scanlines (each led by its filter byte) as a PNG.
pub fn png_encode(w: u32, h: u32, raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    // Writing into a Vec cannot fail.
    let _ = z.write_all(raw);
    let idat = z.finish().unwrap_or_default();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA, deflate, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// CRC-32 (IEEE), as PNG chunks need (flate2's, already linked for the deflate).
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc() {
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

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

    #[test]
    fn png_is_well_formed() {
        let mut r = Raster::new(4, 3);
        r.dot(1.0, 1.0, 2, [255, 0, 0], 1.0);
        let png = r.png();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
    }
}
