//! The response-time scatter: every request (or a uniform sample of them) by
//! completion time. It can hold a couple of hundred thousand points, far too many for
//! SVG elements, so its points are drawn into a raster (at twice the display
//! resolution) embedded as a PNG inside the SVG, with vector axes and text around it.

use std::fmt::Write as _;

use super::axis::{axes, latency_label, latency_scale, latency_unit, ticks_of, time_scale};
use super::{BOTTOM, C_FAIL, C_HTTP_ERR, C_OK, H, LEFT, Mark, RIGHT, TOP, W};
use super::{close, empty_note, legend, open};
use crate::report::fmt::{base64, count};
use crate::report::png::Raster;
use crate::report::{Point, Report};

/// Raster pixels per SVG unit in the scatter.
const DPR: usize = 2;

pub(super) fn scatter(r: &Report) -> String {
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
