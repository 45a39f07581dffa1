//! The run's one time base. Taken with the monotonic clock in the launcher before it
//! forks, inherited by every process and thread, so every sample's nanosecond offsets
//! share one origin. `Instant` is CLOCK_MONOTONIC on Linux: the same clock in every
//! process, never stepped by NTP.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
}

impl Clock {
    pub fn new(base: Instant) -> Clock {
        Clock { base }
    }

    pub fn base(&self) -> Instant {
        self.base
    }

    /// Nanoseconds since the time base.
    #[inline]
    pub fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// How long until the time base, when it is in the future (`--start-at`).
    pub fn until_start(&self) -> Duration {
        self.base.saturating_duration_since(Instant::now())
    }

    /// The instant `ns` after the base.
    pub fn at(&self, ns: u64) -> Instant {
        self.base + Duration::from_nanos(ns)
    }
}

/// Unix time in ns.
pub fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
