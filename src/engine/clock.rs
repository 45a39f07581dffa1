//! The run's clocks, set up in the launcher before the fork: the time base every
//! process inherits (now, or the `--start-at` instant), and the kernel's view of the
//! system clock's synchronisation (adjtimex), stored in each sample header and checked
//! against `--max-clock-error` so the hosts of a distributed run line up.
//!
//! `unsafe` here (allowed item by item; the crate denies it): `adjtimex`, a plain
//! syscall nix does not wrap.

use std::time::{Duration, Instant};

use crate::cli::config::RunConfig;
use crate::errln;
use crate::record::ClockState;
use crate::time::wall_ns;

/// The time base and its wall-clock time (Unix ns): now, or the `--start-at` instant
/// (which may be in the future: the loops wait for it after setting up, so every host
/// starts together).
pub fn time_base(start_at_ns: Option<u64>) -> (Instant, u64) {
    let now_wall = wall_ns();
    match start_at_ns {
        Some(at) if at > now_wall => (Instant::now() + Duration::from_nanos(at - now_wall), at),
        Some(at) => {
            let now = Instant::now();
            (
                now.checked_sub(Duration::from_nanos(now_wall - at))
                    .unwrap_or(now),
                at,
            )
        }
        None => (Instant::now(), now_wall),
    }
}

/// The clock's state at the start. With `--max-clock-error`, an unsynchronised clock
/// or one whose error bound is larger is a warning, or with `--strict-clock` an error
/// (the reason, in words).
pub fn check(cfg: &RunConfig) -> Result<ClockState, String> {
    let clock_start = clock_state();
    if let Some(max) = cfg.max_clock_error {
        let err_us = clock_start.max_error_us.max(0) as u64;
        if clock_start.unsynced || err_us > max.as_micros() as u64 {
            let why = if clock_start.unsynced {
                "the system clock is not synchronised (adjtimex: STA_UNSYNC)".to_string()
            } else {
                format!(
                    "the clock's error bound is {} ms, above --max-clock-error {:?}",
                    err_us / 1000,
                    max
                )
            };
            if cfg.strict_clock {
                return Err(why);
            }
            errln!(
                "barrage: warning: {why}; hosts' time axes may not line up (run chrony or ntpd)"
            );
        }
    }
    Ok(clock_start)
}

/// The kernel's view of clock synchronisation, for the sample header.
#[allow(unsafe_code)]
pub fn clock_state() -> ClockState {
    // SAFETY: `timex` is plain integers, for which all-zero bytes are a valid value.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: adjtimex with modes = 0 only reads, into the struct we own.
    let state = unsafe { libc::adjtimex(&mut tx) };
    ClockState {
        state,
        unsynced: tx.status & libc::STA_UNSYNC != 0,
        max_error_us: tx.maxerror,
        est_error_us: tx.esterror,
    }
}
