//! The end-of-run summary: counts, error kinds, status codes, throughput and latency
//! percentiles (HdrHistogram), accumulated in the same streaming pass that writes
//! results.csv, and printed for people.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;

use crate::sample::{ErrorKind, ProcessStats, Record};

/// Everything the terminal summary shows.
pub struct Summary {
    pub requests: u64,
    pub errors: u64,
    pub by_error: BTreeMap<ErrorKind, u64>,
    pub by_status: BTreeMap<u16, u64>,
    /// Latency of successful requests, ns (3 significant digits).
    pub latency: Histogram<u64>,
    pub bytes: u64,
    /// Last completion, ns since the time base: the run's length for throughput.
    pub last_end: u64,
    pub stats: ProcessStats,
    /// Report latency from the intended start for scheduled requests.
    pub corrected: bool,
}

impl Summary {
    pub fn new(corrected: bool) -> Summary {
        Summary {
            requests: 0,
            errors: 0,
            by_error: BTreeMap::new(),
            by_status: BTreeMap::new(),
            // 1 ns to 1 hour at 3 significant digits; longer values saturate.
            latency: Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds"),
            bytes: 0,
            last_end: 0,
            stats: ProcessStats::default(),
            corrected,
        }
    }

    #[inline]
    pub fn add(&mut self, r: &Record) {
        self.requests += 1;
        self.bytes += r.bytes as u64;
        self.last_end = self.last_end.max(r.end_ns);
        if r.status != 0 {
            *self.by_status.entry(r.status).or_insert(0) += 1;
        }
        if r.is_error() {
            self.errors += 1;
            *self.by_error.entry(r.error_kind()).or_insert(0) += 1;
        } else {
            self.latency
                .saturating_record(r.latency_ns(self.corrected).max(1));
        }
    }

    pub fn rate(&self) -> f64 {
        if self.last_end == 0 {
            0.0
        } else {
            self.requests as f64 / (self.last_end as f64 / 1e9)
        }
    }

    /// The multi-line text printed at the end of a run.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let secs = self.last_end as f64 / 1e9;
        let _ = writeln!(
            s,
            "  requests     {} in {:.2}s, {:.1}/s",
            self.requests,
            secs,
            self.rate()
        );
        let pct = if self.requests > 0 {
            100.0 * self.errors as f64 / self.requests as f64
        } else {
            0.0
        };
        let _ = writeln!(s, "  errors       {} ({pct:.2}%)", self.errors);
        for (kind, n) in &self.by_error {
            let _ = writeln!(s, "    {:<22} {n}", kind.name());
        }
        let statuses: Vec<String> = self
            .by_status
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(
            s,
            "  status       {}",
            if statuses.is_empty() {
                "none".into()
            } else {
                statuses.join(", ")
            }
        );
        if self.latency.is_empty() {
            let _ = writeln!(s, "  latency      no successful requests");
        } else {
            let h = &self.latency;
            let _ = writeln!(
                s,
                "  latency      mean {}  stdev {}  max {}",
                fmt_ns(h.mean() as u64),
                fmt_ns(h.stdev() as u64),
                fmt_ns(h.max())
            );
            let _ = writeln!(
                s,
                "               p50 {}  p90 {}  p99 {}  p99.9 {}",
                fmt_ns(h.value_at_quantile(0.5)),
                fmt_ns(h.value_at_quantile(0.9)),
                fmt_ns(h.value_at_quantile(0.99)),
                fmt_ns(h.value_at_quantile(0.999))
            );
        }
        let _ = writeln!(
            s,
            "  transfer     {} read, {}/s",
            fmt_bytes(self.bytes as f64),
            fmt_bytes(if secs > 0.0 {
                self.bytes as f64 / secs
            } else {
                0.0
            })
        );
        let st = &self.stats;
        let _ = writeln!(
            s,
            "  connections  {} opened, {} closed idle by the server, {} requests re-sent after such a close",
            st.connects, st.idle_closes, st.retries
        );
        if st.lost > 0 {
            let _ = writeln!(
                s,
                "  LOST         {} samples could not be recorded",
                st.lost
            );
        }
        s
    }
}

/// `512us`, `1.23ms`, `2.5s`.
pub fn fmt_ns(ns: u64) -> String {
    let v = ns as f64;
    if v < 1e3 {
        format!("{ns}ns")
    } else if v < 1e6 {
        format!("{:.1}us", v / 1e3)
    } else if v < 1e9 {
        format!("{:.2}ms", v / 1e6)
    } else {
        format!("{:.2}s", v / 1e9)
    }
}

pub fn fmt_bytes(b: f64) -> String {
    if b < 1024.0 {
        format!("{b:.0} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GiB", b / 1024.0 / 1024.0 / 1024.0)
    }
}
