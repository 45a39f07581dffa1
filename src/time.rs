//! The run's one time base. Taken with the monotonic clock in the launcher before it
//! forks, inherited by every process and thread, so every sample's nanosecond offsets
//! share one origin. `Instant` is CLOCK_MONOTONIC on Linux: the same clock in every
//! process, never stepped by NTP. Also the UTC calendar dates that run directories,
//! ids and reports show (wall time is only ever displayed or stored, never timed).

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

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm,
/// the inverse of `civil_utc`'s date): certificate validity and cookie expiry dates.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC calendar date and time of `secs` since the Unix epoch: (year, month, day,
/// hour, minute, second). Howard Hinnant's days-from-civil inverse.
fn civil_utc(secs: u64) -> (i64, i64, i64, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `YYYYMMDD-HHMMSS` (UTC), for run directory names and ids.
pub fn utc_stamp(secs: u64) -> String {
    let (y, m, d, hh, mm, ss) = civil_utc(secs);
    format!("{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}")
}

/// `YYYY-MM-DD HH:MM:SS UTC`, for people.
pub fn pretty_utc(secs: u64) -> String {
    let (y, m, d, hh, mm, ss) = civil_utc(secs);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(1_795_855_830), "20261128-085030");
        assert_eq!(pretty_utc(1_795_855_830), "2026-11-28 08:50:30 UTC");
    }
}
