//! The report's charts, hand-written as standalone SVG (no plotting dependency, no
//! script, nothing fetched): one file per chart (`scatter.rs`, `throughput.rs`,
//! `percentiles.rs`, `histogram.rs`, `spectrum.rs`), the scales and axes they share
//! (`axis.rs`), and the grouping of intervals and hover targets of the two interval
//! charts (`groups.rs`). report.html inlines the same SVG, with per-interval hover
//! titles added.
//!
//! This file owns what every chart shares: [`Charts`] (all of a report's charts, and
//! their file names), the canvas's size and margins, the colours, and a chart's frame
//! (opening, legend, empty note, closing).

use std::fmt::Write as _;

use super::Report;
use crate::report::fmt::esc;

mod axis;
mod groups;
mod histogram;
mod percentiles;
mod scatter;
mod spectrum;
mod throughput;

const W: f64 = 960.0;
const H: f64 = 400.0;
const LEFT: f64 = 76.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 62.0;
const BOTTOM: f64 = 50.0;

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
        let (throughput, latency) = (throughput::throughput(r), percentiles::latency_over_time(r));
        Charts {
            scatter: scatter::scatter(r),
            throughput: throughput.svg.clone(),
            latency: latency.svg.clone(),
            histogram: histogram::histogram(r),
            spectrum: spectrum::spectrum(r),
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

/// The opening of a chart: root element, background, title, subtitle.
fn open(s: &mut String, title: &str, subtitle: &str) {
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="{FONT}" font-size="12" fill="{INK}"><rect width="{W}" height="{H}" fill="#ffffff"/><text x="{LEFT}" y="24" font-size="16" font-weight="600">{}</text><text x="{LEFT}" y="43" fill="{MUTED}">{}</text>"##,
        esc(title),
        esc(subtitle)
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
