//! The generator's self-check, as one loop measures it: per interval of the run
//! ([`INTERVAL_NS`]), the loop thread's CPU time against wall time, how late its
//! timers fired (the event-loop delay), the idle time left on the core its process is
//! pinned to (from /proc/stat: a core with none left while the loops used little of it
//! was shared, with a server on the same machine say), the connects that failed for
//! want of a local port or file descriptor, and (open loop) how many starts came
//! behind schedule.
//! Each interval ends as one [`CheckRecord`] appended to the process's self-check
//! file (`record/checks.rs`); `report/verdict.rs` judges them.
//!
//! The cost is kept off the request path: the worker calls [`SelfCheck::after_poll`]
//! once per loop iteration with the clock reading it already took (a compare, and
//! rarely a bucket increment); the thread's CPU clock is read and a record written
//! once per interval; per request only a counter or two are touched (no syscall, no
//! clock read).
//!
//! The delay is measured on a probe: a timer due every [`PROBE_NS`] that takes part in
//! the poll's timeout like the loop's own timers. When the loop comes back from a poll
//! at or after the probe's due time, how late it is says how late any timer due then
//! fired: a loop busy with events gets to it only after its batch, and a loop that is
//! runnable but not running (a CPU quota, steal, a noisy neighbour) only when the
//! kernel lets it run. The poll's timeout has whole-millisecond granularity and mio
//! rounds up, so lateness counts from the instant the poll was asked to wake at, not
//! from the probe's due time: a healthy loop's delay is the kernel's timer slack.

use std::sync::Arc;
use std::time::Duration;

use crate::record::ErrorKind;
use crate::record::checks::{CheckLog, CheckRecord, delay_bucket};

/// The self-check's interval: one record per loop per second.
pub const INTERVAL_NS: u64 = 1_000_000_000;
/// The probe timer's period: a loop with nothing else due wakes this often.
pub const PROBE_NS: u64 = 10_000_000;
/// An open-loop start later than this after its intended start counts as late (the
/// report's `BEHIND_SCHEDULE_NS`).
const LATE_START_NS: u64 = crate::report::BEHIND_SCHEDULE_NS;

/// One loop's self-check state.
pub struct SelfCheck {
    log: Option<Arc<CheckLog>>,
    /// The interval being measured: its counters, its start (wall and thread CPU).
    cur: CheckRecord,
    mark_ns: u64,
    cpu_mark_ns: u64,
    /// When the current interval ends.
    boundary_ns: u64,
    /// The probe's due time, and the instant the last poll was asked to wake at.
    probe_ns: u64,
    wake_ns: u64,
    started: bool,
    /// The core the loop's process is pinned to, and its (idle, total) jiffies at the
    /// interval's start.
    core: Option<usize>,
    core_mark: Option<(u64, u64)>,
}

impl SelfCheck {
    /// A self-check writing to `log` (`None`: measure, write nothing).
    /// `core`: the CPU the loop's process is pinned to, if it is.
    pub fn new(
        log: Option<Arc<CheckLog>>,
        process: usize,
        thread: usize,
        core: Option<usize>,
    ) -> SelfCheck {
        SelfCheck {
            log,
            cur: CheckRecord {
                process: process as u16,
                thread: thread as u16,
                ..CheckRecord::default()
            },
            mark_ns: 0,
            cpu_mark_ns: 0,
            boundary_ns: 0,
            probe_ns: u64::MAX,
            wake_ns: 0,
            started: false,
            core,
            core_mark: None,
        }
    }

    /// Starts measuring at `now` (the loop's first requests).
    pub fn begin(&mut self, now: u64) {
        self.started = true;
        let reading = self.core.and_then(core_jiffies);
        self.open(now, reading);
        self.probe_ns = now + PROBE_NS;
    }

    fn open(&mut self, now: u64, core_reading: Option<(u64, u64)>) {
        self.mark_ns = now;
        self.core_mark = core_reading;
        self.cpu_mark_ns = thread_cpu_ns();
        self.cur.interval = (now / INTERVAL_NS) as u32;
        self.boundary_ns = (now / INTERVAL_NS + 1) * INTERVAL_NS;
    }

    /// The poll's timeout given the loop's own (`None`: none due), with the probe
    /// taking part; notes when the poll will wake (mio rounds up to milliseconds).
    pub fn timeout(&mut self, now: u64, loop_timeout: Option<Duration>) -> Option<Duration> {
        if !self.started {
            return loop_timeout;
        }
        let probe = self.probe_ns.saturating_sub(now);
        let ns = loop_timeout.map_or(probe, |d| (d.as_nanos() as u64).min(probe));
        self.wake_ns = now + ns.div_ceil(1_000_000) * 1_000_000;
        Some(Duration::from_nanos(ns))
    }

    /// After each poll, with the loop's fresh clock reading: measures the probe's
    /// lateness if it is due, and ends the interval at its boundary.
    #[inline]
    pub fn after_poll(&mut self, now: u64) {
        if now < self.probe_ns {
            return;
        }
        let late = now.saturating_sub(self.probe_ns.max(self.wake_ns));
        let c = &mut self.cur;
        c.delay_samples = c.delay_samples.saturating_add(1);
        c.delay_max_ns = c.delay_max_ns.max(late);
        c.delay_sum_ns += late;
        c.delay_hist[delay_bucket(late)] += 1;
        self.probe_ns = now + PROBE_NS;
        if now >= self.boundary_ns {
            self.flush(now);
        }
    }

    /// A finished request: counts it if a local resource failed it.
    #[inline]
    pub fn failed(&mut self, kind: ErrorKind) {
        self.cur.note_error(kind);
    }

    /// Open loop: a request intended at `intended` starts at `now`.
    #[inline]
    pub fn scheduled(&mut self, intended: u64, now: u64) {
        self.cur.starts = self.cur.starts.saturating_add(1);
        if now.saturating_sub(intended) > LATE_START_NS {
            self.cur.late_starts = self.cur.late_starts.saturating_add(1);
        }
    }

    /// Ends the run's last interval at `now`.
    pub fn finish(&mut self, now: u64) {
        if self.started && now > self.mark_ns {
            self.flush(now);
        }
        self.started = false;
    }

    /// Writes the interval that ends at `now` and opens the next.
    fn flush(&mut self, now: u64) {
        let cpu = thread_cpu_ns();
        self.cur.wall_ns = now - self.mark_ns;
        self.cur.cpu_ns = cpu.saturating_sub(self.cpu_mark_ns);
        let reading = self.core.and_then(core_jiffies);
        self.cur.core_idle_bp = match (self.core_mark, reading) {
            (Some((idle0, total0)), Some((idle1, total1))) if total1 > total0 => {
                Some((idle1.saturating_sub(idle0) * 10_000 / (total1 - total0)).min(10_000) as u16)
            }
            _ => None,
        };
        if let Some(log) = &self.log {
            // Evidence, not a sample: a record that cannot be written is skipped (the
            // verdict then has less to go on), and the run goes on.
            let _ = log.append(&self.cur);
        }
        self.cur = CheckRecord {
            process: self.cur.process,
            thread: self.cur.thread,
            ..CheckRecord::default()
        };
        self.open(now, reading);
    }

    /// The interval being measured (for tests).
    pub fn current(&self) -> &CheckRecord {
        &self.cur
    }
}

/// CPU `core`'s idle (idle + iowait) and total jiffies from /proc/stat (guest time is
/// in user already), or `None` where there is no such line.
pub fn core_jiffies(core: usize) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_core_jiffies(&stat, core)
}

fn parse_core_jiffies(stat: &str, core: usize) -> Option<(u64, u64)> {
    let name = format!("cpu{core}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal
    (v.len() == 8).then(|| (v[3] + v[4], v.iter().sum()))
}

/// This thread's CPU time, ns (0 if the clock cannot be read).
pub fn thread_cpu_ns() -> u64 {
    use nix::time::{ClockId, clock_gettime};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe's lateness counts from the instant the poll was asked to wake at
    /// (rounded up to a millisecond), and a loop coming back late is measured late.
    #[test]
    fn probe_lateness_counts_from_the_promised_wake() {
        let mut c = SelfCheck::new(None, 0, 0, None);
        c.begin(100_000_000);
        // The loop's own timer is 3.2 ms away: the probe (10 ms) waits.
        let t = c.timeout(100_000_000, Some(Duration::from_micros(3200)));
        assert_eq!(t, Some(Duration::from_micros(3200)));
        c.after_poll(104_000_000);
        assert_eq!(c.current().delay_samples, 0);
        // Nothing else due: the probe times the poll; the wake-up 50 us late.
        let t = c.timeout(104_000_000, None).unwrap();
        assert_eq!(t, Duration::from_millis(6));
        c.after_poll(110_050_000);
        assert_eq!(c.current().delay_samples, 1);
        assert_eq!(c.current().delay_hist[0], 1);
        // A loop busy for 30 ms with events (timeouts of zero) gets to it 30 ms late.
        c.timeout(110_050_000, Some(Duration::ZERO));
        c.after_poll(150_050_000);
        assert_eq!(c.current().delay_max_ns, 30_000_000);
        assert_eq!(c.current().delay_hist[delay_bucket(30_000_000)], 1);
    }

    #[test]
    fn local_failures_and_late_starts_are_counted() {
        let mut c = SelfCheck::new(None, 1, 2, None);
        c.begin(0);
        c.failed(ErrorKind::ConnectNoPort);
        c.failed(ErrorKind::ConnectNoFiles);
        c.failed(ErrorKind::ConnectRefused);
        c.scheduled(1_000, 1_500);
        c.scheduled(1_000, 1_000 + 3_000_000);
        let r = c.current();
        assert_eq!((r.no_port, r.no_files), (1, 1));
        assert_eq!((r.starts, r.late_starts), (2, 1));
        assert_eq!((r.process, r.thread), (1, 2));
    }

    /// Intervals end at whole seconds of the run, with the thread's CPU time.
    /// A core's line of /proc/stat: idle + iowait, and the first eight fields summed
    /// (guest time is counted in user already); `cpu1` is not `cpu10`.
    #[test]
    fn core_jiffies_come_from_the_core_s_line() {
        let stat = "cpu  10 0 20 300 4 1 2 0 7 0\n\
                    cpu1 1 2 3 40 5 6 7 8 9 10\n\
                    cpu10 100 0 0 0 0 0 0 0 0 0\n\
                    intr 1 2 3\n";
        assert_eq!(parse_core_jiffies(stat, 1), Some((45, 72)));
        assert_eq!(parse_core_jiffies(stat, 10), Some((0, 100)));
        assert_eq!(parse_core_jiffies(stat, 2), None);
        assert_eq!(parse_core_jiffies("cpu3 1 2\n", 3), None);
        // This machine's own first core reads.
        assert!(core_jiffies(0).is_some_and(|(idle, total)| idle <= total && total > 0));
    }

    #[test]
    fn intervals_end_at_whole_seconds() {
        let dir = std::env::temp_dir().join(format!("barrage-selfcheck-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("selfcheck-000.bin");
        let log = Arc::new(CheckLog::create(&path, 0).unwrap());
        let mut c = SelfCheck::new(Some(log), 0, 0, Some(0));
        c.begin(500_000_000);
        let mut now = 500_000_000;
        while now < 2_300_000_000 {
            c.timeout(now, None);
            now += PROBE_NS;
            c.after_poll(now);
        }
        c.finish(now);
        let got = crate::record::checks::read_file(&path).unwrap();
        let spans: Vec<(u32, u64)> = got.iter().map(|r| (r.interval, r.wall_ns)).collect();
        assert_eq!(
            spans,
            vec![(0, 500_000_000), (1, 1_000_000_000), (2, 300_000_000)]
        );
        assert!(got.iter().all(|r| r.delay_samples > 0));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
