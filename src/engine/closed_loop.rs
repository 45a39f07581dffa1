//! Closed loop, for one worker loop: which connections may work and when each sends
//! its next request. A connection sends its next request when its response ends, or
//! at `previous start + --interval` (pacing); connections come up spread over
//! `--rampup`, or follow `--conn-stages` (this loop's share of the active connections,
//! re-read every millisecond while the profile changes). Pacing and ramp-up starts
//! wait in a small heap of wake-ups; the worker's poll timeout covers the earliest.

use std::ops::Range;
use std::sync::Arc;

use crate::engine::plan::{Load, Plan};
use crate::engine::schedule::Profile;
use crate::engine::wakeups::Wakeups;

/// How often a changing `--conn-stages` profile is re-read, ns.
const STAGE_TICK: u64 = 1_000_000;

/// One loop's closed-loop state.
#[derive(Debug)]
pub struct ClosedLoop {
    /// Minimum start-to-start time of one connection's requests, ns.
    interval: Option<u64>,
    rampup: Option<u64>,
    stages: Option<Arc<Profile>>,
    /// Pacing and ramp-up starts: (when, connection, its `seq` at scheduling).
    wakeups: Wakeups,
    /// Connections `0..active` may work (all but with stages).
    active: usize,
    next_stage_tick: Option<u64>,
}

/// How the first requests of a closed loop start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// Every connection now.
    All,
    /// As the ramp-up's wake-ups come due.
    Ramp,
    /// As the stages' profile says ([`ClosedLoop::stage`]).
    Stages,
}

impl ClosedLoop {
    /// The closed-loop part of `plan` for a loop of `connections` (none of it is used
    /// in open loop).
    pub fn new(plan: &Plan, connections: usize) -> ClosedLoop {
        let (interval, rampup, stages) = match &plan.load {
            Load::Closed {
                interval,
                rampup,
                stages,
            } => (
                interval.map(|d| d.as_nanos() as u64),
                rampup.map(|d| d.as_nanos() as u64),
                stages.clone(),
            ),
            Load::Open { .. } => (None, None, None),
        };
        ClosedLoop {
            interval,
            rampup,
            stages,
            wakeups: Wakeups::default(),
            active: connections,
            next_stage_tick: None,
        }
    }

    /// Sets up the first starts of `n` connections; `phase` is this loop's place among
    /// all loops of the test (index / loops).
    pub fn begin(&mut self, n: usize, phase: f64) -> Begin {
        if let Some(r) = self.rampup {
            // Connection i of this loop starts at (i + l/L) / n of the ramp: loops
            // interleave, and every process ramps the same way, as the original's
            // threads did.
            for i in 0..n {
                let at = ((i as f64 + phase) / n as f64 * r as f64) as u64;
                self.wakeups.push(at, i, 0);
            }
            return Begin::Ramp;
        }
        if self.stages.is_some() {
            self.active = 0;
            return Begin::Stages;
        }
        Begin::All
    }

    /// Connection `i` may work (its stage has it).
    pub fn active(&self, i: usize) -> bool {
        i < self.active
    }

    /// Pacing: whether connection `i`, whose last request (number `seq`, 0 for none)
    /// started at `last_start`, must wait until `--interval` has passed since; if so a
    /// wake-up is queued for then.
    pub fn must_wait(&mut self, i: usize, seq: u32, last_start: u64, now: u64) -> bool {
        let Some(iv) = self.interval else {
            return false;
        };
        let due = last_start + iv;
        if seq > 0 && due > now {
            self.wakeups.push(due, i, seq);
            return true;
        }
        false
    }

    /// The next wake-up due at `now`: the connection and its `seq` when it was queued
    /// (a connection that has started a request since ignores it).
    pub fn due(&mut self, now: u64) -> Option<(usize, u32)> {
        self.wakeups.due(now)
    }

    /// The earliest timer: a wake-up or a stage tick.
    pub fn next_timer(&self) -> Option<u64> {
        let wake = self.wakeups.next();
        match (wake, self.next_stage_tick) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A stage tick is due.
    pub fn stage_due(&self, now: u64) -> bool {
        self.next_stage_tick.is_some_and(|t| t <= now)
    }

    /// `--conn-stages`: this loop's share (by `share`, of the test's total) of the
    /// connections active at `now`, at most `n`. Returns the connections that just
    /// became active (the others stop after their current request).
    pub fn stage(&mut self, now: u64, n: usize, share: impl Fn(u64) -> u64) -> Range<usize> {
        let Some(p) = &self.stages else {
            return 0..0;
        };
        let total = p.value_at(now).floor() as u64;
        let active = (share(total) as usize).min(n);
        self.next_stage_tick = if p.settled(now) {
            None
        } else {
            Some(now + STAGE_TICK)
        };
        let before = self.active;
        self.active = active;
        before..active
    }

    /// With stages: the profile has settled at no connection, so nothing more starts.
    pub fn stages_over(&self, now: u64) -> bool {
        self.stages
            .as_ref()
            .is_some_and(|p| p.settled(now) && self.active == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn plan(load: Load) -> Plan {
        Plan {
            load,
            connections: 4,
            duration: None,
            requests: None,
            processes: 1,
            threads: 2,
            shard_index: 0,
            shard_count: 1,
        }
    }

    fn closed(interval: Option<u64>, rampup: Option<u64>, stages: Option<&str>) -> ClosedLoop {
        let load = Load::Closed {
            interval: interval.map(Duration::from_nanos),
            rampup: rampup.map(Duration::from_nanos),
            stages: stages.map(|s| Arc::new(Profile::parse(s).unwrap())),
        };
        ClosedLoop::new(&plan(load), 4)
    }

    #[test]
    fn ramp_up_spreads_the_first_starts_and_interleaves_loops() {
        let mut c = closed(None, Some(1_000_000), None);
        // The second of two loops: phase 1/2.
        assert_eq!(c.begin(4, 0.5), Begin::Ramp);
        assert_eq!(c.next_timer(), Some(125_000));
        let mut starts = Vec::new();
        while let Some((i, seq)) = c.due(u64::MAX) {
            starts.push((i, seq));
        }
        assert_eq!(starts, [(0, 0), (1, 0), (2, 0), (3, 0)]);
        assert!((0..4).all(|i| c.active(i)));
    }

    #[test]
    fn pacing_waits_from_the_last_start() {
        let mut c = closed(Some(1_000), None, None);
        assert_eq!(c.begin(4, 0.0), Begin::All);
        assert!(!c.must_wait(2, 0, 0, 10), "a first request never waits");
        assert!(c.must_wait(2, 7, 500, 900), "due at 1500");
        assert_eq!(c.next_timer(), Some(1_500));
        assert_eq!(c.due(1_499), None);
        assert_eq!(c.due(1_500), Some((2, 7)));
        assert!(!c.must_wait(2, 8, 500, 1_500), "due now");
    }

    #[test]
    fn stages_activate_this_loops_share() {
        // 0 to 8 connections over 8 ms, then hold: the whole test's count; this loop
        // takes half (the share function).
        let mut c = closed(None, None, Some("8ms:8"));
        assert_eq!(c.begin(4, 0.0), Begin::Stages);
        assert!(!c.active(0));
        let half = |total: u64| total / 2;
        assert_eq!(c.stage(0, 4, half), 0..0);
        assert!(c.stage_due(1_000_000) && !c.stage_due(999_999));
        assert_eq!(c.stage(4_000_000, 4, half), 0..2);
        assert!(c.active(1) && !c.active(2));
        assert_eq!(c.stage(8_000_000, 4, half), 2..4);
        assert!(!c.stage_due(u64::MAX), "settled: no more ticks");
        assert!(!c.stages_over(8_000_000));
    }
}
