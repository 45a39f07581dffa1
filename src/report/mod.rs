//! Reports: everything `barrage report` (and the end of `barrage run`) derives from a
//! run's records, in one streaming pass.
//!
//! This file owns the pass itself: [`Accumulator`] is fed one [`Sample`] at a time (from
//! the merge of sample files, or from a results.csv) and keeps only fixed-size state: a
//! few open per-interval HdrHistograms, counters by status and error kind, and two
//! reservoirs of scatter points. Memory is flat in the number of samples; it grows only
//! with the number of intervals (one row and one compressed histogram each).
//! [`Accumulator::finish`] turns that state into a [`Report`]; [`write_files`] writes
//! every report file. The other files of this module each own one output or input:
//!
//! - `csv_in.rs`: reading results.csv (the seed's headerless format, or with a header)
//! - `json.rs`: the [`Summary`] model and summary.json (schema: docs/summary.schema.json)
//! - `intervals.rs`: intervals.csv
//! - `hlog.rs`: the HdrHistogram interval log and the `.hgrm` percentile distribution
//! - `svg.rs`: the charts, as standalone SVG
//! - `html.rs`: report.html (the charts and tables, self-contained)
//! - `compare.rs`: `--compare A B`
//! - `thresholds.rs`: `--fail-if`
//! - `source.rs`: what a path given to `barrage report` is, and reading it

pub mod compare;
pub mod csv_in;
pub mod hlog;
pub mod html;
pub mod intervals;
pub mod json;
pub mod source;
pub mod svg;
pub mod terminal;
pub mod thresholds;

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};

use crate::record::{ErrorKind, MergeError, ProcessStats, Record};

pub use json::Summary;

/// Latencies above this (one hour) are recorded as one hour: HdrHistogram needs a bound,
/// and a request that took longer than that timed out long before.
pub const MAX_LATENCY_NS: u64 = 3_600_000_000_000;
/// Significant digits of every histogram: values within 0.1%.
pub const SIGFIG: u8 = 3;
/// Error code for a failed request whose kind is unknown: a results.csv row with status
/// 0 and no `error` column (the seed tool's only way to say "failed").
pub const ERROR_UNKNOWN: u8 = 255;
/// An open-loop request that started more than this after its intended start is
/// counted as behind schedule: twice the granularity of the timer that starts
/// requests, so the timer's own lateness (up to a millisecond, at rates where starts
/// are closer together than that) is not reported as the generator falling behind.
pub const BEHIND_SCHEDULE_NS: u64 = 2 * crate::engine::worker::TIMER_GRANULARITY_NS;
/// A run may span at most this many intervals (rows of intervals.csv).
pub const MAX_INTERVALS: u64 = 10_000_000;

/// The name of an error code, as summaries, JSON and charts show it.
pub fn error_name(code: u8) -> &'static str {
    if code == ERROR_UNKNOWN {
        return "failed (status 0)";
    }
    ErrorKind::from_u8(code).map_or("unknown error", ErrorKind::name)
}

/// The error code for a name written by results.csv's `error` column.
pub fn error_code(name: &str) -> u8 {
    ErrorKind::ALL
        .iter()
        .find(|k| k.name() == name)
        .map_or(ERROR_UNKNOWN, |k| *k as u8)
}

/// Why a report could not be made. Each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// results.csv could not be read or parsed.
    #[error(transparent)]
    Csv(#[from] csv_in::CsvError),
    /// The sample files could not be merged.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// The path is neither a run directory nor a results.csv nor a summary.json.
    #[error("{path}: {why}")]
    Input { path: PathBuf, why: String },
    /// A summary.json given to `--compare` could not be read.
    #[error("cannot read {path}: {why} (give a run directory or results.csv instead)")]
    Json { path: PathBuf, why: String },
    /// An output file could not be written.
    #[error("cannot write {path}: {source} (choose another directory with --out)")]
    Write { path: PathBuf, source: io::Error },
    /// The records span too many intervals for one report.
    #[error(
        "the records span {intervals} intervals of {interval_s} s (more than {max}): choose a longer --interval"
    )]
    TooManyIntervals {
        intervals: u64,
        interval_s: f64,
        max: u64,
    },
}

/// How a report is computed.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Length of one interval of the time series, ns (> 0).
    pub interval_ns: u64,
    /// Response time from the intended start for scheduled (open-loop) requests.
    pub corrected: bool,
    /// Successful requests kept for the scatter plot (a uniform random sample beyond).
    pub scatter_cap: usize,
    /// Failed requests kept for the scatter plot: all of them up to this many.
    pub error_points_cap: usize,
    /// How far (ns) a record may complete before one already seen and still land in
    /// its own interval. 0 for the merge of sample files, which is exactly ordered;
    /// some for a results.csv, whose rows the seed tool wrote roughly in order.
    pub reorder_window_ns: u64,
}

impl ReportOptions {
    /// For a summary alone (`barrage merge`, `report --compare`): no scatter points
    /// are sampled, since nothing draws them.
    pub fn summary_only(self) -> Self {
        ReportOptions {
            scatter_cap: 0,
            error_points_cap: 0,
            ..self
        }
    }
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            interval_ns: 1_000_000_000,
            corrected: true,
            scatter_cap: 200_000,
            error_points_cap: 50_000,
            reorder_window_ns: 0,
        }
    }
}

/// One finished request as the report sees it, from a sample record or a CSV row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Completion, ns since the run's start.
    pub end_ns: u64,
    /// Response time, ns.
    pub latency_ns: u64,
    /// HTTP status of a complete response; 0 when none came (the rule of
    /// [`crate::record::reported_status`]).
    pub status: u16,
    /// Error code: 0 for success, an [`ErrorKind`] byte, or [`ERROR_UNKNOWN`].
    pub error: u8,
    /// Response bytes, when known.
    pub bytes: u32,
    /// How late the request started after its intended start (open loop only).
    pub lag_ns: Option<u64>,
}

impl Sample {
    #[inline]
    pub fn from_record(r: &Record, corrected: bool) -> Sample {
        Sample {
            end_ns: r.end_ns,
            latency_ns: r.latency_ns(corrected),
            status: r.reported_status(),
            error: r.error,
            bytes: r.bytes,
            lag_ns: r.lag_ns(),
        }
    }
}

/// One point of the response-time scatter plot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub end_ns: u64,
    pub latency_ns: u64,
    pub status: u16,
    pub error: u8,
}

/// Exact count, sum, min and max of a set of latencies (the histogram rounds to 0.1%;
/// the original tool's average was exact, and so is ours).
#[derive(Debug, Clone, Copy)]
pub struct Moments {
    pub count: u64,
    pub sum: u128,
    pub sum_sq: u128,
    pub min: u64,
    pub max: u64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments {
            count: 0,
            sum: 0,
            sum_sq: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

impl Moments {
    #[inline]
    fn add(&mut self, v: u64) {
        self.count += 1;
        self.sum += v as u128;
        self.sum_sq += (v as u128) * (v as u128);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// Population standard deviation, from integer sums so no precision is lost to
    /// cancellation; falls back to floating point if the products overflow.
    pub fn stdev(&self) -> f64 {
        if self.count < 2 {
            return 0.0;
        }
        let n = self.count as u128;
        let exact = n
            .checked_mul(self.sum_sq)
            .and_then(|a| self.sum.checked_mul(self.sum).map(|b| a.saturating_sub(b)));
        match exact {
            Some(num) => ((num as f64) / (n as f64 * n as f64)).sqrt(),
            None => {
                let mean = self.mean();
                (self.sum_sq as f64 / self.count as f64 - mean * mean)
                    .max(0.0)
                    .sqrt()
            }
        }
    }
}

/// An interval still taking records.
struct Open {
    index: u64,
    start_ns: u64,
    end_ns: u64,
    count: u64,
    errors: u64,
    bytes: u64,
    moments: Moments,
    hist: Histogram<u64>,
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
    /// Whether server certificates were verified (known only to `barrage run`).
    pub tls_verified: Option<bool>,
    /// Why requests failed, in words, by error kind: the first reason of each kind in
    /// the sample files' headers (sample files only).
    pub reasons: BTreeMap<u8, String>,
}

/// The streaming pass: feed it every record once, in (about) completion order.
pub struct Accumulator {
    opts: ReportOptions,
    /// Open intervals, oldest first, contiguous; at most `window` of them.
    open: VecDeque<Open>,
    window: u64,
    /// Histograms of closed intervals, reset, for reuse.
    pool: Vec<Histogram<u64>>,
    /// Index of the next interval to be closed (intervals before it are final).
    next_index: u64,
    /// The first interval of the series: 0 (the run's start), unless the first record
    /// is implausibly far from 0 (then its own interval).
    origin_chosen: bool,
    closed: Vec<IntervalStats>,
    overall: Histogram<u64>,
    moments: Moments,
    count: u64,
    errors: u64,
    bytes: u64,
    last_end: u64,
    by_status: Box<[u64; 1000]>,
    other_status: BTreeMap<u16, u64>,
    by_error: Box<[u64; 256]>,
    /// Records that came later than the reorder window: counted in the totals but in no
    /// interval.
    late: u64,
    too_many_intervals: Option<u64>,
    ok_points: Reservoir,
    err_points: Reservoir,
    serializer: V2DeflateSerializer,
    /// Start lag of open-loop requests (created by the first one).
    schedule: Option<Box<ScheduleStats>>,
}

/// How far open-loop requests started behind their schedule.
#[derive(Debug, Clone)]
pub struct ScheduleStats {
    /// Requests that had an intended start.
    pub scheduled: u64,
    /// Of those, how many started more than [`BEHIND_SCHEDULE_NS`] late.
    pub behind: u64,
    pub lag: Moments,
    pub hist: Histogram<u64>,
}

fn new_histogram() -> Histogram<u64> {
    // Auto-resizing from a tiny range: an interval's histogram only spans the values it
    // saw, so closing it (reset, scan, serialize) costs little even for short intervals.
    let mut h = Histogram::new(SIGFIG).expect("valid sigfig");
    h.auto(true);
    h
}

/// A percentile from the histogram, kept within the exact min and max: the histogram
/// reports the top of a 0.1%-wide bucket, which can lie above the largest value seen.
pub fn clamp_quantile(h: &Histogram<u64>, q: f64, m: &Moments) -> u64 {
    h.value_at_quantile(q).clamp(m.min.min(m.max), m.max)
}

/// The histogram everything overall is added into (fixed range: 1 ns .. 1 h).
pub fn overall_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, SIGFIG).expect("valid bounds")
}

impl Accumulator {
    pub fn new(opts: ReportOptions) -> Accumulator {
        let opts = ReportOptions {
            interval_ns: opts.interval_ns.max(1),
            ..opts
        };
        // Keep enough intervals open to absorb the reorder window, but never more than
        // 64 histograms.
        let window = (1 + opts.reorder_window_ns.div_ceil(opts.interval_ns)).min(64);
        Accumulator {
            ok_points: Reservoir::new(opts.scatter_cap, 0x9E37_79B9_7F4A_7C15),
            err_points: Reservoir::new(opts.error_points_cap, 0xD1B5_4A32_D192_ED03),
            opts,
            open: VecDeque::new(),
            window,
            pool: Vec::new(),
            next_index: 0,
            origin_chosen: false,
            closed: Vec::new(),
            overall: overall_histogram(),
            moments: Moments::default(),
            count: 0,
            errors: 0,
            bytes: 0,
            last_end: 0,
            by_status: Box::new([0; 1000]),
            other_status: BTreeMap::new(),
            by_error: Box::new([0; 256]),
            late: 0,
            too_many_intervals: None,
            serializer: V2DeflateSerializer::new(),
            schedule: None,
        }
    }

    /// Adds a sample record (the `visit` callback of `record::csv::write_csv`).
    #[inline]
    pub fn add_record(&mut self, r: &Record) {
        self.add(Sample::from_record(r, self.opts.corrected));
    }

    /// Adds one finished request.
    #[inline]
    pub fn add(&mut self, s: Sample) {
        self.count += 1;
        self.bytes += s.bytes as u64;
        self.last_end = self.last_end.max(s.end_ns);
        match self.by_status.get_mut(s.status as usize) {
            Some(n) => *n += 1,
            None => *self.other_status.entry(s.status).or_insert(0) += 1,
        }
        if let Some(lag) = s.lag_ns {
            self.add_lag(lag);
        }
        let latency = s.latency_ns.min(MAX_LATENCY_NS);
        let is_error = s.error != 0;
        let point = Point {
            end_ns: s.end_ns,
            latency_ns: latency,
            status: s.status,
            error: s.error,
        };
        if is_error {
            self.errors += 1;
            self.by_error[s.error as usize] += 1;
            self.err_points.offer(point);
        } else {
            self.moments.add(latency);
            self.ok_points.offer(point);
        }
        // Fast path: the record belongs to the newest open interval.
        if let Some(b) = self.open.back_mut()
            && s.end_ns >= b.start_ns
            && s.end_ns < b.end_ns
        {
            Self::add_to(b, &s, latency, is_error);
            return;
        }
        self.add_slow(s, latency, is_error);
    }

    #[inline]
    fn add_lag(&mut self, lag: u64) {
        let st = self.schedule.get_or_insert_with(|| {
            Box::new(ScheduleStats {
                scheduled: 0,
                behind: 0,
                lag: Moments::default(),
                hist: overall_histogram(),
            })
        });
        let lag = lag.min(MAX_LATENCY_NS);
        st.scheduled += 1;
        st.behind += u64::from(lag > BEHIND_SCHEDULE_NS);
        st.lag.add(lag);
        st.hist.saturating_record(lag);
    }

    #[inline]
    fn add_to(o: &mut Open, s: &Sample, latency: u64, is_error: bool) {
        o.count += 1;
        o.bytes += s.bytes as u64;
        if is_error {
            o.errors += 1;
        } else {
            o.moments.add(latency);
            // `record`, not `saturating_record`: only `record` grows an auto-resizing
            // histogram. It cannot fail: latency is clamped to an hour.
            let _ = o.hist.record(latency);
        }
    }

    #[cold]
    fn add_slow(&mut self, s: Sample, latency: u64, is_error: bool) {
        let iv = self.opts.interval_ns;
        let index = s.end_ns / iv;
        if !self.origin_chosen {
            self.origin_chosen = true;
            // A results.csv whose first column is not time since the start (say Unix
            // time) would otherwise mean millions of empty intervals before the first.
            if index > 1000 {
                self.next_index = index;
            }
        }
        if index < self.next_index {
            // Its interval is already closed: too late for it.
            self.late += 1;
            if !is_error {
                self.overall.saturating_record(latency);
            }
            return;
        }
        if self.too_many_intervals.is_some() {
            return;
        }
        if index - self.next_index >= MAX_INTERVALS {
            self.too_many_intervals = Some(index - self.next_index + 1);
            return;
        }
        // Close what falls out of the window.
        while let Some(front) = self.open.front() {
            if index >= front.index + self.window {
                self.close_front();
            } else {
                break;
            }
        }
        if self.open.is_empty() {
            // Intervals between the last closed one and this one held nothing.
            let first_open = index.saturating_sub(self.window - 1).max(self.next_index);
            while self.next_index < first_open {
                self.push_empty(self.next_index);
                self.next_index += 1;
            }
        }
        // Open every interval up to this one (the deque stays contiguous, and its front
        // is always `next_index`).
        let mut next = self
            .open
            .back()
            .map_or(self.next_index, |b| b.index + 1)
            .max(self.next_index);
        while next <= index {
            let hist = self.pool.pop().unwrap_or_else(new_histogram);
            self.open.push_back(Open {
                index: next,
                start_ns: next * iv,
                end_ns: next.saturating_mul(iv).saturating_add(iv),
                count: 0,
                errors: 0,
                bytes: 0,
                moments: Moments::default(),
                hist,
            });
            next += 1;
        }
        let front = self.open.front().map_or(index, |f| f.index);
        let o = &mut self.open[(index - front) as usize];
        Self::add_to(o, &s, latency, is_error);
    }

    fn push_empty(&mut self, index: u64) {
        let iv = self.opts.interval_ns;
        self.closed.push(IntervalStats {
            index,
            start_ns: index * iv,
            end_ns: index * iv + iv,
            ..Default::default()
        });
    }

    /// Finalises the oldest open interval: its stats, its encoded histogram, its
    /// share of the overall histogram; its histogram goes back to the pool.
    fn close_front(&mut self) {
        let Some(mut o) = self.open.pop_front() else {
            return;
        };
        let mut latency = None;
        let mut encoded = Vec::new();
        let mut encoded_max = 0;
        if o.moments.count > 0 {
            let h = &o.hist;
            let m = &o.moments;
            let q = |q: f64| clamp_quantile(h, q, m);
            latency = Some(IntervalLatency {
                min: m.min,
                mean: m.mean(),
                stdev: m.stdev(),
                p50: q(0.5),
                p90: q(0.9),
                p99: q(0.99),
                max: m.max,
            });
            // Serializing a histogram we built cannot fail; if it somehow did, the
            // interval would only be missing from the .hlog.
            let _ = self.serializer.serialize(h, &mut encoded);
            encoded_max = h.max();
            // Values are clamped to the overall histogram's range, so adding fits.
            let _ = self.overall.add(h);
        }
        self.closed.push(IntervalStats {
            index: o.index,
            start_ns: o.start_ns,
            end_ns: o.end_ns,
            partial: false,
            count: o.count,
            errors: o.errors,
            bytes: o.bytes,
            latency,
            encoded,
            encoded_max,
        });
        self.next_index = o.index + 1;
        o.hist.reset();
        self.pool.push(o.hist);
    }

    /// Closes every interval and builds the report.
    pub fn finish(mut self, source: SourceInfo) -> Result<Report, ReportError> {
        if let Some(intervals) = self.too_many_intervals {
            return Err(ReportError::TooManyIntervals {
                intervals,
                interval_s: self.opts.interval_ns as f64 / 1e9,
                max: MAX_INTERVALS,
            });
        }
        while !self.open.is_empty() {
            self.close_front();
        }
        // The last interval ends with the run; cut short, it is partial.
        let several = self.closed.len() > 1;
        if let Some(last) = self.closed.last_mut()
            && self.last_end >= last.start_ns
            && self.last_end < last.end_ns
        {
            last.end_ns = self.last_end;
            if several {
                last.partial = true;
                last.latency = None;
            }
        }
        let mut by_status: BTreeMap<u16, u64> = self
            .by_status
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| (s as u16, *n))
            .collect();
        by_status.extend(self.other_status.iter().map(|(k, v)| (*k, *v)));
        let by_error: Vec<(u8, u64)> = self
            .by_error
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(e, n)| (e as u8, *n))
            .collect();
        let mut scatter = self.ok_points.items;
        scatter.sort_by_key(|p| p.end_ns);
        let mut error_points = self.err_points.items;
        error_points.sort_by_key(|p| p.end_ns);
        let totals = Totals {
            count: self.count,
            errors: self.errors,
            bytes: self.bytes,
            last_end_ns: self.last_end,
            moments: self.moments,
            by_status,
            by_error,
            late: self.late,
            schedule: self.schedule.map(|b| *b),
        };
        let summary =
            json::Summary::build(&totals, &self.overall, &self.closed, &self.opts, &source);
        Ok(Report {
            summary,
            overall: self.overall,
            intervals: self.closed,
            scatter,
            error_points,
            scatter_seen: self.ok_points.seen,
            error_points_seen: self.err_points.seen,
            source,
            opts: self.opts,
        })
    }
}

/// Whole-run counters, as [`Accumulator::finish`] hands them to the summary.
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

/// A uniform random sample of at most `cap` items from a stream of unknown length
/// (Li's "Algorithm L": once the reservoir is full it draws how many items to skip,
/// so the cost per item is one comparison). Seeded: the same input gives the same plot.
struct Reservoir {
    cap: usize,
    items: Vec<Point>,
    seen: u64,
    /// Value of `seen` at which the next item is taken, once full.
    next_take: u64,
    w: f64,
    rng: u64,
}

impl Reservoir {
    fn new(cap: usize, seed: u64) -> Reservoir {
        Reservoir {
            cap,
            items: Vec::new(),
            seen: 0,
            next_take: 0,
            w: 1.0,
            rng: seed,
        }
    }

    #[inline]
    fn offer(&mut self, p: Point) {
        self.seen += 1;
        if self.items.len() < self.cap {
            self.items.push(p);
            if self.items.len() == self.cap {
                self.w = (self.uniform().ln() / self.cap as f64).exp();
                self.skip();
            }
            return;
        }
        if self.seen == self.next_take && self.cap > 0 {
            let slot = (self.next_u64() % self.cap as u64) as usize;
            self.items[slot] = p;
            self.w *= (self.uniform().ln() / self.cap as f64).exp();
            self.skip();
        }
    }

    fn skip(&mut self) {
        let gap = (self.uniform().ln() / (1.0 - self.w).ln()).floor();
        let gap = if gap.is_finite() && gap >= 0.0 {
            gap.min(1e18) as u64
        } else {
            u64::MAX / 2
        };
        self.next_take = self.seen.saturating_add(gap).saturating_add(1);
    }

    /// splitmix64.
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}

/// Everything a report shows, built by [`Accumulator::finish`].
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

/// The files a report writes, relative to its output directory.
pub mod names {
    pub const INTERVALS: &str = "intervals.csv";
    pub const SUMMARY: &str = "summary.json";
    pub const HTML: &str = "report.html";
    pub const HLOG: &str = "latency.hlog";
    pub const HGRM: &str = "latency.hgrm";
    pub const CHARTS: &str = "charts";
}

/// Writes every report file into `dir` (created if needed). Returns their paths, the
/// HTML report first.
pub fn write_files(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Write { path, source }
    };
    let charts_dir = dir.join(names::CHARTS);
    std::fs::create_dir_all(&charts_dir).map_err(werr(&charts_dir))?;
    let mut written = Vec::new();

    let charts = svg::Charts::build(report);
    let p = dir.join(names::HTML);
    std::fs::write(&p, html::render(report, &charts)).map_err(werr(&p))?;
    written.push(p);
    for (name, text) in charts.files() {
        let p = charts_dir.join(name);
        std::fs::write(&p, text).map_err(werr(&p))?;
        written.push(p);
    }

    let p = dir.join(names::SUMMARY);
    std::fs::write(&p, report.summary.to_json()).map_err(werr(&p))?;
    written.push(p);

    let p = dir.join(names::INTERVALS);
    intervals::write(&p, &report.intervals, report.opts.interval_ns).map_err(werr(&p))?;
    written.push(p);

    let p = dir.join(names::HLOG);
    hlog::write_interval_log(&p, report).map_err(werr(&p))?;
    written.push(p);

    let p = dir.join(names::HGRM);
    hlog::write_hgrm(&p, &report.overall).map_err(werr(&p))?;
    written.push(p);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(end_ms: u64, lat_ms: u64) -> Sample {
        Sample {
            end_ns: end_ms * 1_000_000,
            latency_ns: lat_ms * 1_000_000,
            status: 200,
            error: 0,
            bytes: 10,
            lag_ns: None,
        }
    }

    fn finish(acc: Accumulator) -> Report {
        acc.finish(SourceInfo {
            kind: "csv",
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn empty_intervals_are_zero_rows() {
        let mut acc = Accumulator::new(ReportOptions::default());
        acc.add(s(500, 100));
        acc.add(s(3500, 300));
        let r = finish(acc);
        let counts: Vec<u64> = r.intervals.iter().map(|i| i.count).collect();
        assert_eq!(counts, vec![1, 0, 0, 1]);
        assert!(r.intervals[1].latency.is_none());
        assert_eq!(
            r.intervals[3].end_ns, 3_500_000_000,
            "last ends with the run"
        );
        assert!(r.intervals[3].partial && r.intervals[3].latency.is_none());
        assert_eq!(
            r.intervals[3].count, 1,
            "a partial interval keeps its count"
        );
        assert!(r.intervals[..3].iter().all(|i| !i.partial));
        assert_eq!(r.overall.len(), 2, "and its requests count overall");
    }

    #[test]
    fn out_of_order_rows_within_the_window_land_in_their_interval() {
        let mut acc = Accumulator::new(ReportOptions {
            reorder_window_ns: 2_000_000_000,
            ..Default::default()
        });
        for (e, l) in [
            (100, 1),
            (1100, 2),
            (900, 3),
            (2100, 4),
            (950, 5),
            (4000, 6),
        ] {
            acc.add(s(e, l));
        }
        let r = finish(acc);
        let counts: Vec<u64> = r.intervals.iter().map(|i| i.count).collect();
        assert_eq!(counts, vec![3, 1, 1, 0, 1]);
        assert_eq!(r.summary.late_rows, 0);
    }

    #[test]
    fn rows_later_than_the_window_are_counted_once() {
        let mut acc = Accumulator::new(ReportOptions::default());
        acc.add(s(100, 1));
        acc.add(s(1100, 1));
        acc.add(s(200, 1));
        let r = finish(acc);
        assert_eq!(r.summary.requests.total, 3);
        assert_eq!(r.summary.late_rows, 1);
        assert_eq!(r.overall.len(), 3);
        assert_eq!(r.intervals.iter().map(|i| i.count).sum::<u64>(), 2);
    }

    #[test]
    fn far_origin_starts_at_the_first_record() {
        let mut acc = Accumulator::new(ReportOptions::default());
        let t0 = 1_700_000_000_000u64; // Unix time in ms
        acc.add(s(t0, 1));
        acc.add(s(t0 + 1500, 1));
        let r = finish(acc);
        assert_eq!(r.intervals.len(), 2);
        assert_eq!(r.intervals[0].index, t0 / 1000);
    }

    #[test]
    fn too_many_intervals_is_an_error_not_an_allocation() {
        let mut acc = Accumulator::new(ReportOptions {
            interval_ns: 1000,
            ..Default::default()
        });
        acc.add(s(1, 1));
        acc.add(s(100_000_000, 1));
        let e = acc
            .finish(SourceInfo::default())
            .err()
            .expect("too many intervals");
        assert!(e.to_string().contains("choose a longer --interval"), "{e}");
    }

    #[test]
    fn reservoir_is_capped_and_uniform() {
        let mut r = Reservoir::new(1000, 7);
        for i in 0..1_000_000u64 {
            r.offer(Point {
                end_ns: i,
                latency_ns: 0,
                status: 200,
                error: 0,
            });
        }
        assert_eq!(r.items.len(), 1000);
        assert_eq!(r.seen, 1_000_000);
        // Uniform: each tenth of the stream holds about a tenth of the sample.
        for d in 0..10u64 {
            let n = r.items.iter().filter(|p| p.end_ns / 100_000 == d).count();
            assert!((50..=150).contains(&n), "decile {d}: {n}");
        }
    }

    /// Percentiles against a brute-force sort of random data, overall and per
    /// interval: within HdrHistogram's stated precision (3 significant digits: the
    /// reported value is in the same 0.1%-wide bucket as the exact one).
    #[test]
    fn percentiles_match_a_sort_within_precision() {
        let mut rng = Reservoir::new(0, 42);
        let mut acc = Accumulator::new(ReportOptions::default());
        let mut all: Vec<u64> = Vec::new();
        let mut per: Vec<Vec<u64>> = vec![Vec::new(); 5];
        for i in 0..200_000u64 {
            // Long-tailed: log-uniform from 10 us to 1 s, plus a spike band.
            let u = rng.uniform();
            let lat = if i % 97 == 0 {
                2_000_000_000 + (u * 1e8) as u64
            } else {
                (10_000.0 * 10f64.powf(u * 5.0)) as u64
            };
            let end = i * 25_000; // 5 s in all
            acc.add(Sample {
                end_ns: end,
                latency_ns: lat,
                status: 200,
                error: 0,
                bytes: 0,
                lag_ns: None,
            });
            all.push(lat);
            per[(end / 1_000_000_000) as usize].push(lat);
        }
        let r = finish(acc);
        let exact = |v: &mut Vec<u64>, q: f64| {
            v.sort_unstable();
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            v[rank - 1]
        };
        let close = |got: f64, want: u64, what: &str| {
            let want = want as f64;
            assert!(
                (got - want).abs() <= want * 0.001 + 1.0,
                "{what}: got {got}, exact {want}"
            );
        };
        let l = r.summary.latency_s.clone().unwrap();
        for (q, got) in [
            (0.5, l.p50),
            (0.8, l.p80),
            (0.9, l.p90),
            (0.95, l.p95),
            (0.99, l.p99),
            (0.999, l.p99_9),
        ] {
            close(
                got * 1e9,
                exact(&mut all, q),
                &format!("overall p{}", q * 100.0),
            );
        }
        assert_eq!(
            l.max,
            *all.iter().max().unwrap() as f64 / 1e9,
            "max is exact"
        );
        assert_eq!(
            l.min,
            *all.iter().min().unwrap() as f64 / 1e9,
            "min is exact"
        );
        let mean = all.iter().map(|v| *v as f64).sum::<f64>() / all.len() as f64;
        assert!((l.mean * 1e9 - mean).abs() < 1e-6 * mean, "mean is exact");
        assert_eq!(r.intervals.len(), 5);
        for (iv, v) in r.intervals.iter().zip(per.iter_mut()) {
            assert_eq!(iv.count, v.len() as u64);
            // The last ends with the run, 25 us short: partial, no percentiles.
            let Some(lat) = iv.latency else {
                assert!(iv.partial && iv.index == 4);
                continue;
            };
            for (q, got) in [(0.5, lat.p50), (0.9, lat.p90), (0.99, lat.p99)] {
                close(
                    got as f64,
                    exact(v, q),
                    &format!("interval {} q{q}", iv.index),
                );
            }
            assert_eq!(lat.max, *v.iter().max().unwrap());
        }
    }

    /// No requests, or only failures: every file is still written, nothing panics.
    #[test]
    fn degenerate_reports_write_every_file() {
        let dir = std::env::temp_dir().join(format!("barrage-degenerate-{}", std::process::id()));
        let empty = finish(Accumulator::new(ReportOptions::default()));
        let mut acc = Accumulator::new(ReportOptions::default());
        for i in 0..5 {
            acc.add(Sample {
                end_ns: i * 700_000_000,
                latency_ns: 0,
                status: 0,
                error: ErrorKind::Timeout as u8,
                bytes: 0,
                lag_ns: None,
            });
        }
        let failures = finish(acc);
        let mut acc = Accumulator::new(ReportOptions::default());
        acc.add(s(0, 0));
        let instant = finish(acc);
        for (name, r) in [
            ("empty", empty),
            ("failures", failures),
            ("instant", instant),
        ] {
            let out = dir.join(name);
            let files = write_files(&r, &out).unwrap();
            assert_eq!(files.len(), 10, "{name}");
            for f in files {
                assert!(std::fs::metadata(&f).unwrap().len() > 0, "{}", f.display());
            }
            let html = std::fs::read_to_string(out.join(names::HTML)).unwrap();
            // Outside the embedded PNGs (whose base64 may spell anything).
            let text: String = html
                .split("base64,")
                .enumerate()
                .map(|(i, part)| match part.split_once('"') {
                    Some((_, rest)) if i > 0 => rest,
                    _ => part,
                })
                .collect();
            for bad in ["NaN", "inf\"", ">inf", "-inf"] {
                assert!(!text.contains(bad), "{name}: {bad} in report.html");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn open_loop_lag_is_summarised() {
        let mut acc = Accumulator::new(ReportOptions::default());
        for i in 0..100u64 {
            // 1 us (on time), 1.9 ms and exactly 2 ms (the timer's grain: not
            // behind), 2.1 ms and 500 ms (behind).
            let lag = match i {
                0..80 => 1000,
                80..85 => 1_900_000,
                85 => 2_000_000,
                86..90 => 2_100_000,
                _ => 500_000_000,
            };
            acc.add(Sample {
                lag_ns: Some(lag),
                ..s(i, 1)
            });
        }
        acc.add(s(200, 1));
        let r = finish(acc);
        let sch = r.summary.schedule.expect("open-loop requests");
        assert_eq!((sch.scheduled, sch.behind), (100, 14));
        assert_eq!(sch.behind_threshold_s, 0.002);
        assert_eq!(sch.lag_s.max, 0.5);
        assert!((sch.lag_s.p50 - 1e-6).abs() < 1e-8, "{}", sch.lag_s.p50);
        let plain = finish(Accumulator::new(ReportOptions::default()));
        assert!(plain.summary.schedule.is_none());
    }

    #[test]
    fn moments_are_exact() {
        let mut m = Moments::default();
        for v in [2u64, 4, 4, 4, 5, 5, 7, 9] {
            m.add(v);
        }
        assert_eq!(m.mean(), 5.0);
        assert_eq!(m.stdev(), 2.0);
        assert_eq!((m.min, m.max), (2, 9));
    }

    #[test]
    fn errors_are_counted_apart_from_latency() {
        let mut acc = Accumulator::new(ReportOptions::default());
        acc.add(s(10, 5));
        acc.add(Sample {
            end_ns: 20_000_000,
            latency_ns: 9_000_000_000,
            status: 0,
            error: ErrorKind::ConnectRefused as u8,
            bytes: 0,
            lag_ns: None,
        });
        let r = finish(acc);
        assert_eq!(r.summary.requests.errors, 1);
        assert_eq!(r.overall.len(), 1, "only successes in the percentiles");
        assert_eq!(r.error_points.len(), 1);
        assert_eq!(r.summary.errors_by_kind["connect refused"], 1);
        assert_eq!(r.intervals[0].errors, 1);
    }

    /// Issue 12 item 2: records that kept the status line of a response that then
    /// failed (as every sample file written before the rule holds them) are counted
    /// under no status; a response that failed a check keeps its status.
    #[test]
    fn status_table_counts_only_complete_responses() {
        let rec = |status, error: ErrorKind| Record {
            end_ns: 1_000_000,
            status,
            error: error as u8,
            flags: crate::record::FLAG_VALID,
            ..Default::default()
        };
        let mut acc = Accumulator::new(ReportOptions::default());
        acc.add_record(&rec(200, ErrorKind::None));
        acc.add_record(&rec(200, ErrorKind::EofMidResponse));
        acc.add_record(&rec(200, ErrorKind::Malformed));
        acc.add_record(&rec(200, ErrorKind::Timeout));
        acc.add_record(&rec(503, ErrorKind::UnexpectedStatus));
        let r = finish(acc);
        assert_eq!(
            r.summary.status,
            BTreeMap::from([(200, 1), (503, 1)]),
            "complete responses only"
        );
        assert_eq!(r.summary.requests.errors, 4);
        assert!(r.error_points.iter().all(|p| p.status != 200));
    }
}
