//! Live progress: per-loop counters in a small shared file mapping (`progress.bin` in
//! the run directory) that the launcher creates before it forks, so every worker
//! process inherits the same pages. Each loop writes only its own cache-line-aligned
//! slot (single writer: plain relaxed load + store, no locked instruction), and the
//! launcher reads all slots at every whole second of the run to print requests/s, errors and an
//! approximate p99. No pipe, no message per request.
//!
//! The same slots also carry the counters `barrage run --metrics-listen` serves
//! (`src/metrics/`): requests by status class and by error kind, bytes, a latency
//! histogram with fixed buckets, requests started, connections opened and open. A
//! finished request's counters are written under the slot's sequence word (a seqlock:
//! two more plain stores), so a reader sees every counter of a slot at one request
//! boundary: the histogram's count always equals the requests counted.
//!
//! `unsafe` here is the shared mapping, as in `record/log.rs` (allowed item by item; the
//! crate denies it).

use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};

/// Latency buckets: 4 per power of two of microseconds, 40 powers (up to ~12 days).
const BUCKETS: usize = 160;

/// The fixed latency buckets of the metrics histogram: upper bounds, ns (Prometheus's
/// `le`, inclusive), 100 us to 60 s; one more bucket counts the requests above.
pub const HIST_BOUNDS_NS: [u64; 18] = [
    100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000,
    100_000_000, 250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000, 5_000_000_000,
    10_000_000_000, 30_000_000_000, 60_000_000_000,
];
/// Buckets of the metrics histogram, the last one above 60 s.
pub const HIST: usize = HIST_BOUNDS_NS.len() + 1;
/// Status classes counted: 0 (no complete response), 1xx to 5xx, and anything else.
pub const CLASSES: usize = 7;
/// Error kinds counted, by code (`record::ErrorKind`'s byte, 0 for none).
pub const KINDS: usize = 64;

// Word offsets in a slot.
const W_REQUESTS: usize = 0;
const W_ERRORS: usize = 1;
const W_BUCKETS: usize = 2;
/// Seqlock: odd while the loop writes a finished request's counters.
const W_SEQ: usize = W_BUCKETS + BUCKETS;
const W_STARTED: usize = W_SEQ + 1;
const W_BYTES: usize = W_STARTED + 1;
const W_LATENCY_SUM: usize = W_BYTES + 1;
const W_CLASSES: usize = W_LATENCY_SUM + 1;
const W_KINDS: usize = W_CLASSES + CLASSES;
const W_HIST: usize = W_KINDS + KINDS;
const W_OPENED: usize = W_HIST + HIST;
const W_OPEN: usize = W_OPENED + 1;
/// u64 words per slot, padded to whole cache lines.
const WORDS: usize = (W_OPEN + 1).div_ceil(8) * 8;
const SLOT_BYTES: usize = WORDS * 8;

/// The shared counters of every loop of the run.
pub struct Board {
    map: MmapRaw,
    slots: usize,
}

// SAFETY: slots are only touched through atomics; the mapping lives as long as Board.
#[allow(unsafe_code)]
unsafe impl Send for Board {}
// SAFETY: as for Send: every access from any thread or process is atomic.
#[allow(unsafe_code)]
unsafe impl Sync for Board {}

impl Board {
    /// Creates the board file with one zeroed slot per loop and maps it shared.
    pub fn create(path: &Path, slots: usize) -> io::Result<Board> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len((slots.max(1) * SLOT_BYTES) as u64)?;
        let map = MmapOptions::new().map_raw(&file)?;
        Ok(Board { map, slots })
    }

    #[allow(unsafe_code)]
    fn word(&self, slot: usize, i: usize) -> &AtomicU64 {
        assert!(slot < self.slots && i < WORDS, "progress slot out of range");
        // SAFETY: in bounds (checked above) of a page-aligned shared mapping sized
        // slots x SLOT_BYTES; 8-byte aligned; only accessed atomically.
        unsafe { AtomicU64::from_ptr(self.map.as_mut_ptr().add(slot * SLOT_BYTES + i * 8).cast()) }
    }

    /// The writer for one loop's slot.
    pub fn slot(&self, slot: usize) -> Slot<'_> {
        Slot { board: self, slot }
    }

    /// Sums every slot.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot {
            requests: 0,
            errors: 0,
            buckets: vec![0; BUCKETS],
        };
        for slot in 0..self.slots {
            s.requests += self.word(slot, W_REQUESTS).load(Ordering::Relaxed);
            s.errors += self.word(slot, W_ERRORS).load(Ordering::Relaxed);
            for (b, v) in s.buckets.iter_mut().enumerate() {
                *v += self.word(slot, W_BUCKETS + b).load(Ordering::Relaxed);
            }
        }
        s
    }
}

/// One loop's view of its slot. Only that loop writes it.
#[derive(Clone, Copy)]
pub struct Slot<'a> {
    board: &'a Board,
    slot: usize,
}

impl Slot<'_> {
    #[inline]
    fn bump(&self, i: usize) {
        let w = self.board.word(self.slot, i);
        // Single writer: no read-modify-write instruction needed.
        w.store(w.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    #[inline]
    fn add(&self, i: usize, v: u64) {
        let w = self.board.word(self.slot, i);
        w.store(w.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
    }

    /// Counts a finished request: its latency (ns), reported status, error code (0:
    /// none) and bytes read. Written under the slot's seqlock (see [`Board::counters`]).
    #[inline]
    pub fn record(&self, latency_ns: u64, status: u16, error: u8, bytes: u64) {
        let seq = self.board.word(self.slot, W_SEQ);
        let s = seq.load(Ordering::Relaxed);
        seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.bump(W_REQUESTS);
        if error != 0 {
            self.bump(W_ERRORS);
        } else {
            self.bump(W_BUCKETS + bucket(latency_ns / 1000));
        }
        self.add(W_BYTES, bytes);
        self.add(W_LATENCY_SUM, latency_ns);
        self.bump(W_CLASSES + status_class(status));
        self.bump(W_KINDS + (error as usize).min(KINDS - 1));
        self.bump(W_HIST + hist_bucket(latency_ns));
        seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Counts a request started (bumped before it can finish, so started minus
    /// finished is the requests in flight).
    #[inline]
    pub fn started(&self) {
        self.bump(W_STARTED);
    }

    /// Publishes the loop's connection counts: opened so far, and open now.
    pub fn connections(&self, opened: u64, open: u64) {
        self.board
            .word(self.slot, W_OPENED)
            .store(opened, Ordering::Relaxed);
        self.board
            .word(self.slot, W_OPEN)
            .store(open, Ordering::Relaxed);
    }
}

/// 0 for no complete response (status 0), 1 to 5 for 1xx to 5xx, 6 for anything else.
#[inline]
fn status_class(status: u16) -> usize {
    match status {
        0 => 0,
        100..=599 => (status / 100) as usize,
        _ => CLASSES - 1,
    }
}

/// The metrics histogram's bucket of a latency: the first whose bound it does not
/// exceed, or the last (above 60 s).
#[inline]
fn hist_bucket(latency_ns: u64) -> usize {
    HIST_BOUNDS_NS
        .iter()
        .position(|&b| latency_ns <= b)
        .unwrap_or(HIST - 1)
}

/// One loop's counters for the metrics endpoint, read at one request boundary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopCounters {
    pub requests: u64,
    pub errors: u64,
    pub bytes: u64,
    pub latency_sum_ns: u64,
    /// By status class: 0 (no complete response), 1xx..5xx, other.
    pub classes: [u64; CLASSES],
    /// By error code (index 0: requests without error).
    pub kinds: Vec<u64>,
    /// The fixed-bucket latency histogram, per bucket (not cumulative).
    pub hist: [u64; HIST],
    /// Requests started (at least `requests`).
    pub started: u64,
    pub opened: u64,
    pub open: u64,
}

impl Board {
    /// Every loop's counters for the metrics endpoint. Each slot is read at one
    /// request boundary (seqlock: read, then check the sequence word did not move);
    /// a slot whose writer never lets a read through (a process killed mid-write
    /// leaves its word odd) is read as it is after a bounded number of tries.
    pub fn counters(&self) -> Vec<LoopCounters> {
        (0..self.slots)
            .map(|slot| self.slot_counters(slot))
            .collect()
    }

    fn slot_counters(&self, slot: usize) -> LoopCounters {
        let load = |i: usize| self.word(slot, i).load(Ordering::Relaxed);
        let seq = self.word(slot, W_SEQ);
        // Spin briefly (a write takes nanoseconds), then yield: a writer preempted
        // mid-write on a busy machine needs the CPU back to finish. Only a writer that
        // never finishes (its process killed mid-write) exhausts the tries (~50 ms).
        let mut consistent = None;
        for attempt in 0..10_500u32 {
            if attempt >= 10_000 {
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
            let s1 = seq.load(Ordering::Acquire);
            if s1 % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let c = self.read_slot(slot);
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == s1 {
                consistent = Some(c);
                break;
            }
        }
        let mut c = consistent.unwrap_or_else(|| self.read_slot(slot));
        // Read after the counters: at least every request they counted had started.
        c.started = load(W_STARTED).max(c.requests);
        c.opened = load(W_OPENED);
        c.open = load(W_OPEN);
        c
    }

    fn read_slot(&self, slot: usize) -> LoopCounters {
        let load = |i: usize| self.word(slot, i).load(Ordering::Relaxed);
        LoopCounters {
            requests: load(W_REQUESTS),
            errors: load(W_ERRORS),
            bytes: load(W_BYTES),
            latency_sum_ns: load(W_LATENCY_SUM),
            classes: std::array::from_fn(|i| load(W_CLASSES + i)),
            kinds: (0..KINDS).map(|i| load(W_KINDS + i)).collect(),
            hist: std::array::from_fn(|i| load(W_HIST + i)),
            ..LoopCounters::default()
        }
    }
}

fn bucket(us: u64) -> usize {
    if us < 4 {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros() as usize; // >= 2
    let sub = ((us >> (exp - 2)) & 3) as usize;
    ((exp - 1) * 4 + sub).min(BUCKETS - 1)
}

/// Lowest latency (us) of a bucket.
fn bucket_floor(b: usize) -> u64 {
    if b < 4 {
        return b as u64;
    }
    let exp = b / 4 + 1;
    let sub = (b % 4) as u64;
    (4 + sub) << (exp - 2)
}

/// Totals at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub requests: u64,
    pub errors: u64,
    buckets: Vec<u64>,
}

impl Snapshot {
    /// Approximate p99 (us) of the requests between `earlier` and `self`: the floor
    /// of the bucket holding it (within 25%).
    pub fn p99_since(&self, earlier: &Snapshot) -> Option<u64> {
        let diff: Vec<u64> = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, v)| v - earlier.buckets.get(i).copied().unwrap_or(0))
            .collect();
        let total: u64 = diff.iter().sum();
        if total == 0 {
            return None;
        }
        let want = (total as f64 * 0.99).ceil() as u64;
        let mut seen = 0;
        for (b, n) in diff.iter().enumerate() {
            seen += n;
            if seen >= want {
                return Some(bucket_floor(b));
            }
        }
        None
    }
}

/// When the progress line after the one at `now` (since the run's start) is due: the
/// next whole second, or the end of the run (`-d`) if that comes first. After the
/// end, whole seconds again (the last requests are draining).
pub fn next_tick(now: Duration, total: Option<Duration>) -> Duration {
    let second = Duration::from_secs(now.as_secs() + 1);
    match total {
        Some(t) if now < t && t < second => t,
        _ => second,
    }
}

/// The live progress line, at most [`crate::report::terminal::WIDTH`] columns for any run
/// shorter than a day: `[   3.0s/10s]   105720 req/s  p99 ~3.58ms  total 290008
/// errors 0`. `rate` is requests/s since the last line, `p99_us` theirs; `requests`
/// and `errors` are cumulative, so errors compare with the total.
pub fn line(
    elapsed: Duration,
    total: Option<Duration>,
    rate: f64,
    p99_us: Option<u64>,
    requests: u64,
    errors: u64,
) -> String {
    let of = total.map_or(String::new(), |t| {
        format!("/{}", crate::report::fmt::fmt_duration(t))
    });
    let p99 = p99_us.map_or("-".to_string(), |us| crate::report::fmt::fmt_ns(us * 1000));
    format!(
        "[{:6.1}s{of}] {:>8} req/s  p99 ~{p99}  total {}  errors {}",
        elapsed.as_secs_f64(),
        fmt_count(rate.round() as u64),
        fmt_count(requests),
        fmt_count(errors)
    )
}

/// Counts exact up to 7 digits, then `12.35M`, `3.60G` (at most 8 columns).
fn fmt_count(n: u64) -> String {
    match n {
        0..10_000_000 => n.to_string(),
        10_000_000..10_000_000_000 => format!("{:.2}M", n as f64 / 1e6),
        _ => format!("{:.2}G", n as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for us in 0..100_000u64 {
            let b = bucket(us);
            assert!(b >= last, "{us}");
            last = b;
            let floor = bucket_floor(b);
            assert!(
                floor <= us && (us - floor) as f64 <= 0.25 * us as f64 + 1.0,
                "{us} -> {floor}"
            );
        }
    }

    #[test]
    fn ticks_land_on_whole_seconds_and_the_end() {
        let ms = Duration::from_millis;
        let ten = Some(Duration::from_secs(10));
        let mut t = Duration::ZERO;
        let mut ticks = Vec::new();
        while t < Duration::from_secs(10) {
            t = next_tick(t, ten);
            ticks.push(t.as_secs_f64());
        }
        assert_eq!(ticks, (1..=10).map(f64::from).collect::<Vec<_>>());
        // A late wake-up (1.3 s) goes to the next whole second, not 2.3 s.
        assert_eq!(next_tick(ms(1300), ten), ms(2000));
        // A 2.5 s run: 1, 2, then 2.5 (its end), then whole seconds while it drains.
        let short = Some(ms(2500));
        assert_eq!(next_tick(ms(2000), short), ms(2500));
        assert_eq!(next_tick(ms(2500), short), ms(3000));
        assert_eq!(next_tick(ms(400), None), ms(1000));
    }

    #[test]
    fn the_line_fits_80_columns() {
        let worst = line(
            Duration::from_secs(86_399),
            Some(Duration::from_secs(86_400)),
            12_345_678_901.0,
            Some(999_990),
            123_456_789_012,
            123_456_789_012,
        );
        assert!(
            worst.len() <= crate::report::terminal::WIDTH,
            "{} {worst}",
            worst.len()
        );
        assert_eq!(
            line(
                Duration::from_millis(3000),
                Some(Duration::from_millis(2500)),
                105_720.4,
                Some(3580),
                290_008,
                7
            ),
            "[   3.0s/2.5s]   105720 req/s  p99 ~3.58ms  total 290008  errors 7"
        );
        assert_eq!(
            line(Duration::from_secs(1), None, 0.0, None, 0, 0),
            "[   1.0s]        0 req/s  p99 ~-  total 0  errors 0"
        );
    }

    #[test]
    fn board_counts_and_p99() {
        let dir = std::env::temp_dir().join(format!("barrage-progress-{}", std::process::id()));
        let board = Board::create(&dir, 2).unwrap();
        let before = board.snapshot();
        for i in 0..1000u64 {
            board.slot((i % 2) as usize).record(
                if i < 995 { 100_000 } else { 5_000_000 },
                if i == 0 { 0 } else { 200 },
                u8::from(i == 0) * 9,
                10,
            );
        }
        let now = board.snapshot();
        assert_eq!((now.requests, now.errors), (1000, 1));
        let p99 = now.p99_since(&before).unwrap();
        assert!((90..=100).contains(&p99), "{p99}");
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn metrics_counters_by_class_kind_and_bucket() {
        let path = std::env::temp_dir().join(format!("barrage-counters-{}", std::process::id()));
        let board = Board::create(&path, 2).unwrap();
        let s = board.slot(1);
        s.started();
        s.started();
        s.started();
        s.record(100_000, 200, 0, 100); // 100 us: the first bucket (le is inclusive)
        s.record(100_001, 503, 0, 50);
        s.record(61_000_000_000, 0, 9, 0); // a timeout above 60 s: the last bucket
        board.slot(0).connections(4, 3);
        let c = board.counters();
        assert_eq!(c[0].opened, 4);
        assert_eq!(c[0].open, 3);
        let c = &c[1];
        assert_eq!((c.requests, c.errors, c.bytes, c.started), (3, 1, 150, 3));
        assert_eq!(c.classes, [1, 0, 1, 0, 0, 1, 0]);
        assert_eq!((c.kinds[0], c.kinds[9]), (2, 1));
        assert_eq!((c.hist[0], c.hist[1], c.hist[HIST - 1]), (1, 1, 1));
        assert_eq!(c.latency_sum_ns, 100_000 + 100_001 + 61_000_000_000);
        assert_eq!(status_class(999), CLASSES - 1);
        std::fs::remove_file(&path).unwrap();
    }

    /// Issue 16: a reader racing a writer always sees a slot at a request boundary, so
    /// the histogram's count equals the requests, by class and by kind.
    #[test]
    fn counters_are_read_at_request_boundaries() {
        let path = std::env::temp_dir().join(format!("barrage-seqlock-{}", std::process::id()));
        let board = Board::create(&path, 1).unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let s = board.slot(0);
                for i in 0..300_000u64 {
                    s.started();
                    s.record(i * 1000, 200 + (i % 4) as u16 * 100, (i % 3) as u8, 1);
                }
                done.store(true, Ordering::Release);
            });
            let mut reads = 0;
            while !done.load(Ordering::Acquire) || reads == 0 {
                let c = &board.counters()[0];
                assert_eq!(c.hist.iter().sum::<u64>(), c.requests);
                assert_eq!(c.classes.iter().sum::<u64>(), c.requests);
                assert_eq!(c.kinds.iter().sum::<u64>(), c.requests);
                assert_eq!(c.bytes, c.requests);
                assert!(c.started >= c.requests);
                reads += 1;
            }
        });
        assert_eq!(board.counters()[0].requests, 300_000);
        std::fs::remove_file(&path).unwrap();
    }
}
