//! The streaming pass: [`Accumulator`] is fed one [`Sample`] at a time (from the merge
//! of sample files, or from a results.csv) and keeps only fixed-size state: a few open
//! per-interval HdrHistograms, counters by status and error kind, the open-loop start
//! lag, and two reservoirs of scatter points. Memory is flat in the number of samples;
//! it grows only with the number of intervals (one row and one compressed histogram
//! each). [`Accumulator::finish`] turns that state into a [`Report`].

use std::collections::{BTreeMap, VecDeque};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};

use super::histograms::{MAX_LATENCY_NS, clamp_quantile, new_histogram, overall_histogram};
use super::reservoir::Reservoir;
use super::steps::Steps;
use super::{
    IntervalLatency, IntervalStats, Moments, Point, Report, ReportError, ReportOptions, Sample,
    ScheduleStats, SourceInfo, Totals, json,
};
use crate::record::Record;

/// An open-loop request that started more than this after its intended start is
/// counted as behind schedule: twice the granularity of the timer that starts
/// requests, so the timer's own lateness (up to a millisecond, at rates where starts
/// are closer together than that) is not reported as the generator falling behind.
pub const BEHIND_SCHEDULE_NS: u64 = 2 * crate::engine::worker::TIMER_GRANULARITY_NS;
/// A run may span at most this many intervals (rows of intervals.csv).
pub const MAX_INTERVALS: u64 = 10_000_000;

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
    /// Scenario runs: per step, and the iterations (`steps.rs`).
    steps: Option<Box<Steps>>,
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
            steps: None,
        }
    }

    /// A scenario run, whose steps (by the records' `target`) have these names: the
    /// report gains the per-step table and the iterations.
    pub fn with_steps(&mut self, names: Vec<String>) {
        self.steps = Some(Box::new(Steps::new(names)));
    }

    /// Adds a sample record (the `visit` callback of `merge::write_csv`).
    #[inline]
    pub fn add_record(&mut self, r: &Record) {
        if r.is_iteration() {
            // Not a request: only a scenario run's report counts it.
            if let Some(st) = self.steps.as_mut() {
                st.add_iteration(r);
            }
            return;
        }
        let s = Sample::from_record(r, self.opts.corrected);
        if let Some(st) = self.steps.as_mut() {
            st.add_request(r.target, &s);
        }
        self.add(s);
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
        let mut summary =
            json::Summary::build(&totals, &self.overall, &self.closed, &self.opts, &source);
        if let Some(st) = &self.steps {
            let (steps, iterations) = st.summaries();
            summary.steps = steps;
            summary.iterations = Some(iterations);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ErrorKind;

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
