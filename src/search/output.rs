//! What a search leaves: its last lines (the maximum rate and what limited it),
//! `search.json` (every step: rate, achieved rate, p50/p99/max, errors, verdict; and
//! the maximum) and `search.html` (p50 and p99 against the rate, errors against the
//! rate, the steps' table).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::plan::{End, Outcome};
use super::{Step, fmt_rate};
use crate::cli::args::SearchArgs;
use crate::report::fmt::{esc, fmt_secs};

/// The schema identifier of search.json.
pub const SCHEMA: &str = "barrage-search/1";

fn verdict_line(s: Option<&Step>) -> String {
    s.and_then(|s| s.summary.as_ref())
        .and_then(|s| s.verdict.as_ref())
        .map_or("no verdict".to_string(), |v| v.line.clone())
}

/// The lines that end a search.
pub fn ending(end: &End, steps: &[Step]) -> String {
    let at = |rate: Option<f64>| steps.iter().rev().find(|s| Some(s.rate) == rate);
    let limiting = at(end.limit_rate);
    let mut out = String::new();
    match (end.limit, end.max_rate) {
        ("server", Some(m)) => {
            let l = limiting.expect("the step that broke the SLO");
            let _ = writeln!(out, "max rate holding the SLO: {} req/s", fmt_rate(m));
            let _ = writeln!(
                out,
                "  limited by the server: step {:02} at {} req/s: {}",
                l.n,
                fmt_rate(l.rate),
                l.broken.join("; ")
            );
            let _ = writeln!(out, "  {}", verdict_line(Some(l)));
        }
        ("to", Some(m)) => {
            let _ = writeln!(
                out,
                "max rate holding the SLO: {} req/s (--to: the SLO still held there; raise --to to look higher)",
                fmt_rate(m)
            );
            let _ = writeln!(out, "  {}", verdict_line(steps.last()));
        }
        ("generator", _) => {
            let l = limiting.expect("the step barrage could not drive");
            let _ = writeln!(
                out,
                "max rate holding the SLO: not found: the generator was the limit at {} req/s (step {:02}), not the server",
                fmt_rate(l.rate),
                l.n
            );
            if let Some(h) = end.held {
                let _ = writeln!(
                    out,
                    "  the SLO held up to {} req/s, as far as barrage could drive: add processes or hosts",
                    fmt_rate(h)
                );
            }
            let _ = writeln!(out, "  {}", verdict_line(Some(l)));
        }
        ("from", _) => {
            let first = steps.first();
            let _ = writeln!(
                out,
                "max rate holding the SLO: not found: the first step, --from {} req/s, already broke it ({}): try a lower --from",
                first.map_or("?".to_string(), |s| fmt_rate(s.rate)),
                first.map_or(String::new(), |s| s.broken.join("; "))
            );
            let _ = writeln!(out, "  {}", verdict_line(first));
        }
        _ => {
            let _ = writeln!(
                out,
                "max rate holding the SLO: not found: the search was interrupted{}",
                end.held.map_or(String::new(), |h| format!(
                    " (the SLO held up to {} req/s)",
                    fmt_rate(h)
                ))
            );
        }
    }
    out
}

fn step_json(s: &Step) -> Value {
    let sum = s.summary.as_ref();
    let lat =
        |f: fn(&crate::report::json::Latency) -> f64| sum.and_then(|s| s.latency_s.as_ref()).map(f);
    let v = sum.and_then(|s| s.verdict.as_ref());
    json!({
        "step": s.n,
        "rate": s.rate,
        "dir": s.dir.display().to_string(),
        "achieved_rps": sum.map(|s| s.requests.rps),
        "requests": sum.map(|s| s.requests.total),
        "p50_s": lat(|l| l.p50),
        "p99_s": lat(|l| l.p99),
        "max_s": lat(|l| l.max),
        "errors": sum.map(|s| s.requests.errors),
        "error_ratio": sum.map(|s| s.requests.error_ratio),
        "outcome": match s.outcome {
            Outcome::Held => "held",
            Outcome::Broken => "broken",
            Outcome::Generator => "generator-limited",
            Outcome::Interrupted => "interrupted",
        },
        "broken": s.broken,
        "verdict": v.map(|v| v.limit.name()),
        "verdict_line": v.map(|v| v.line.clone()),
    })
}

/// search.json.
pub fn json(a: &SearchArgs, end: &End, steps: &[Step]) -> String {
    let v = json!({
        "schema": SCHEMA,
        "barrage_version": env!("CARGO_PKG_VERSION"),
        "url": a.run.url,
        "slo": a.slo.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        "from": a.from.unwrap_or(100.0),
        "to": a.to,
        "step_duration_s": a.step_duration.as_secs_f64(),
        "precision": a.search_precision,
        "max_rate": end.max_rate,
        "held_up_to": end.held,
        "limit": end.limit,
        "limit_rate": end.limit_rate,
        "steps": steps.iter().map(step_json).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&v).expect("json") + "\n"
}

const W: f64 = 760.0;
const H: f64 = 300.0;
const L: f64 = 70.0;
const R: f64 = 20.0;
const T: f64 = 30.0;
const B: f64 = 40.0;

/// A chart's series: its name, colour, and (rate, value) points.
type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);

/// One chart: points (rate, value) per series, on a linear x and y from 0.
fn chart(
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
    fmt: fn(f64) -> String,
    xmax: f64,
    lines: &[(f64, String)],
) -> String {
    let ymax = series
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|q| q.1))
        .chain(lines.iter().map(|l| l.0))
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    let xmax = xmax.max(1e-9) * 1.05;
    let x = |v: f64| L + v / xmax * (W - L - R);
    let y = |v: f64| H - B - v / ymax * (H - T - B);
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="system-ui,sans-serif" font-size="12"><text x="{L}" y="18" font-size="14" font-weight="600">{}</text>"##,
        esc(title)
    );
    let _ = write!(
        s,
        r##"<line x1="{L}" y1="{}" x2="{}" y2="{}" stroke="#999"/><line x1="{L}" y1="{T}" x2="{L}" y2="{}" stroke="#999"/>"##,
        H - B,
        W - R,
        H - B,
        H - B
    );
    for i in 0..=4 {
        let xv = xmax / 1.05 * i as f64 / 4.0;
        let yv = ymax / 1.1 * i as f64 / 4.0;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">{}</text><text x="{}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            x(xv),
            H - B + 16.0,
            fmt_rate(xv),
            L - 6.0,
            y(yv) + 4.0,
            esc(&fmt(yv))
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">requests per second asked for</text><text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle" fill="#555">{}</text>"##,
        (L + W - R) / 2.0,
        H - 6.0,
        (T + H - B) / 2.0,
        (T + H - B) / 2.0,
        esc(y_label)
    );
    for (v, label) in lines {
        let _ = write!(
            s,
            r##"<line x1="{L}" y1="{:.1}" x2="{}" y2="{:.1}" stroke="#dc2626" stroke-dasharray="4 3"/><text x="{}" y="{:.1}" text-anchor="end" fill="#dc2626">{}</text>"##,
            y(*v),
            W - R,
            y(*v),
            W - R,
            y(*v) - 4.0,
            esc(label)
        );
    }
    for (k, (name, colour, pts)) in series.iter().enumerate() {
        let mut pts = pts.clone();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let d: Vec<String> = pts
            .iter()
            .enumerate()
            .map(|(i, (a, b))| {
                format!(
                    "{}{:.1} {:.1}",
                    if i == 0 { 'M' } else { 'L' },
                    x(*a),
                    y(*b)
                )
            })
            .collect();
        let _ = write!(
            s,
            r##"<path d="{}" fill="none" stroke="{colour}" stroke-width="1.5"/>"##,
            d.join("")
        );
        for (a, b) in &pts {
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"><title>{} req/s: {name} {}</title></circle>"##,
                x(*a),
                y(*b),
                fmt_rate(*a),
                esc(&fmt(*b))
            );
        }
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" fill="{colour}">{name}</text>"##,
            W - R - 80.0,
            T + 14.0 * k as f64
        );
    }
    s.push_str("</svg>");
    s
}

/// search.html: the two charts and the steps' table.
pub fn html(a: &SearchArgs, end: &End, steps: &[Step]) -> String {
    let pts = |f: fn(&crate::report::json::Latency) -> f64| -> Vec<(f64, f64)> {
        steps
            .iter()
            .filter_map(|s| {
                let l = s.summary.as_ref()?.latency_s.as_ref()?;
                Some((s.rate, f(l)))
            })
            .collect()
    };
    let xmax = steps.iter().map(|s| s.rate).fold(0.0, f64::max);
    let slo_lines: Vec<(f64, String)> = a
        .slo
        .iter()
        .filter(|t| {
            t.metric.name().starts_with('p')
                || t.metric.name() == "mean"
                || t.metric.name() == "max"
        })
        .map(|t| (t.value, format!("SLO {t}")))
        .collect();
    let latency = chart(
        "Latency against rate",
        "latency",
        &[
            ("p50", "#2563eb", pts(|l| l.p50)),
            ("p99", "#7c3aed", pts(|l| l.p99)),
        ],
        fmt_secs,
        xmax,
        &slo_lines,
    );
    let errors: Vec<(f64, f64)> = steps
        .iter()
        .filter_map(|s| Some((s.rate, 100.0 * s.summary.as_ref()?.requests.error_ratio)))
        .collect();
    let errors = chart(
        "Errors against rate",
        "errors (%)",
        &[("errors", "#dc2626", errors)],
        |v| format!("{v:.2}%"),
        xmax,
        &[],
    );
    let mut rows = String::new();
    for s in steps {
        let sum = s.summary.as_ref();
        let lat = |f: fn(&crate::report::json::Latency) -> f64| {
            sum.and_then(|s| s.latency_s.as_ref())
                .map_or("–".to_string(), |l| fmt_secs(f(l)))
        };
        let _ = write!(
            rows,
            "<tr><td>{:02}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            s.n,
            fmt_rate(s.rate),
            sum.map_or("–".to_string(), |s| format!("{:.1}", s.requests.rps)),
            lat(|l| l.p50),
            lat(|l| l.p99),
            lat(|l| l.max),
            sum.map_or("–".to_string(), |s| format!(
                "{:.2}%",
                100.0 * s.requests.error_ratio
            )),
            esc(&match s.outcome {
                Outcome::Held => "held".to_string(),
                Outcome::Broken => s.broken.join("; "),
                Outcome::Generator => "generator was the limit".to_string(),
                Outcome::Interrupted => "interrupted".to_string(),
            }),
            esc(&sum
                .and_then(|s| s.verdict.as_ref())
                .map_or("–".to_string(), |v| v.line.clone()))
        );
    }
    let title = ending(end, steps);
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>barrage search: {url}</title><style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:24px auto;color:#111}}table{{border-collapse:collapse;width:100%;font-size:13px}}td,th{{padding:4px 6px;border-bottom:1px solid #ddd;text-align:right}}td.l{{text-align:left}}pre{{background:#f6f6f6;padding:10px}}svg{{max-width:100%;height:auto;display:block;margin:12px 0}}</style></head><body><h1>barrage search</h1><p><code>{url}</code> · SLO {slo} · steps of {dur}</p><pre>{title}</pre>{latency}{errors}<table><tr><th>step</th><th>rate</th><th>achieved/s</th><th>p50</th><th>p99</th><th>max</th><th>errors</th><th class=\"l\">outcome</th><th class=\"l\">verdict</th></tr>{rows}</table></body></html>\n",
        url = esc(a.run.url.as_deref().unwrap_or("")),
        slo = esc(&a
            .slo
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")),
        dur = esc(&crate::report::fmt::fmt_duration(a.step_duration)),
        title = esc(&title),
    )
}
