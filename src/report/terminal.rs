//! The terminal summary printed at the end of `barrage run`, `barrage merge` and
//! `barrage report`: a rendering of the report's [`Summary`] (counts, errors by kind,
//! status codes, the latency table, transfer, connections) for people, and the
//! line folding every terminal output shares (the number formats are in `fmt.rs`).
//!
//! Every line fits [`WIDTH`] columns, the classic terminal: the latency table is two
//! rows of columns, and [`wrap`] folds any longer line at its commas (then spaces)
//! under the value column.

use std::fmt::Write as _;

use crate::report::Summary;
use crate::report::fmt::{fmt_bytes, fmt_round_secs, fmt_secs, plural};
use crate::report::json::Latency;

/// The widest line barrage prints for people (progress, banner, summary).
pub const WIDTH: usize = 80;
/// Where the values of the summary's `  label        value` lines start.
const VALUE_COLUMN: usize = 15;
/// Columns per row of the latency table: 13 + 6 x 10 = 73 wide.
const LATENCY_COLUMNS: usize = 6;

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
    let kinds = s.errors_by_count();
    // As wide as the longest name, so a name never runs into its count, but no wider
    // than the line allows (a longer name is folded below).
    let digits = kinds
        .iter()
        .map(|(_, n)| n.to_string().len())
        .max()
        .unwrap_or(1);
    let fits = WIDTH - 6 - digits;
    let name_width = kinds
        .iter()
        .map(|(k, _)| k.chars().count())
        .filter(|&w| w <= fits)
        .max()
        .unwrap_or(0)
        .max(22);
    for (kind, n) in kinds {
        let _ = writeln!(out, "    {kind:<name_width$}  {n}");
        if let Some(why) = s.error_reasons.get(kind) {
            wrap_into(&mut out, why, "      ", WIDTH);
        }
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
            let mut cells: Vec<(&str, String)> = Latency::STATS
                .iter()
                .map(|(name, stat)| (*name, fmt_secs(stat(l))))
                .collect();
            cells.push(("count", l.count.to_string()));
            for (i, row) in cells.chunks(LATENCY_COLUMNS).enumerate() {
                let label = if i == 0 {
                    "  latency    "
                } else {
                    "             "
                };
                let _ = write!(out, "{label}");
                for (name, _) in row {
                    let _ = write!(out, " {name:>9}");
                }
                let _ = writeln!(out);
                let _ = write!(out, "             ");
                for (_, value) in row {
                    let _ = write!(out, " {value:>9}");
                }
                let _ = writeln!(out);
            }
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
                "               {} due before the end {} never sent: every connection was busy (raise --max-connections)",
                plural(sch.unsent, "request"),
                if sch.unsent == 1 { "was" } else { "were" }
            );
        }
    }
    if let Some(t) = &s.tls {
        let _ = writeln!(
            out,
            "  tls          {} {} {}, {}, {} resumed{}",
            t.version,
            t.cipher_suite,
            t.kx_group,
            plural(t.full_handshakes, "full handshake"),
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
            "  connections  {} opened, {} closed idle by the server ({} re-sent)",
            c.opened,
            c.closed_idle,
            plural(c.retried, "request")
        );
        if c.pipeline > 1 {
            let _ = writeln!(
                out,
                "  pipeline     {} requests in flight per connection at most",
                c.pipeline
            );
            if let Some(hold) = c.read_hold_max_s {
                let _ = writeln!(
                    out,
                    "               read in batches: a response could wait up to {} to be read",
                    fmt_secs(hold)
                );
            }
        }
        if c.lost_samples > 0 {
            let _ = writeln!(
                out,
                "  LOST         {} could not be recorded",
                plural(c.lost_samples, "sample")
            );
        }
    }
    if let Some(v) = &s.verdict {
        let text = v.line.strip_prefix("verdict: ").unwrap_or(&v.line);
        let _ = writeln!(out, "  verdict      {text}");
    }
    steps(s, &mut out);
    wrap(&out, WIDTH)
}

/// Scenario runs: one line per step (count, errors, p50/p90/p99/max of its
/// successful requests; its error kinds below it), then the iterations. 80 columns:
/// a name longer than 20 characters is cut.
fn steps(s: &Summary, out: &mut String) {
    if s.steps.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "  steps {:<15} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8}",
        "", "count", "errors", "p50", "p90", "p99", "max"
    );
    let pct = |p: &Option<crate::report::steps::Percentiles>| match p {
        Some(p) => [p.p50, p.p90, p.p99, p.max].map(fmt_secs),
        None => ["-".to_string(), "-".into(), "-".into(), "-".into()],
    };
    let cut = |n: &str| n.chars().take(20).collect::<String>();
    for st in &s.steps {
        let [p50, p90, p99, max] = pct(&st.latency_s);
        let _ = writeln!(
            out,
            "    {:<20} {:>6} {:>6} {p50:>8} {p90:>8} {p99:>8} {max:>8}",
            cut(&st.name),
            st.count,
            st.errors
        );
        for (kind, n) in &st.errors_by_kind {
            let _ = writeln!(out, "      {kind}: {n}");
        }
    }
    if let Some(it) = &s.iterations {
        let [p50, p90, p99, max] = pct(&it.duration_s);
        let _ = writeln!(
            out,
            "  iterations {} completed of {}; duration p50 {p50}, p90 {p90}, p99 {p99}, max {max}",
            it.completed, it.count
        );
        if it.interrupted > 0 {
            let _ = writeln!(
                out,
                "    interrupted by the end of the run: {}",
                it.interrupted
            );
        }
        for (where_, n) in &it.failed {
            let _ = writeln!(out, "    failed at {where_}: {n}");
        }
    }
}

/// Folds every line of `text` longer than `width` columns: at `, ` or `; ` where it
/// can, else at a space, never inside a word (a word longer than the line, like a
/// path, is left whole). Continuation lines start under the value column of the
/// summary's `  label        value` lines, or two columns right of an indented
/// line's text.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if body.chars().count() <= width {
            out.push_str(line);
            continue;
        }
        let lead = body.len() - body.trim_start().len();
        let indent = match lead {
            2 => VALUE_COLUMN,
            l if l >= VALUE_COLUMN => l,
            l => l + 2,
        };
        fold(body, width, indent, &mut out);
        out.push_str(nl);
    }
    out
}

/// Appends `text` as lines of at most `width` columns (a longer word gets a line of
/// its own), each starting with `indent`.
fn wrap_into(out: &mut String, text: &str, indent: &str, width: usize) {
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.chars().count() > width {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
}

/// Greedy fold of one line: clauses (ending at ", " or "; ") kept whole when they
/// fit on a line of their own, else split at spaces.
fn fold(line: &str, width: usize, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    // The line's leading spaces stay on its first piece.
    let lead = line.len() - line.trim_start().len();
    let mut cur = line[..lead].to_string();
    let mut fresh = true;
    let room = width.saturating_sub(indent).max(1);
    for clause in clauses(&line[lead..]) {
        let pieces: Vec<&str> = if clause.trim_end().chars().count() <= room {
            vec![clause]
        } else {
            clause.split_inclusive(' ').collect()
        };
        for piece in pieces {
            let (used, len) = (cur.chars().count(), piece.trim_end().chars().count());
            // A piece too long for any line stays where it is: moving it helps nothing.
            if !fresh && used + len > width && len <= room {
                out.push_str(cur.trim_end());
                out.push('\n');
                cur = pad.clone();
                fresh = true;
            }
            cur.push_str(if fresh { piece.trim_start() } else { piece });
            fresh = false;
        }
    }
    out.push_str(cur.trim_end());
}

/// `a, b; c d` -> `a, `, `b; `, `c d`.
fn clauses(s: &str) -> Vec<&str> {
    let mut v = Vec::new();
    let mut start = 0;
    for (i, _) in s.match_indices(", ").chain(s.match_indices("; ")) {
        v.push(i);
    }
    v.sort_unstable();
    let mut parts = Vec::new();
    for i in v {
        parts.push(&s[start..i + 2]);
        start = i + 2;
    }
    parts.push(&s[start..]);
    parts.retain(|p| !p.is_empty());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::report::json::{Connections, Lag, Schedule, Tls};
    use crate::report::{Accumulator, ReportOptions, Sample, SourceInfo};

    /// A summary with every optional section, at its widest: long error names, many
    /// statuses, hour-long latencies, huge counts, TLS with every clause.
    fn widest() -> Summary {
        let mut acc = Accumulator::new(ReportOptions::default());
        for i in 1..=1000u64 {
            acc.add(Sample {
                end_ns: i * 1_000_000,
                latency_ns: i * 3_000_000_000,
                status: [200, 201, 204, 301, 302, 404, 500, 503][(i % 8) as usize],
                error: 0,
                bytes: 1000,
                lag_ns: None,
            });
        }
        let mut s = acc.finish(SourceInfo::default()).unwrap().summary;
        s.requests.total = 123_456_789_012;
        s.requests.errors = 12_345_678_901;
        for (name, n) in [
            ("tls: peer does not speak TLS", 5486),
            ("server speaks TLS: use https://", 12_345_678_901),
            (
                "tls: certificate name mismatch: it holds localhost, 127.0.0.1 and ::1, not example.com",
                3,
            ),
        ] {
            s.errors_by_kind.insert(name.to_string(), n);
        }
        s.tls = Some(Tls {
            version: "TLSv1.3".into(),
            cipher_suite: "TLS13_CHACHA20_POLY1305_SHA256".into(),
            kx_group: "X25519MLKEM768".into(),
            full_handshakes: 123_456_789,
            resumed_handshakes: 987_654_321,
            certificate_verified: Some(false),
        });
        s.connections = Some(Connections {
            opened: 123_456_789,
            closed_idle: 123_456_789,
            retried: 123_456_789,
            lost_samples: 1,
            pipeline: 1,
            read_hold_max_s: None,
        });
        s.schedule = Some(Schedule {
            scheduled: 123_456_789_012,
            behind: 123_456_789_012,
            unsent: 123_456_789,
            behind_threshold_s: 0.002,
            timer_granularity_s: 0.001,
            lag_s: Lag {
                mean: 1234.5,
                p50: 1234.5,
                p99: 1234.5,
                max: 1234.5,
            },
        });
        s
    }

    #[test]
    fn every_line_fits_80_columns() {
        let text = render(&widest());
        for line in text.lines() {
            assert!(
                line.chars().count() <= WIDTH,
                "{} columns: {line:?}\n{text}",
                line.chars().count()
            );
        }
        // A name never runs into its count.
        assert!(
            text.contains("    tls: peer does not speak TLS     5486\n"),
            "{text}"
        );
        // The latency table is two rows of columns, every statistic present.
        assert_eq!(text.matches("p99.9").count(), 1, "{text}");
        for name in ["min", "mean", "p50", "stdev", "count"] {
            assert!(text.contains(name), "{name}: {text}");
        }
        // Folded lines keep their clauses whole.
        assert!(text.contains("987654321 resumed"), "{text}");
        assert!(
            text.contains("\n               certificates not verified (--insecure)\n"),
            "{text}"
        );
    }

    #[test]
    fn singular_and_plural() {
        let mut s = widest();
        s.tls.as_mut().unwrap().full_handshakes = 1;
        s.connections.as_mut().unwrap().retried = 1;
        let text = render(&s);
        assert!(text.contains("1 full handshake,"), "{text}");
        assert!(text.contains("(1 request re-sent)"), "{text}");
        assert!(text.contains("1 sample could not"), "{text}");
    }

    #[test]
    fn wrap_folds_at_clauses_then_spaces() {
        let line = format!("  label        {}, {}\n", "a".repeat(50), "b ".repeat(40));
        let w = wrap(&line, 80);
        assert!(w.lines().all(|l| l.chars().count() <= 80), "{w}");
        assert!(w.lines().skip(1).all(|l| l.starts_with("               ")));
        assert_eq!(
            w.split_whitespace().collect::<Vec<_>>(),
            line.split_whitespace().collect::<Vec<_>>(),
            "nothing lost"
        );
        let path = format!("  results.csv  /{}\n", "x".repeat(90));
        assert_eq!(wrap(&path, 80), path, "a word is never cut");
        assert_eq!(wrap("short\n", 80), "short\n");
    }

    #[test]
    fn reasons_wrap_at_80_columns() {
        let mut out = String::new();
        let text = "the certificate (CN=localhost) is for localhost, 127.0.0.1, not other.example (--sni): use a host it names in the URL or with --sni NAME, or -k to skip verification";
        wrap_into(&mut out, text, "      ", 80);
        assert!(
            out.lines()
                .all(|l| l.len() <= 80 && l.starts_with("      ") && !l.starts_with("       ")),
            "{out}"
        );
        assert_eq!(
            out.split_whitespace().collect::<Vec<_>>(),
            text.split_whitespace().collect::<Vec<_>>()
        );
        assert_eq!(out.lines().count(), 3, "{out}");
    }
}
