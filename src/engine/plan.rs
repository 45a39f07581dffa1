//! The load plan: when requests start and who starts them. Built once from the command
//! line (`cli/config.rs`) before any process forks, and read as it is by the launcher
//! (file limits, the sample header) and by every loop (`worker.rs`): the load model,
//! the bounds of the run, and how the test's connections, requests and open-loop
//! schedule are shared between its loops (hosts x processes x threads).
//!
//! Every share is exact: [`share`] splits a total so that the parts differ by at most
//! one and add up to the total, so `-c 7 -n 1001` over four loops opens 7 connections
//! and sends 1001 requests, whatever the layout.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::schedule::{Profile, Schedule};

/// When requests start (see `worker.rs`).
///
/// Its `Debug` text is part of the run's configuration hash (`RunConfig::hash`), which
/// sample files of one run must share: keep variant and field names as they are.
#[derive(Debug, Clone)]
pub enum Load {
    /// Each connection sends its next request when its response ends.
    Closed {
        /// Minimum start-to-start time of one connection's requests (`--interval`).
        interval: Option<Duration>,
        /// Spread connection starts over this long (`--rampup`).
        rampup: Option<Duration>,
        /// Active connections over time, for the whole test (`--conn-stages`).
        stages: Option<Arc<Profile>>,
    },
    /// Every request has an intended start on a fixed schedule (`--rate`,
    /// `--rate-stages`).
    Open {
        /// Requests per second over time, for the whole test (all hosts).
        rate: Profile,
        /// Connections the whole test may open to keep the schedule.
        max_connections: usize,
    },
}

impl Load {
    pub fn is_open(&self) -> bool {
        matches!(self, Load::Open { .. })
    }
}

/// The whole test's load and this host's part of it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub load: Load,
    /// Connections of the whole test (all hosts); in open loop, the ones opened first.
    pub connections: usize,
    /// How long requests start (`-d`, or the stages' length).
    pub duration: Option<Duration>,
    /// Requests of the whole test (`-n`).
    pub requests: Option<u64>,
    /// This host's worker processes and the loops (threads) of each.
    pub processes: usize,
    pub threads: usize,
    /// This host's shard and the number of shards (0 and 1 when not distributed).
    pub shard_index: u32,
    pub shard_count: u32,
}

impl Plan {
    /// Worker loops on this host.
    pub fn loops(&self) -> usize {
        self.processes * self.threads
    }

    /// Worker loops of the whole test (all shards).
    pub fn global_loops(&self) -> usize {
        self.loops() * self.shard_count as usize
    }

    /// Index among all loops of the test of this host's loop `l`.
    pub fn global_loop(&self, l: usize) -> usize {
        self.shard_index as usize * self.loops() + l
    }

    /// The share of `total` that goes to this host's loop `l`.
    pub fn loop_share(&self, total: u64, l: usize) -> u64 {
        share(total, self.global_loops(), self.global_loop(l))
    }

    /// Connections of this host's loop `l`.
    pub fn loop_connections(&self, l: usize) -> usize {
        self.loop_share(self.connections as u64, l) as usize
    }

    /// Request quota of this host's loop `l`, when the run is count-bounded.
    pub fn loop_requests(&self, l: usize) -> Option<u64> {
        self.requests.map(|n| self.loop_share(n, l))
    }

    /// When loops stop starting requests, ns since the time base.
    pub fn end_ns(&self) -> Option<u64> {
        self.duration.map(|d| d.as_nanos() as u64)
    }

    /// Open loop: loop `l`'s share of the schedule. Its requests are the test's request
    /// numbers `offset + stride * j`, so request `k` goes to host `k mod N`, and loops
    /// interleave within the host. `None` in closed loop.
    pub fn loop_schedule(&self, l: usize) -> Option<Schedule> {
        let Load::Open { rate, .. } = &self.load else {
            return None;
        };
        let n = self.shard_count as u64;
        Some(Schedule {
            rate: rate.clone(),
            offset: self.shard_index as u64 + n * l as u64,
            stride: n * self.loops() as u64,
        })
    }

    /// Open loop: the connections loop `l` may open to keep its schedule (its share of
    /// `--max-connections`); closed loop: its connections.
    pub fn loop_max_connections(&self, l: usize) -> usize {
        match &self.load {
            Load::Open {
                max_connections, ..
            } => self.loop_share(*max_connections as u64, l) as usize,
            Load::Closed { .. } => self.loop_connections(l),
        }
    }
}

/// `floor(total*(i+1)/n) - floor(total*i/n)`: shares that differ by at most one and
/// sum exactly to `total`.
pub fn share(total: u64, n: usize, i: usize) -> u64 {
    let (t, n, i) = (total as u128, n as u128, i as u128);
    ((t * (i + 1)) / n - (t * i) / n) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(load: Load, processes: usize, threads: usize, shard: (u32, u32)) -> Plan {
        Plan {
            load,
            connections: 7,
            duration: None,
            requests: Some(1001),
            processes,
            threads,
            shard_index: shard.0,
            shard_count: shard.1,
        }
    }

    fn closed() -> Load {
        Load::Closed {
            interval: None,
            rampup: None,
            stages: None,
        }
    }

    #[test]
    fn shares_sum_exactly() {
        for total in [0u64, 1, 7, 64, 1000, 12345] {
            for n in 1..10 {
                let parts: Vec<u64> = (0..n).map(|i| share(total, n, i)).collect();
                assert_eq!(parts.iter().sum::<u64>(), total);
                let (min, max) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
                assert!(max - min <= 1);
            }
        }
    }

    #[test]
    fn loops_of_every_shard_share_the_whole_test_exactly() {
        // Two hosts of 2 processes x 2 threads: eight loops in all.
        let shards: Vec<Plan> = (0..2).map(|i| plan(closed(), 2, 2, (i, 2))).collect();
        let (mut conns, mut reqs) = (0, 0);
        for p in &shards {
            assert_eq!(p.global_loops(), 8);
            for l in 0..p.loops() {
                conns += p.loop_connections(l);
                reqs += p.loop_requests(l).unwrap();
            }
        }
        assert_eq!((conns, reqs), (7, 1001));
        assert_eq!(shards[1].global_loop(3), 7);
    }

    #[test]
    fn open_loop_schedules_interleave_loops_and_hosts() {
        let open = Load::Open {
            rate: Profile::constant(100.0),
            max_connections: 10,
        };
        let p = plan(open, 1, 2, (1, 3));
        // Host 1 of 3, loop 1 of 2: requests 1 + 3 * (2 * j + 1) = 4, 10, 16 ...
        let s = p.loop_schedule(1).unwrap();
        assert_eq!((s.offset, s.stride), (4, 6));
        // Loops 2 and 3 of six: 10 connections share out as 2 and 1 (and 2, 1, 2, 2).
        assert_eq!(
            (p.loop_max_connections(0), p.loop_max_connections(1)),
            (2, 1)
        );
        assert!(plan(closed(), 1, 2, (0, 1)).loop_schedule(0).is_none());
    }
}
