//! The report, as the pass hands it to every output: [`Report`] (the summary, the
//! overall histogram, the intervals, the scatter points, where the records came
//! from), and its parts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hdrhistogram::Histogram;

use super::{Moments, ReportOptions, Summary};
use crate::record::ProcessStats;

/// Everything a report shows, built by [`crate::report::accumulate::Accumulator::finish`].
pub struct Report {
    pub summary: Summary,
    /// Latency of every successful request.
    pub overall: Histogram<u64>,
    pub intervals: Vec<IntervalStats>,
    /// Successful requests for the scatter plot (all, or a uniform sample), by time.
    pub scatter: Vec<Point>,
    /// Failed requests for the scatter plot (all, or a uniform sample), by time.
    pub error_points: Vec<Point>,
    /// How many successful / failed requests the samples above were drawn from.
    pub scatter_seen: u64,
    pub error_points_seen: u64,
    pub source: SourceInfo,
    pub opts: ReportOptions,
}

/// One point of the response-time scatter plot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub end_ns: u64,
    pub latency_ns: u64,
    pub status: u16,
    pub error: u8,
}

/// A finished interval: one row of intervals.csv and one histogram of the `.hlog`.
#[derive(Debug, Clone, Default)]
pub struct IntervalStats {
    pub index: u64,
    pub start_ns: u64,
    /// Interval end (start + length); the last interval ends at the run's end instead.
    pub end_ns: u64,
    /// The last interval, cut short by the run's end (and not the only one): it holds
    /// the requests still in flight when the load stopped, which are the slow ones,
    /// so its latency would read as a spike and its rate as a drop.
    pub partial: bool,
    /// Requests completed in the interval, failed ones included.
    pub count: u64,
    pub errors: u64,
    pub bytes: u64,
    /// Latency of the successful requests; `None` when there were none, and for a
    /// `partial` interval (its requests are in every whole-run statistic).
    pub latency: Option<IntervalLatency>,
    /// The interval's histogram, V2 deflate encoded (empty when no request succeeded),
    /// and its `max()`: what an `.hlog` line holds, kept so the log is written without
    /// decoding and encoding every histogram again.
    pub encoded: Vec<u8>,
    pub encoded_max: u64,
}

/// Latency statistics of one interval, ns.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IntervalLatency {
    pub min: u64,
    pub mean: f64,
    pub stdev: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// Where the records came from, for the report's header.
#[derive(Debug, Clone, Default)]
pub struct SourceInfo {
    /// "samples" or "csv".
    pub kind: &'static str,
    pub paths: Vec<PathBuf>,
    pub run_id: Option<String>,
    /// Unix time of the run's start, ns (sample files only).
    pub wall_start_ns: Option<u64>,
    /// Connection counters (sample files only).
    pub stats: Option<ProcessStats>,
    /// results.csv lines skipped with `--skip-bad-lines`.
    pub skipped_lines: u64,
    /// What the first TLS handshake negotiated (wire numbers: version, cipher suite,
    /// key-exchange group), when the run used TLS (sample files only).
    pub tls: Option<[u16; 3]>,
    /// Requests each connection kept in flight (`--pipeline`; sample files only).
    pub pipeline: Option<u32>,
    /// Pipelines were read in batches (sample files only; see `HDR_BATCHED_READS`).
    pub read_batching: bool,
    /// Whether server certificates were verified (known only to `barrage run`).
    pub tls_verified: Option<bool>,
    /// Why requests failed, in words, by error kind: the first reason of each kind in
    /// the sample files' headers (sample files only).
    pub reasons: BTreeMap<u8, String>,
}

/// Whole-run counters, as [`crate::report::accumulate::Accumulator::finish`] hands them to the summary.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub count: u64,
    pub errors: u64,
    pub bytes: u64,
    pub last_end_ns: u64,
    pub moments: Moments,
    pub by_status: BTreeMap<u16, u64>,
    pub by_error: Vec<(u8, u64)>,
    pub late: u64,
    pub schedule: Option<ScheduleStats>,
}

/// How far open-loop requests started behind their schedule.
#[derive(Debug, Clone)]
pub struct ScheduleStats {
    /// Requests that had an intended start.
    pub scheduled: u64,
    /// Of those, how many started more than [`BEHIND_SCHEDULE_NS`](super::BEHIND_SCHEDULE_NS) late.
    pub behind: u64,
    pub lag: Moments,
    pub hist: Histogram<u64>,
}
