//! What `/metrics` says: the progress board's counters summed over this host's loops
//! ([`Scrape::read`]), with the open-loop schedule's lag and backlog worked out here
//! from the plan (the loops do nothing for them), written in the Prometheus text
//! exposition format 0.0.4 or OpenMetrics 1.0 ([`render`]).
//!
//! Every sample carries the labels `run_id`, `host_id` and `shard`, so the hosts of a
//! distributed run scraped together sum with `sum without (host_id, shard)`. Every
//! series exists from the first scrape (zeros included), so rates start at the start.

use std::fmt::Write;
use std::time::Instant;

use crate::engine::plan::Plan;
use crate::engine::progress::{Board, CLASSES, HIST, HIST_BOUNDS_NS, KINDS, LoopCounters};
use crate::record::ErrorKind;

/// A request intended this recently is not yet counted as behind schedule: the loops'
/// timers have whole-millisecond granularity (`worker::TIMER_GRANULARITY_NS`), and
/// the board is read while they run.
const SCHEDULE_SLACK_NS: u64 = 2_000_000;

/// The status class label of each counted class (`progress::CLASSES`): `none` is a
/// request that got no complete response (reported as status 0).
const CLASS_NAMES: [&str; CLASSES] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// Which exposition format a scrape asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (the default).
    Text,
    /// OpenMetrics 1.0, when the `Accept` header asks for application/openmetrics-text.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header value asks for.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The labels on every sample.
#[derive(Debug, Clone)]
pub struct Labels {
    pub run_id: String,
    pub host_id: String,
    pub shard: u32,
}

/// This host's counters at one instant, summed over its loops.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// Seconds since the load started (0 before a `--start-at`).
    pub elapsed_s: f64,
    pub requests: u64,
    pub started: u64,
    pub bytes: u64,
    pub latency_sum_ns: u128,
    pub classes: [u64; CLASSES],
    /// By error code (index 0 unused here: requests without error).
    pub kinds: Vec<u64>,
    /// The latency histogram, per bucket (not cumulative).
    pub hist: [u64; HIST],
    pub opened: u64,
    pub open: u64,
    /// Open loop: the requests the schedule wanted started by now that have not
    /// started, and how late the oldest of them is (ns). `None` in closed loop.
    pub schedule: Option<(u64, u64)>,
}

impl Scrape {
    /// Reads the board at `now` (after the load: when it ended); `base` is the run's
    /// time base.
    pub fn read(board: &Board, plan: &Plan, base: Instant, now: Instant) -> Scrape {
        let now_ns = now.saturating_duration_since(base).as_nanos() as u64;
        let loops = board.counters();
        let mut s = Scrape::sum(&loops);
        s.elapsed_s = now_ns as f64 / 1e9;
        s.schedule = plan.load.is_open().then(|| behind(plan, &loops, now_ns));
        s
    }

    /// The loops' counters summed.
    pub fn sum(loops: &[LoopCounters]) -> Scrape {
        let mut s = Scrape {
            kinds: vec![0; KINDS],
            ..Scrape::default()
        };
        for c in loops {
            s.requests += c.requests;
            s.started += c.started;
            s.bytes += c.bytes;
            s.latency_sum_ns += c.latency_sum_ns as u128;
            s.opened += c.opened;
            s.open += c.open;
            for (a, b) in s.classes.iter_mut().zip(&c.classes) {
                *a += b;
            }
            for (a, b) in s.kinds.iter_mut().zip(&c.kinds) {
                *a += b;
            }
            for (a, b) in s.hist.iter_mut().zip(&c.hist) {
                *a += b;
            }
        }
        s
    }
}

/// Open loop: the requests intended before `now_ns` (less the timers' slack, within
/// the run's bounds) that no loop has started, and how late the oldest is (ns). Loop
/// `l`'s `started` is how far along its own share of the schedule it is.
fn behind(plan: &Plan, loops: &[LoopCounters], now_ns: u64) -> (u64, u64) {
    let t = now_ns.saturating_sub(SCHEDULE_SLACK_NS);
    let t = plan.end_ns().map_or(t, |end| t.min(end));
    let (mut unsent, mut lag) = (0, 0);
    for (l, c) in loops.iter().enumerate() {
        let Some(schedule) = plan.loop_schedule(l) else {
            continue;
        };
        let mut due = schedule.due_before(t);
        if let Some(q) = plan.loop_requests(l) {
            due = due.min(q);
        }
        let waiting = due.saturating_sub(c.started);
        if waiting > 0 {
            unsent += waiting;
            if let Some(at) = schedule.intended(c.started) {
                lag = lag.max(now_ns.saturating_sub(at));
            }
        }
    }
    (unsent, lag)
}

/// The scrape in the asked format.
pub fn render(s: &Scrape, labels: &Labels, format: Format) -> String {
    let mut w = Writer {
        out: String::with_capacity(8 * 1024),
        labels: format!(
            "run_id=\"{}\",host_id=\"{}\",shard=\"{}\"",
            escape(&labels.run_id),
            escape(&labels.host_id),
            labels.shard
        ),
        format,
    };
    w.family(
        "barrage_requests_total",
        "counter",
        "Requests completed, by HTTP status class (none: no complete response).",
    );
    for (name, v) in CLASS_NAMES.iter().zip(&s.classes) {
        w.sample("barrage_requests_total", &format!("class=\"{name}\""), *v);
    }
    w.family(
        "barrage_request_errors_total",
        "counter",
        "Requests completed with an error, by error kind.",
    );
    for kind in ErrorKind::ALL.iter().filter(|k| **k != ErrorKind::None) {
        let v = s.kinds.get(*kind as usize).copied().unwrap_or(0);
        w.sample(
            "barrage_request_errors_total",
            &format!("kind=\"{}\"", kind_label(*kind)),
            v,
        );
    }
    w.family(
        "barrage_requests_started_total", "counter", "Requests started.",
    );
    w.sample("barrage_requests_started_total", "", s.started);
    w.family(
        "barrage_requests_in_flight",
        "gauge",
        "Requests started and not yet completed.",
    );
    w.sample(
        "barrage_requests_in_flight",
        "",
        s.started.saturating_sub(s.requests),
    );
    w.family(
        "barrage_connections_opened_total",
        "counter",
        "Connections opened (successful TCP connects).",
    );
    w.sample("barrage_connections_opened_total", "", s.opened);
    w.family(
        "barrage_connections_open",
        "gauge",
        "Connections open now (connected or in a TLS handshake).",
    );
    w.sample("barrage_connections_open", "", s.open);
    w.family(
        "barrage_read_bytes_total",
        "counter",
        "Response bytes read (heads and bodies, as framed).",
    );
    w.sample("barrage_read_bytes_total", "", s.bytes);
    if let Some((unsent, lag_ns)) = s.schedule {
        w.family(
            "barrage_schedule_unsent_requests",
            "gauge",
            "Open loop: requests the schedule wanted started by now that have not started.",
        );
        w.sample("barrage_schedule_unsent_requests", "", unsent);
        w.family(
            "barrage_schedule_lag_seconds",
            "gauge",
            "Open loop: how late the oldest request not yet started is.",
        );
        w.sample_f("barrage_schedule_lag_seconds", "", lag_ns as f64 / 1e9);
    }
    w.family(
        "barrage_elapsed_seconds", "gauge", "Seconds since the load started.",
    );
    w.sample_f("barrage_elapsed_seconds", "", s.elapsed_s);
    w.family(
        "barrage_request_duration_seconds",
        "histogram",
        "Latency of completed requests (from the intended start in open loop), errors included.",
    );
    let mut cumulative = 0;
    for (b, n) in s.hist.iter().enumerate() {
        cumulative += n;
        let le = match HIST_BOUNDS_NS.get(b) {
            Some(ns) => float(*ns as f64 / 1e9),
            None => "+Inf".to_string(),
        };
        w.sample(
            "barrage_request_duration_seconds_bucket",
            &format!("le=\"{le}\""),
            cumulative,
        );
    }
    w.sample_f(
        "barrage_request_duration_seconds_sum",
        "",
        s.latency_sum_ns as f64 / 1e9,
    );
    w.sample("barrage_request_duration_seconds_count", "", cumulative);
    if format == Format::OpenMetrics {
        w.out.push_str("# EOF\n");
    }
    w.out
}

struct Writer {
    out: String,
    labels: String,
    format: Format,
}

impl Writer {
    /// `# HELP` and `# TYPE` of a family. OpenMetrics names a counter family without
    /// its `_total` suffix.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let name = match (self.format, kind) {
            (Format::OpenMetrics, "counter") => name.trim_end_matches("_total"),
            _ => name,
        };
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, extra: &str, v: u64) {
        self.sample_str(name, extra, &v.to_string());
    }

    fn sample_f(&mut self, name: &str, extra: &str, v: f64) {
        self.sample_str(name, extra, &float(v));
    }

    fn sample_str(&mut self, name: &str, extra: &str, v: &str) {
        let sep = if extra.is_empty() { "" } else { "," };
        let _ = writeln!(self.out, "{name}{{{extra}{sep}{}}} {v}", self.labels);
    }
}

/// A float as both formats take it, with a decimal point (OpenMetrics wants `le`
/// values canonical: `1.0`, not `1`).
fn float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// A label value escaped: backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// An error kind as a label value: its variant's name in snake case
/// (`ConnectRefused` -> `connect_refused`), a stable identifier for queries.
pub fn kind_label(kind: ErrorKind) -> String {
    let mut out = String::new();
    for (i, ch) in format!("{kind:?}").chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape() -> Scrape {
        let mut s = Scrape {
            requests: 5,
            started: 7,
            bytes: 500,
            latency_sum_ns: 3_500_000_000,
            classes: [1, 0, 3, 0, 0, 1, 0],
            kinds: vec![0; KINDS],
            opened: 2,
            open: 1,
            schedule: Some((3, 1_500_000)),
            elapsed_s: 2.5,
            ..Scrape::default()
        };
        s.kinds[0] = 4;
        s.kinds[ErrorKind::Timeout as usize] = 1;
        s.hist[0] = 2;
        s.hist[3] = 2;
        s.hist[HIST - 1] = 1;
        s
    }

    fn labels() -> Labels {
        Labels {
            run_id: "r\"1".into(),
            host_id: "h".into(),
            shard: 0,
        }
    }

    #[test]
    fn text_format_samples() {
        let t = render(&scrape(), &labels(), Format::Text);
        let l = r#"run_id="r\"1",host_id="h",shard="0""#;
        for want in [
            "# TYPE barrage_requests_total counter".to_string(),
            format!("barrage_requests_total{{class=\"2xx\",{l}}} 3"),
            format!("barrage_request_errors_total{{kind=\"timeout\",{l}}} 1"),
            format!("barrage_request_errors_total{{kind=\"connect_refused\",{l}}} 0"),
            format!("barrage_requests_in_flight{{{l}}} 2"),
            format!("barrage_schedule_lag_seconds{{{l}}} 0.0015"),
            format!("barrage_request_duration_seconds_bucket{{le=\"0.0001\",{l}}} 2"),
            format!("barrage_request_duration_seconds_bucket{{le=\"0.001\",{l}}} 4"),
            format!("barrage_request_duration_seconds_bucket{{le=\"60.0\",{l}}} 4"),
            format!("barrage_request_duration_seconds_bucket{{le=\"+Inf\",{l}}} 5"),
            format!("barrage_request_duration_seconds_count{{{l}}} 5"),
            format!("barrage_request_duration_seconds_sum{{{l}}} 3.5"),
        ] {
            assert!(t.lines().any(|line| line == want), "{want}\n{t}");
        }
        assert!(!t.contains("# EOF"));
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let t = render(&scrape(), &labels(), Format::OpenMetrics);
        assert!(t.contains("# TYPE barrage_requests counter\n"));
        assert!(t.contains("\nbarrage_requests_total{class=\"none\""));
        assert!(t.ends_with("# EOF\n"));
        assert_eq!(
            Format::from_accept(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(Format::from_accept(Some("*/*")), Format::Text);
    }

    #[test]
    fn closed_loop_has_no_schedule_series_and_kinds_are_snake_case() {
        let s = Scrape {
            schedule: None,
            ..scrape()
        };
        assert!(!render(&s, &labels(), Format::Text).contains("schedule"));
        assert_eq!(kind_label(ErrorKind::TlsOnPlain), "tls_on_plain");
        assert_eq!(kind_label(ErrorKind::Timeout), "timeout");
    }
}
