//! Live progress: per-loop counters in a small shared file mapping (`progress.bin` in
//! the run directory) that the launcher creates before it forks, so every worker
//! process inherits the same pages. Each loop writes only its own cache-line-aligned
//! slot (single writer: plain relaxed load + store, no locked instruction), and the
//! launcher reads all slots at every whole second of the run to print requests/s, errors and an
//! approximate p99. No pipe, no message per request.
//!
//! `unsafe` here is the shared mapping, as in `record/log.rs` (allowed item by item; the
//! crate denies it).

use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};

/// Latency buckets: 4 per power of two of microseconds, 40 powers (up to ~12 days).
const BUCKETS: usize = 160;
/// u64 words per slot: requests, errors, buckets, padded to whole cache lines.
const WORDS: usize = (2 + BUCKETS).div_ceil(8) * 8;
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
            s.requests += self.word(slot, 0).load(Ordering::Relaxed);
            s.errors += self.word(slot, 1).load(Ordering::Relaxed);
            for (b, v) in s.buckets.iter_mut().enumerate() {
                *v += self.word(slot, 2 + b).load(Ordering::Relaxed);
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
    pub fn record(&self, latency_ns: u64, error: bool) {
        self.bump(0);
        if error {
            self.bump(1);
        } else {
            self.bump(2 + bucket(latency_ns / 1000));
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
            board
                .slot((i % 2) as usize)
                .record(if i < 995 { 100_000 } else { 5_000_000 }, i == 0);
        }
        let now = board.snapshot();
        assert_eq!((now.requests, now.errors), (1000, 1));
        let p99 = now.p99_since(&before).unwrap();
        assert!((90..=100).contains(&p99), "{p99}");
        std::fs::remove_file(&dir).unwrap();
    }
}
