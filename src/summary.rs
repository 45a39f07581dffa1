//! The terminal summary printed at the end of `barrage run`, `barrage merge` and
//! `barrage report`: a rendering of the report's [`Summary`] (counts, errors by kind,
//! status codes, the latency table, transfer, connections) for people, plus the
//! number formats every human-facing output shares.

use std::fmt::Write as _;

use crate::report::Summary;
use crate::report::json::Latency;

/// The multi-line text printed at the end of a run.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let r = &s.requests;
    let _ = writeln!(
        out,
        "  requests     {} in {:.2}s, {:.1}/s",
        r.total, s.duration_s, r.rps
    );
    let _ = writeln!(
        out,
        "  errors       {} ({:.2}%)",
        r.errors,
        100.0 * r.error_ratio
    );
    for (kind, n) in s.errors_by_count() {
        let _ = writeln!(out, "    {kind:<22} {n}");
    }
    let statuses: Vec<String> = s.status.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let _ = writeln!(
        out,
        "  status       {}",
        if statuses.is_empty() {
            "none".into()
        } else {
            statuses.join(", ")
        }
    );
    match &s.latency_s {
        None => {
            let _ = writeln!(out, "  latency      no successful requests");
        }
        Some(l) => {
            let _ = write!(out, "  latency     ");
            for (name, _) in Latency::STATS {
                let _ = write!(out, " {name:>9}");
            }
            let _ = write!(out, " {:>9}", "count");
            let _ = writeln!(out);
            let _ = write!(out, "             ");
            for (_, stat) in Latency::STATS {
                let _ = write!(out, " {:>9}", fmt_secs(stat(l)));
            }
            let _ = writeln!(out, " {:>9}", l.count);
        }
    }
    if s.source.kind == "samples" || r.bytes > 0 {
        let _ = writeln!(
            out,
            "  transfer     {} read, {}/s",
            fmt_bytes(r.bytes as f64),
            fmt_bytes(r.bytes_per_s)
        );
    }
    if let Some(sch) = &s.schedule {
        let _ = writeln!(
            out,
            "  schedule     {} of {} requests started behind schedule by more than {} (timer granularity {}); lag p50 {}  p99 {}  max {}",
            sch.behind,
            sch.scheduled,
            fmt_round_secs(sch.behind_threshold_s),
            fmt_round_secs(sch.timer_granularity_s),
            fmt_secs(sch.lag_s.p50),
            fmt_secs(sch.lag_s.p99),
            fmt_secs(sch.lag_s.max)
        );
        if sch.unsent > 0 {
            let _ = writeln!(
                out,
                "               {} requests due before the end were never sent: every connection was busy (raise --max-connections)",
                sch.unsent
            );
        }
    }
    if let Some(t) = &s.tls {
        let _ = writeln!(
            out,
            "  tls          {} {} {}, {} full handshakes, {} resumed{}",
            t.version,
            t.cipher_suite,
            t.kx_group,
            t.full_handshakes,
            t.resumed_handshakes,
            match t.certificate_verified {
                Some(false) => ", certificates not verified (--insecure)",
                _ => "",
            }
        );
    }
    if let Some(c) = &s.connections {
        let _ = writeln!(
            out,
            "  connections  {} opened, {} closed idle by the server, {} requests re-sent after such a close",
            c.opened, c.closed_idle, c.retried
        );
        if c.lost_samples > 0 {
            let _ = writeln!(
                out,
                "  LOST         {} samples could not be recorded",
                c.lost_samples
            );
        }
    }
    out
}

/// `512ns`, `12.3us`, `1.23ms`, `2.50s`.
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

/// A round duration in seconds without trailing zeros: `2ms`, `1.5ms`, `250us`.
pub fn fmt_round_secs(s: f64) -> String {
    let (v, unit) = if s >= 1.0 {
        (s, "s")
    } else if s >= 1e-3 {
        (s * 1e3, "ms")
    } else {
        (s * 1e6, "us")
    };
    crate::report::svg::trim(format!("{v:.3}")) + unit
}

/// [`fmt_ns`] for a value in seconds.
pub fn fmt_secs(s: f64) -> String {
    fmt_ns((s * 1e9).round().max(0.0) as u64)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fmt_ns(512), "512ns");
        assert_eq!(fmt_ns(12_345), "12.3us");
        assert_eq!(fmt_ns(1_234_567), "1.23ms");
        assert_eq!(fmt_secs(2.5), "2.50s");
        assert_eq!(fmt_bytes(2048.0), "2.0 KiB");
        assert_eq!(fmt_round_secs(0.002), "2ms");
        assert_eq!(fmt_round_secs(0.0015), "1.5ms");
        assert_eq!(fmt_round_secs(0.00025), "250us");
    }
}
