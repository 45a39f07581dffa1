//! The live progress line: at every whole second of the run (and at the end of `-d`)
//! the launcher reads the progress board (`progress.rs`) that every loop writes, and
//! prints requests/s, the p99 since the last line, requests and errors so far: one
//! rewritten line on a terminal, a line per tick otherwise.

use std::io;
use std::time::{Duration, Instant};

use crate::engine::progress::{Board, Snapshot};
use crate::{out, outln};

/// Prints live progress at every whole second of the run, and at the end of `-d`:
/// one rewritten line on a terminal, a line per tick otherwise.
pub struct Live<'a> {
    board: &'a Board,
    base: Instant,
    total: Option<Duration>,
    quiet: bool,
    tty: bool,
    last: Snapshot,
    last_at: Instant,
    /// The next tick, as an offset from `base`.
    next: Duration,
}

impl<'a> Live<'a> {
    pub fn new(board: &'a Board, base: Instant, total: Option<Duration>, quiet: bool) -> Live<'a> {
        use std::io::IsTerminal;
        Live {
            board,
            base,
            total,
            quiet,
            tty: io::stdout().is_terminal(),
            last: board.snapshot(),
            last_at: base,
            next: crate::engine::progress::next_tick(Duration::ZERO, total),
        }
    }

    /// Prints a line if a tick is due; returns how long until the next one.
    pub fn tick(&mut self) -> Duration {
        let now = Instant::now();
        let since_base = now.saturating_duration_since(self.base);
        if self.quiet || now < self.base || since_base < self.next {
            return self.until_next(now);
        }
        let snap = self.board.snapshot();
        let dt = now
            .saturating_duration_since(self.last_at)
            .as_secs_f64()
            .max(1e-3);
        let line = crate::engine::progress::line(
            since_base,
            self.total,
            (snap.requests - self.last.requests) as f64 / dt,
            snap.p99_since(&self.last),
            snap.requests,
            snap.errors,
        );
        if self.tty {
            out!("\r\x1b[2K{line}");
        } else {
            outln!("{line}");
        }
        self.last = snap;
        self.last_at = now;
        // A late wake-up skips the ticks it missed rather than printing them at once.
        self.next = crate::engine::progress::next_tick(since_base, self.total);
        self.until_next(now)
    }

    fn until_next(&self, now: Instant) -> Duration {
        if self.quiet {
            return Duration::from_secs(1);
        }
        (self.base + self.next).saturating_duration_since(now)
    }

    pub fn finish(&mut self) {
        if self.tty && !self.quiet {
            out!("\r\x1b[2K");
        }
    }
}
