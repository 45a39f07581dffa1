//! The verdict: whose limit a run measured, judged from the self-check records every
//! loop wrote (`record/checks.rs`, measured by `engine/selfcheck.rs`). It is part of
//! the summary (`verdict` in summary.json), printed as one line at the end of a run,
//! shown at the top of report.html (whose charts shade the intervals where the
//! generator was the limit), and `--fail-if generator-bound` fails a run on it.
//!
//! Each interval of the self-check (one second) is judged on its own; the thresholds
//! and why they are what they are are in docs/report.md ("The verdict"):
//!
//! - **local resources**: a connect failed for want of a local port (EADDRNOTAVAIL)
//!   or a file descriptor (EMFILE, ENFILE). Any such failure makes the run's verdict,
//!   since those requests never reached the server.
//! - **generator-bound**: barrage's busiest core (a worker process, pinned to its core,
//!   all its loops' CPU time over the wall time) was at least [`BUSY`] busy: the loops
//!   had no idle time left, so requests waited on barrage.
//! - **generator starved**: a loop's timers fired so late that their lateness adds up
//!   to at least [`STARVED_SHARE`] of the interval, while the cores were not busy:
//!   the loop was runnable but not running (a CPU quota, steal, a noisy neighbour)
//!   for that share of the time, and every request in flight then was stretched by
//!   as much.
//!
//! The run is generator-limited when at least [`LIMITED_SHARE`] of its judged
//! intervals (and at least one) were; otherwise its verdict is server-bound (what was
//! measured is the server, or the network between).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::record::checks::{CheckRecord, DELAY_BOUNDS_NS, DELAY_BUCKETS};
use crate::report::fmt::fmt_secs;

/// A core at least this busy (CPU time / wall time) leaves its loops no idle time.
pub const BUSY: f64 = 0.90;
/// A loop whose timers' lateness adds up to this share of an interval, with cores
/// under [`BUSY`], was starved: kept from running a tenth of the time. A CPU quota
/// of Q% of a core keeps a busy loop waiting (100 - Q)% of every CFS period; a
/// healthy loop's lateness is its wake-up jitter (tens of microseconds per 10 ms
/// probe, well under 1%); a neighbour's occasional preemption of a few tens of
/// milliseconds a second stays under it (the delay p99 shows it).
pub const STARVED_SHARE: f64 = 0.10;
/// The share of judged intervals that makes the whole run generator-limited.
pub const LIMITED_SHARE: f64 = 0.10;
/// Intervals measured over less wall time than this (the run's last, cut short) are
/// shown but not judged: a CPU share over a few milliseconds says little.
pub const MIN_JUDGED_NS: u64 = 500_000_000;

/// What limited one interval, or the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    /// Nothing on barrage's side: the server (or the network) set the pace.
    ServerBound,
    /// barrage's cores were busy.
    GeneratorBound,
    /// barrage's loops were runnable but not running.
    GeneratorStarved,
    /// barrage's cores had no idle time left, though its loops used little of them:
    /// other work ran there (a server on the same machine, other processes, steal).
    SharedCores,
    /// Connects failed for want of a local port.
    LocalPorts,
    /// Connects failed for want of a file descriptor.
    OpenFiles,
}

impl Limit {
    pub fn name(self) -> &'static str {
        match self {
            Limit::ServerBound => "server-bound",
            Limit::GeneratorBound => "generator-bound",
            Limit::GeneratorStarved => "generator-starved",
            Limit::SharedCores => "shared-cores",
            Limit::LocalPorts => "local-ports",
            Limit::OpenFiles => "open-files",
        }
    }

    /// Whether the figures describe barrage rather than the server.
    pub fn is_generator(self) -> bool {
        self != Limit::ServerBound
    }
}

/// The thresholds a verdict was judged by (written with it, so a summary.json says
/// what its verdict meant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub busy: f64,
    pub starved_share: f64,
    pub limited_share: f64,
}

/// The evidence of one interval of the self-check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckInterval {
    pub index: u64,
    pub start_s: f64,
    /// The wall time the loops measured (the longest of them).
    pub wall_s: f64,
    /// The busiest worker process's CPU time over wall time (its loops summed; each
    /// process is pinned to one core), and the mean over processes.
    pub busiest_core: f64,
    pub mean_core: f64,
    /// The least idle time left on a core barrage's processes are pinned to (share of
    /// the interval); `null` when not measured.
    #[serde(default)]
    pub core_idle: Option<f64>,
    /// How late the loops' timers fired: p99 (the upper bound of its bucket) and max.
    pub loop_delay_p99_s: f64,
    pub loop_delay_max_s: f64,
    /// The most any loop was kept from running: its timers' lateness summed over the
    /// interval's wall time.
    pub loop_stalled: f64,
    pub no_port_connects: u64,
    pub no_files_connects: u64,
    /// Open loop: starts on the schedule, and those behind it.
    pub starts: u64,
    pub late_starts: u64,
    /// What limited it; `null` for an interval too short to judge.
    pub limit: Option<Limit>,
}

/// The run's verdict, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// What limited the run.
    pub limit: Limit,
    /// Whether the figures describe barrage rather than the server.
    pub generator_limited: bool,
    /// The verdict as the terminal prints it.
    pub line: String,
    /// Intervals judged, and those where the generator was the limit.
    pub intervals_judged: u64,
    pub intervals_limited: u64,
    /// Whole run: the busiest worker process's CPU share, the loop delay's p99 and
    /// max over every timer wake-up.
    pub busiest_core: f64,
    pub loop_delay_p99_s: f64,
    pub loop_delay_max_s: f64,
    pub no_port_connects: u64,
    pub no_files_connects: u64,
    pub starts: u64,
    pub late_starts: u64,
    pub thresholds: Thresholds,
    pub intervals: Vec<CheckInterval>,
}

/// Delay counts merged over records.
#[derive(Default, Clone, Copy)]
struct Delays {
    hist: [u64; DELAY_BUCKETS],
    max: u64,
}

impl Delays {
    fn add(&mut self, r: &CheckRecord) {
        for (a, b) in self.hist.iter_mut().zip(r.delay_hist) {
            *a += b as u64;
        }
        self.max = self.max.max(r.delay_max_ns);
    }

    /// The p99's bucket: its lower and upper bounds (the upper capped by the max).
    fn p99(&self) -> (u64, u64) {
        let total: u64 = self.hist.iter().sum();
        if total == 0 {
            return (0, 0);
        }
        let want = (total as f64 * 0.99).ceil() as u64;
        let mut seen = 0;
        for (b, n) in self.hist.iter().enumerate() {
            seen += n;
            if seen >= want {
                let low = if b == 0 { 0 } else { DELAY_BOUNDS_NS[b - 1] };
                let high = DELAY_BOUNDS_NS.get(b).copied().unwrap_or(self.max);
                return (low, high.min(self.max));
            }
        }
        (0, self.max)
    }
}

/// Judges a run from its self-check records, each tagged with the directory (host)
/// it came from. `None` without records (a run from before the self-check, or a
/// results.csv).
pub fn judge(records: &[(usize, CheckRecord)]) -> Option<Verdict> {
    if records.is_empty() {
        return None;
    }
    type Proc = (usize, u16);
    let mut by_interval: BTreeMap<u32, Vec<&(usize, CheckRecord)>> = BTreeMap::new();
    for r in records {
        by_interval.entry(r.1.interval).or_default().push(r);
    }
    let mut intervals = Vec::new();
    let mut all = Delays::default();
    let mut proc_cpu: BTreeMap<Proc, (u64, u64)> = BTreeMap::new();
    let (mut no_port, mut no_files, mut starts, mut late) = (0u64, 0u64, 0u64, 0u64);
    for (&index, rs) in &by_interval {
        let mut delays = Delays::default();
        // Per process: CPU summed over its loops, wall the longest of them.
        let mut procs: BTreeMap<Proc, (u64, u64)> = BTreeMap::new();
        let mut iv = CheckInterval {
            index: index as u64,
            start_s: index as f64,
            wall_s: 0.0,
            busiest_core: 0.0,
            mean_core: 0.0,
            core_idle: None,
            loop_delay_p99_s: 0.0,
            loop_delay_max_s: 0.0,
            loop_stalled: 0.0,
            no_port_connects: 0,
            no_files_connects: 0,
            starts: 0,
            late_starts: 0,
            limit: None,
        };
        let mut wall = 0;
        for (dir, r) in rs.iter().map(|x| (x.0, &x.1)) {
            delays.add(r);
            all.add(r);
            let p = procs.entry((dir, r.process)).or_default();
            p.0 += r.cpu_ns;
            p.1 = p.1.max(r.wall_ns);
            wall = wall.max(r.wall_ns);
            if let Some(bp) = r.core_idle_bp {
                let idle = f64::from(bp) / 10_000.0;
                iv.core_idle = Some(iv.core_idle.map_or(idle, |i: f64| i.min(idle)));
            }
            if r.wall_ns > 0 {
                iv.loop_stalled = iv
                    .loop_stalled
                    .max(r.delay_sum_ns as f64 / r.wall_ns as f64);
            }
            iv.no_port_connects += r.no_port as u64;
            iv.no_files_connects += r.no_files as u64;
            iv.starts += r.starts as u64;
            iv.late_starts += r.late_starts as u64;
        }
        let shares: Vec<f64> = procs
            .values()
            .map(|&(cpu, w)| if w > 0 { cpu as f64 / w as f64 } else { 0.0 })
            .collect();
        for (k, v) in procs {
            let t = proc_cpu.entry(k).or_default();
            t.0 += v.0;
            t.1 += v.1;
        }
        iv.wall_s = wall as f64 / 1e9;
        iv.busiest_core = shares.iter().copied().fold(0.0, f64::max);
        iv.mean_core = shares.iter().sum::<f64>() / shares.len().max(1) as f64;
        let (_, p99) = delays.p99();
        iv.loop_delay_p99_s = p99 as f64 / 1e9;
        iv.loop_delay_max_s = delays.max as f64 / 1e9;
        iv.limit = if iv.no_port_connects > 0 {
            Some(Limit::LocalPorts)
        } else if iv.no_files_connects > 0 {
            Some(Limit::OpenFiles)
        } else if wall < MIN_JUDGED_NS {
            None
        } else if iv.busiest_core >= BUSY {
            Some(Limit::GeneratorBound)
        } else if iv.core_idle.is_some_and(|idle| idle < 1.0 - BUSY) {
            // As busy as a bound core, but not with barrage's loops.
            Some(Limit::SharedCores)
        } else if iv.loop_stalled >= STARVED_SHARE {
            Some(Limit::GeneratorStarved)
        } else {
            Some(Limit::ServerBound)
        };
        no_port += iv.no_port_connects;
        no_files += iv.no_files_connects;
        starts += iv.starts;
        late += iv.late_starts;
        intervals.push(iv);
    }
    let judged = intervals.iter().filter(|i| i.limit.is_some()).count() as u64;
    let limited: Vec<Limit> = intervals
        .iter()
        .filter_map(|i| i.limit)
        .filter(|l| l.is_generator())
        .collect();
    let busiest = proc_cpu
        .values()
        .map(|&(cpu, w)| if w > 0 { cpu as f64 / w as f64 } else { 0.0 })
        .fold(0.0, f64::max);
    let (_, p99) = all.p99();
    let share_limited =
        !limited.is_empty() && limited.len() as f64 >= LIMITED_SHARE * judged.max(1) as f64;
    // The most frequent generator limit among the limited intervals.
    let count = |l: Limit| limited.iter().filter(|&&x| x == l).count();
    let worst = [
        Limit::GeneratorBound,
        Limit::SharedCores,
        Limit::GeneratorStarved,
    ]
    .into_iter()
    .max_by_key(|&l| count(l))
    .unwrap_or(Limit::GeneratorBound);
    let limit = if no_port > 0 {
        Limit::LocalPorts
    } else if no_files > 0 {
        Limit::OpenFiles
    } else if share_limited {
        worst
    } else {
        Limit::ServerBound
    };
    let mut v = Verdict {
        limit,
        generator_limited: limit.is_generator(),
        line: String::new(),
        intervals_judged: judged,
        intervals_limited: limited.len() as u64,
        busiest_core: busiest,
        loop_delay_p99_s: p99 as f64 / 1e9,
        loop_delay_max_s: all.max as f64 / 1e9,
        no_port_connects: no_port,
        no_files_connects: no_files,
        starts,
        late_starts: late,
        thresholds: Thresholds {
            busy: BUSY,
            starved_share: STARVED_SHARE,
            limited_share: LIMITED_SHARE,
        },
        intervals,
    };
    v.line = line(&v);
    Some(v)
}

fn pct(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

/// The verdict in words: `verdict: server-bound (barrage's busiest core 41%, loop
/// delay p99 0.25ms)`.
fn line(v: &Verdict) -> String {
    let delay = fmt_secs(v.loop_delay_p99_s);
    let stalled = v
        .intervals
        .iter()
        .filter(|i| i.limit == Some(Limit::GeneratorStarved))
        .map(|i| i.loop_stalled)
        .fold(0.0, f64::max);
    let of = format!("{} of {} s", v.intervals_limited, v.intervals_judged);
    let limited_cores = v
        .intervals
        .iter()
        .filter(|i| i.limit.is_some_and(Limit::is_generator))
        .map(|i| i.busiest_core)
        .fold(0.0, f64::max);
    match v.limit {
        Limit::LocalPorts => format!(
            "verdict: limited by local ports: {} connects failed with EADDRNOTAVAIL (no free local port): use --bind with more source addresses, or fewer connections",
            v.no_port_connects
        ),
        Limit::OpenFiles => format!(
            "verdict: limited by open files: {} connects failed with EMFILE/ENFILE: raise the open-file limit (ulimit -n) or add processes (-p)",
            v.no_files_connects
        ),
        Limit::GeneratorBound => format!(
            "verdict: GENERATOR-BOUND in {of}: worker cores {} busy; these figures describe barrage, not the server: add processes or hosts",
            pct(limited_cores)
        ),
        Limit::SharedCores => {
            let shared = v
                .intervals
                .iter()
                .filter(|i| i.limit == Some(Limit::SharedCores));
            let (idle, loops) = shared.fold((1.0f64, 0.0f64), |(idle, loops), i| {
                (
                    idle.min(i.core_idle.unwrap_or(1.0)),
                    loops.max(i.busiest_core),
                )
            });
            format!(
                "verdict: SHARED CORES in {of}: barrage's cores were {} busy, its loops {}: other work ran there (a server on this machine?); these figures describe the machine, not the server alone: give the server cores of its own",
                pct(1.0 - idle),
                pct(loops)
            )
        }
        Limit::GeneratorStarved => format!(
            "verdict: GENERATOR STARVED in {of}: loops kept from running {} of the time (loop delay p99 {delay}) with cores {} busy (CPU quota or steal?); these figures describe barrage, not the server",
            pct(stalled),
            pct(v.busiest_core)
        ),
        Limit::ServerBound => {
            let mut s = format!(
                "verdict: server-bound (barrage's busiest core {}, loop delay p99 {delay})",
                pct(v.busiest_core)
            );
            if v.intervals_limited > 0 {
                s.push_str(&format!("; generator-limited in {of}"));
            }
            s
        }
    }
}

/// Reads the self-check records of every run directory in `dirs` and judges them.
/// A directory whose records cannot be read gives none (the report goes on).
pub fn judge_dirs(dirs: &[PathBuf]) -> Option<Verdict> {
    let mut records = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        if let Ok((_, rs)) = crate::record::checks::read_dir(d) {
            records.extend(rs.into_iter().map(|r| (i, r)));
        }
    }
    judge(&records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(process: u16, interval: u32, busy: f64, delay_ns: u64) -> (usize, CheckRecord) {
        let mut r = CheckRecord {
            process,
            interval,
            wall_ns: 1_000_000_000,
            cpu_ns: (busy * 1e9) as u64,
            delay_samples: 100,
            delay_max_ns: delay_ns,
            delay_sum_ns: (100 * delay_ns).min(950_000_000),
            ..Default::default()
        };
        r.delay_hist[crate::record::checks::delay_bucket(delay_ns)] = 100;
        (0, r)
    }

    #[test]
    fn server_bound_when_cores_idle_and_timers_on_time() {
        let rs: Vec<_> = (0..10).map(|i| rec(0, i, 0.41, 100_000)).collect();
        let v = judge(&rs).unwrap();
        assert_eq!(v.limit, Limit::ServerBound);
        assert!(!v.generator_limited);
        assert_eq!(
            v.line,
            "verdict: server-bound (barrage's busiest core 41%, loop delay p99 100.0us)"
        );
    }

    /// A core with no idle time left while barrage's loops used half of it was shared
    /// (a server on the same cores); a core with idle time left is not, whatever
    /// the loops used; unmeasured idle time changes nothing.
    #[test]
    fn a_saturated_core_the_loops_barely_used_was_shared() {
        let with_idle = |busy: f64, idle_bp: Option<u16>| -> Vec<_> {
            (0..5)
                .map(|i| {
                    let (d, mut r) = rec(0, i, busy, 100_000);
                    r.core_idle_bp = idle_bp;
                    (d, r)
                })
                .collect()
        };
        let v = judge(&with_idle(0.45, Some(0))).unwrap();
        assert_eq!(v.limit, Limit::SharedCores);
        assert!(v.generator_limited);
        assert_eq!(v.intervals[0].core_idle, Some(0.0));
        assert!(
            v.line.starts_with(
                "verdict: SHARED CORES in 5 of 5 s: barrage's cores were 100% busy, its loops 45%: other work"
            ),
            "{}",
            v.line
        );
        assert_eq!(
            judge(&with_idle(0.45, Some(3_000))).unwrap().limit,
            Limit::ServerBound
        );
        assert_eq!(
            judge(&with_idle(0.45, None)).unwrap().limit,
            Limit::ServerBound
        );
        // Loops that use the core themselves are bound, not shared.
        assert_eq!(
            judge(&with_idle(0.95, Some(0))).unwrap().limit,
            Limit::GeneratorBound
        );
    }

    #[test]
    fn bound_and_starved_intervals() {
        let mut rs: Vec<_> = (0..10)
            .map(|i| rec(0, i, if i < 7 { 0.99 } else { 0.3 }, 100_000))
            .collect();
        // A second process, idle: the busiest core decides.
        rs.extend((0..10).map(|i| rec(1, i, 0.1, 100_000)));
        let v = judge(&rs).unwrap();
        assert_eq!(v.limit, Limit::GeneratorBound);
        assert_eq!((v.intervals_limited, v.intervals_judged), (7, 10));
        assert!(
            v.line
                .starts_with("verdict: GENERATOR-BOUND in 7 of 10 s: worker cores 99% busy")
        );
        let rs: Vec<_> = (0..4).map(|i| rec(0, i, 0.2, 38_000_000)).collect();
        let v = judge(&rs).unwrap();
        assert_eq!(v.limit, Limit::GeneratorStarved);
        assert!(
            v.line.contains(
                "kept from running 95% of the time (loop delay p99 38.00ms) with cores 20% busy"
            ),
            "{}",
            v.line
        );
        // A few long preemptions a second: the p99 shows them, but 3% is no starvation.
        let mut rs: Vec<_> = (0..4).map(|i| rec(0, i, 0.2, 100_000)).collect();
        for r in &mut rs {
            r.1.delay_hist[7] = 2;
            r.1.delay_max_ns = 25_000_000;
            r.1.delay_sum_ns = 30_000_000;
        }
        let v = judge(&rs).unwrap();
        assert_eq!(v.limit, Limit::ServerBound, "{}", v.line);
        assert_eq!(v.loop_delay_p99_s, 0.025);
        // One slow interval in twenty is noted, but does not make the verdict.
        let rs: Vec<_> = (0..20)
            .map(|i| rec(0, i, 0.2, if i == 3 { 38_000_000 } else { 100_000 }))
            .collect();
        let v = judge(&rs).unwrap();
        assert_eq!(v.limit, Limit::ServerBound);
        assert!(
            v.line.ends_with("; generator-limited in 1 of 20 s"),
            "{}",
            v.line
        );
    }

    #[test]
    fn local_resources_win_and_short_tails_are_not_judged() {
        let mut rs: Vec<_> = (0..3).map(|i| rec(0, i, 0.2, 100_000)).collect();
        rs[1].1.no_port = 1204;
        // The last interval, 10 ms long and busy: not judged.
        let mut tail = rec(0, 3, 1.0, 100_000);
        tail.1.wall_ns = 10_000_000;
        tail.1.cpu_ns = 10_000_000;
        rs.push(tail);
        let v = judge(&rs).unwrap();
        assert_eq!(v.limit, Limit::LocalPorts);
        assert_eq!(v.intervals[3].limit, None);
        assert!(
            v.line.contains("1204 connects failed with EADDRNOTAVAIL"),
            "{}",
            v.line
        );
        assert!(judge(&[]).is_none());
    }
}
