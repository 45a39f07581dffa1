//! The summary model and `summary.json`: one [`Summary`] is what the terminal table,
//! report.html, `--compare` and `--fail-if` all read, and its serde form is the file.
//!
//! The field names are a contract with scripts and CI: `docs/summary.schema.json`
//! specifies them (and `tests/report.rs` validates real output against it). Add fields
//! freely; renaming or removing one bumps [`SCHEMA`]. Every duration is in seconds (the
//! unit of results.csv), named `*_s`; a statistic of no value (no successful request)
//! is `null`.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::steps::{IterationSummary, StepSummary};
use super::{IntervalStats, ReportError, ReportOptions, SourceInfo, Totals, error_name};

/// The schema identifier written in every summary.json.
pub const SCHEMA: &str = "barrage-summary/1";

/// summary.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The barrage version that wrote the file.
    pub barrage_version: String,
    pub source: Source,
    /// "corrected" (from the intended start, for scheduled requests), "uncorrected"
    /// (service time), or "recorded" (a results.csv: whatever it holds).
    pub latency_mode: String,
    /// Length of one interval of `intervals`.
    pub interval_s: f64,
    /// From the run's start to its last completion.
    pub duration_s: f64,
    pub requests: Requests,
    /// Latency of the successful requests; `null` when none succeeded.
    pub latency_s: Option<Latency>,
    /// Complete responses by HTTP status code (in JSON the keys are strings). Requests
    /// that got no complete response are not here but in `errors_by_kind`.
    pub status: BTreeMap<u16, u64>,
    /// Failed requests by kind (the names of results.csv's `error` column).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Why requests of a kind failed, in words, with what to do: the first failure of
    /// that kind the run noted (a certificate's names or dates, a TLS alert). Only
    /// kinds that occurred and have a reason; empty for a results.csv.
    #[serde(default)]
    pub error_reasons: BTreeMap<String, String>,
    /// Connection counters from the sample files; `null` for a results.csv.
    pub connections: Option<Connections>,
    /// Open loop (`--rate`) only: how far requests started behind their intended
    /// start; `null` for closed-loop runs and results.csv.
    pub schedule: Option<Schedule>,
    /// What TLS negotiated; `null` for plain HTTP and results.csv.
    pub tls: Option<Tls>,
    /// results.csv rows that came after rows completing more than the reorder window
    /// later: counted in every total, but in no interval.
    pub late_rows: u64,
    pub intervals: Vec<Interval>,
    /// Scenario runs only (absent otherwise): each step's requests, in file order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepSummary>,
    /// Scenario runs only (absent otherwise): the iterations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<IterationSummary>,
    /// Whose limit the run measured, judged from the generator's self-check, with the
    /// evidence per interval (`report/verdict.rs`, docs/report.md). Absent for a
    /// results.csv and for runs recorded before the self-check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<super::verdict::Verdict>,
}

/// Where the records came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// "samples" (a run directory's sample files) or "csv" (a results.csv).
    pub kind: String,
    pub paths: Vec<String>,
    pub run_id: Option<String>,
    /// Unix time of the run's start (sample files only).
    pub start_unix_s: Option<f64>,
    /// results.csv lines skipped with --skip-bad-lines.
    pub skipped_lines: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requests {
    /// Every request, failed ones included.
    pub total: u64,
    /// Requests that did not fail (any HTTP status).
    pub ok: u64,
    pub errors: u64,
    /// errors / total (0 when there were no requests).
    pub error_ratio: f64,
    /// total / duration_s: the run's throughput.
    pub rps: f64,
    /// Response bytes read.
    pub bytes: u64,
    pub bytes_per_s: f64,
}

/// Latency statistics of the successful requests, seconds. min, mean, stdev and max are
/// exact; the percentiles come from an HdrHistogram (within 0.1%).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub stdev: f64,
    pub p50: f64,
    pub p80: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

/// A latency statistic: its name as the summaries and `--fail-if` spell it, and how to
/// read it.
pub type Stat = (&'static str, fn(&Latency) -> f64);

impl Latency {
    /// The statistics, in the order every summary table shows them (the original
    /// author's later tool showed min, avg, 80/90/95th, max and stdev; p50, p99 and
    /// p99.9 are ours).
    pub const STATS: [Stat; 10] = [
        ("min", |l| l.min),
        ("mean", |l| l.mean),
        ("p50", |l| l.p50),
        ("p80", |l| l.p80),
        ("p90", |l| l.p90),
        ("p95", |l| l.p95),
        ("p99", |l| l.p99),
        ("p99.9", |l| l.p99_9),
        ("max", |l| l.max),
        ("stdev", |l| l.stdev),
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tls {
    /// "TLSv1.3", "TLSv1.2" ("-" if no handshake completed).
    pub version: String,
    /// Cipher suite, by its IANA name.
    pub cipher_suite: String,
    /// Key-exchange group ("X25519", "secp256r1", ...).
    pub kx_group: String,
    pub full_handshakes: u64,
    pub resumed_handshakes: u64,
    /// Whether server certificates were verified (`false` with --insecure); `null`
    /// when not known (a report made after the run).
    pub certificate_verified: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Requests that had an intended start.
    pub scheduled: u64,
    /// Of those, how many started more than `behind_threshold_s` after it.
    pub behind: u64,
    /// The lag above which a request counts as behind: twice `timer_granularity_s`.
    #[serde(default = "old_threshold")]
    pub behind_threshold_s: f64,
    /// How late the timer that starts requests can be on its own: the poll's
    /// millisecond timeout, for starts closer together than that.
    #[serde(default = "old_threshold")]
    pub timer_granularity_s: f64,
    /// Requests the schedule wanted before the end that were still waiting for a
    /// connection when it came (every one busy, --max-connections reached: raise it).
    /// Requests whose only obstacle was the end itself are not counted. 0 for a
    /// results.csv.
    pub unsent: u64,
    /// Start lag (actual start minus intended start), seconds.
    pub lag_s: Lag,
}

/// What a summary.json written before these fields existed used: 1 ms.
fn old_threshold() -> f64 {
    0.001
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lag {
    pub mean: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connections {
    /// Successful TCP connects.
    pub opened: u64,
    /// Keep-alive connections the server closed while idle.
    pub closed_idle: u64,
    /// Requests sent again on a new connection: after such a close, or cut off
    /// unanswered behind another (`--pipeline`); only GET, HEAD, OPTIONS or requests
    /// none of which had been written, each at most once.
    pub retried: u64,
    /// Samples that could not be recorded.
    pub lost_samples: u64,
    /// Requests each connection kept in flight (`--pipeline`); left out when 1.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub pipeline: u32,
    /// The pipelines were read in batches: a response could wait in the socket for
    /// the ones after it, at most `read_hold_max_s`; left out when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_hold_max_s: Option<f64>,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// One interval of the time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub index: u64,
    pub start_s: f64,
    /// start_s + interval_s, except the last, which ends with the run.
    pub end_s: f64,
    /// The last interval, cut short by the run's end: only the requests still in
    /// flight then (the slow ones), so `latency_s` is `null`.
    #[serde(default)]
    pub partial: bool,
    /// Requests completed in the interval, failed ones included.
    pub count: u64,
    /// count / interval_s.
    pub rps: f64,
    pub errors: u64,
    /// `null` when no request of the interval succeeded.
    pub latency_s: Option<IntervalLatency>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalLatency {
    pub min: f64,
    pub mean: f64,
    pub stdev: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

impl Summary {
    /// Error kinds, most frequent first (then by name), as the summaries list them.
    pub fn errors_by_count(&self) -> Vec<(&str, u64)> {
        let mut kinds: Vec<(&str, u64)> = self
            .errors_by_kind
            .iter()
            .map(|(k, n)| (k.as_str(), *n))
            .collect();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        kinds
    }

    pub(super) fn build(
        t: &Totals,
        overall: &Histogram<u64>,
        intervals: &[IntervalStats],
        opts: &ReportOptions,
        src: &SourceInfo,
    ) -> Summary {
        let duration_s = secs(t.last_end_ns);
        let per_s = |n: f64| {
            if duration_s > 0.0 {
                n / duration_s
            } else {
                0.0
            }
        };
        let m = &t.moments;
        let latency_s = (m.count > 0).then(|| {
            let q = |q: f64| secs(super::clamp_quantile(overall, q, m));
            Latency {
                count: m.count,
                min: secs(m.min),
                mean: m.mean() / 1e9,
                stdev: m.stdev() / 1e9,
                p50: q(0.5),
                p80: q(0.8),
                p90: q(0.9),
                p95: q(0.95),
                p99: q(0.99),
                p99_9: q(0.999),
                max: secs(m.max),
            }
        });
        let interval_s = secs(opts.interval_ns);
        Summary {
            schema: SCHEMA.to_string(),
            barrage_version: env!("CARGO_PKG_VERSION").to_string(),
            source: Source {
                kind: src.kind.to_string(),
                paths: src.paths.iter().map(|p| p.display().to_string()).collect(),
                run_id: src.run_id.clone(),
                start_unix_s: src.wall_start_ns.map(secs),
                skipped_lines: src.skipped_lines,
            },
            latency_mode: if src.kind == "csv" {
                "recorded"
            } else if opts.corrected {
                "corrected"
            } else {
                "uncorrected"
            }
            .to_string(),
            interval_s,
            duration_s,
            requests: Requests {
                total: t.count,
                ok: t.count - t.errors,
                errors: t.errors,
                error_ratio: if t.count > 0 {
                    t.errors as f64 / t.count as f64
                } else {
                    0.0
                },
                rps: per_s(t.count as f64),
                bytes: t.bytes,
                bytes_per_s: per_s(t.bytes as f64),
            },
            latency_s,
            status: t
                .by_status
                .iter()
                .filter(|(code, _)| **code != 0)
                .map(|(code, n)| (*code, *n))
                .collect(),
            errors_by_kind: t
                .by_error
                .iter()
                .map(|(code, n)| (error_name(*code).to_string(), *n))
                .collect(),
            error_reasons: src
                .reasons
                .iter()
                .filter(|(code, _)| t.by_error.iter().any(|(c, n)| c == *code && *n > 0))
                .map(|(code, why)| (error_name(*code).to_string(), why.clone()))
                .collect(),
            connections: src.stats.map(|s| Connections {
                opened: s.connects,
                closed_idle: s.idle_closes,
                retried: s.retries,
                lost_samples: s.lost,
                pipeline: src.pipeline.unwrap_or(1),
                read_hold_max_s: src
                    .read_batching
                    .then(|| secs(crate::engine::worker::READ_HOLD_MAX_NS)),
            }),
            schedule: t.schedule.as_ref().map(|st| {
                let q = |q: f64| secs(super::clamp_quantile(&st.hist, q, &st.lag));
                Schedule {
                    scheduled: st.scheduled,
                    behind: st.behind,
                    behind_threshold_s: secs(super::BEHIND_SCHEDULE_NS),
                    timer_granularity_s: secs(crate::engine::worker::TIMER_GRANULARITY_NS),
                    unsent: src.stats.as_ref().map_or(0, |s| s.unsent),
                    lag_s: Lag {
                        mean: st.lag.mean() / 1e9,
                        p50: q(0.5),
                        p99: q(0.99),
                        max: secs(st.lag.max),
                    },
                }
            }),
            tls: src.tls.map(|[v, c, g]| {
                let name = |n: u16, f: fn(u16) -> String| {
                    if n == 0 { "-".to_string() } else { f(n) }
                };
                let st = src.stats.unwrap_or_default();
                Tls {
                    version: name(v, crate::wire::tls::version_name),
                    cipher_suite: name(c, crate::wire::tls::suite_name),
                    kx_group: name(g, crate::wire::tls::group_name),
                    full_handshakes: st.tls_full,
                    resumed_handshakes: st.tls_resumed,
                    certificate_verified: src.tls_verified,
                }
            }),
            late_rows: t.late,
            intervals: intervals
                .iter()
                .map(|i| Interval {
                    index: i.index,
                    start_s: secs(i.start_ns),
                    end_s: secs(i.end_ns),
                    partial: i.partial,
                    count: i.count,
                    rps: i.count as f64 / interval_s,
                    errors: i.errors,
                    latency_s: i.latency.map(|l| IntervalLatency {
                        min: secs(l.min),
                        mean: l.mean / 1e9,
                        stdev: l.stdev / 1e9,
                        p50: secs(l.p50),
                        p90: secs(l.p90),
                        p99: secs(l.p99),
                        max: secs(l.max),
                    }),
                })
                .collect(),
            steps: Vec::new(),
            iterations: None,
            verdict: None,
        }
    }

    /// The file's text (pretty-printed, with a final newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary always serializes") + "\n"
    }

    /// Reads a summary.json written by this or a compatible version.
    pub fn read(path: &Path) -> Result<Summary, ReportError> {
        let jerr = |why: String| ReportError::Json {
            path: path.to_path_buf(),
            why,
        };
        let text = std::fs::read_to_string(path).map_err(|e| jerr(e.to_string()))?;
        let s: Summary = serde_json::from_str(&text).map_err(|e| jerr(e.to_string()))?;
        if s.schema != SCHEMA {
            return Err(jerr(format!(
                "schema {:?}, this barrage reads {SCHEMA:?}",
                s.schema
            )));
        }
        Ok(s)
    }
}
