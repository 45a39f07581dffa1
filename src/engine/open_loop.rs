//! Open loop, for one worker loop: its share of the schedule, the connections free to
//! take a request (with `--pipeline N`, each connection has N places, and a due
//! request joins any connection with one free), the number and intended start of its next request, and the start
//! timer that times that start finer than the poll can. The worker asks it what is due
//! and hands each due request to a connection ([`OpenLoop::take`]); latency counts
//! from the intended start, so a stalled server shows in the latencies instead of
//! silently slowing the schedule.
//!
//! The poll's timeout has whole-millisecond granularity (epoll; mio rounds up), so a
//! start it times can be up to [`TIMER_GRANULARITY_NS`] late. A start at least that far
//! after the previous one is timed instead by a timerfd armed for the exact instant:
//! one syscall per such start, so at most one per millisecond per loop, and none at the
//! rates where starts are closer together than the granularity.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use crate::engine::schedule::Schedule;
use crate::engine::worker::TIMER_GRANULARITY_NS;
use crate::time::Clock;

/// Token of the open-loop start timer (a timerfd).
pub const START_TIMER: Token = Token(usize::MAX - 1);

/// Where the next due request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Free {
    /// Connection `i`, idle or closed.
    Conn(usize),
    /// A new connection (below `--max-connections`).
    New,
}

/// One loop's open-loop state.
pub struct OpenLoop {
    schedule: Schedule,
    /// Connections this loop may open to keep the schedule.
    max_connections: usize,
    /// Free places: a connection appears once per request it can still take
    /// (`--pipeline`, one without), most recently freed last.
    free: Vec<u32>,
    /// Requests a connection carries at once.
    depth: usize,
    /// This loop's next request number and its intended start (`None`: no more).
    next_j: u64,
    next_intended: Option<u64>,
    /// The intended start of the request before `next_j`.
    prev_intended: Option<u64>,
    /// The oldest due request is waiting for a connection (every one busy,
    /// --max-connections reached). Only such requests count as unsent at the end.
    pub starved: bool,
    /// The precise start timer, if the kernel gave one.
    timer: Option<StartTimer>,
}

impl OpenLoop {
    /// `connections` are open to requests from the start; the schedule begins with
    /// [`OpenLoop::start`].
    pub fn new(
        schedule: Schedule,
        max_connections: usize,
        connections: usize,
        depth: usize,
        registry: &Registry,
        clock: &Clock,
    ) -> OpenLoop {
        let depth = depth.max(1);
        OpenLoop {
            schedule,
            max_connections,
            // Connection 0 first, then 1 ...: the first requests spread over every
            // connection before any pipelines.
            free: (0..depth)
                .flat_map(|_| (0..connections as u32).rev())
                .collect(),
            depth,
            next_j: 0,
            next_intended: None,
            prev_intended: None,
            starved: false,
            // Without one, starts are timed by the poll's timeout (millisecond grain).
            timer: StartTimer::new(registry, clock).ok(),
        }
    }

    pub fn start(&mut self) {
        self.next_intended = self.schedule.intended(0);
    }

    /// The intended start of the next request, while the schedule runs.
    pub fn next(&self) -> Option<u64> {
        self.next_intended
    }

    /// A connection for the next request (of `open` connections so far); `None`, and
    /// starved, when every one is full and no more may open.
    pub fn connection(&mut self, open: usize) -> Option<Free> {
        let free = match self.free.pop() {
            Some(i) => Free::Conn(i as usize),
            None if open < self.max_connections => {
                // The new connection's other places.
                self.free
                    .extend(std::iter::repeat_n(open as u32, self.depth - 1));
                Free::New
            }
            None => {
                self.starved = true;
                return None;
            }
        };
        self.starved = false;
        Some(free)
    }

    /// The next request is going out: returns its intended start.
    pub fn take(&mut self) -> Option<u64> {
        let intended = self.next_intended?;
        self.prev_intended = Some(intended);
        self.next_j += 1;
        self.next_intended = self.schedule.intended(self.next_j);
        Some(intended)
    }

    /// A request of connection `i` ended: it has a place again.
    pub fn release(&mut self, i: usize) {
        self.free.push(i as u32);
    }

    /// A connection could take the next request now.
    pub fn has_room(&self, open: usize) -> bool {
        !self.free.is_empty() || open < self.max_connections
    }

    /// No more requests start. Returns how many requests due before `end` never went
    /// out because they were waiting for a connection (`quota`: the loop's share of
    /// `-n`); requests whose only obstacle was the end of the run itself do not count.
    pub fn end(&mut self, end: u64, quota: Option<u64>) -> u64 {
        self.next_intended = None;
        if !self.starved {
            return 0;
        }
        let mut due = self.schedule.due_before(end);
        if let Some(q) = quota {
            due = due.min(q);
        }
        due.saturating_sub(self.next_j)
    }

    /// Arms the start timer for the next intended start when it is at least
    /// [`TIMER_GRANULARITY_NS`] after the previous one (so at most once a millisecond)
    /// and a connection can take it (`room`). Returns whether the timer times that
    /// start.
    pub fn arm_timer(&mut self, now: u64, room: bool) -> bool {
        let (Some(t), Some(timer)) = (self.next_intended, self.timer.as_mut()) else {
            return false;
        };
        if t <= now || !room {
            return false;
        }
        if timer.armed == Some(t) {
            return true;
        }
        if self
            .prev_intended
            .is_some_and(|p| t - p < TIMER_GRANULARITY_NS)
        {
            return false;
        }
        timer.arm(t)
    }

    /// The start timer fired: the start it was armed for is due (were it early, the
    /// next pass arms it again rather than wait on it).
    pub fn timer_fired(&mut self) {
        if let Some(t) = self.timer.as_mut() {
            t.armed = None;
        }
    }
}

/// A timerfd armed for an instant of the run's clock, registered with the loop's poll:
/// the open-loop start timer, finer than the poll's millisecond timeout.
struct StartTimer {
    fd: TimerFd,
    /// CLOCK_MONOTONIC minus the run's clock (ns), to arm at an absolute time.
    offset: i128,
    /// The instant (run clock, ns) it is armed for.
    armed: Option<u64>,
}

impl StartTimer {
    fn new(registry: &Registry, clock: &Clock) -> io::Result<StartTimer> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // The run's clock is an Instant, which is CLOCK_MONOTONIC on Linux: one reading
        // of each gives the offset between them. The base may still be ahead
        // (--start-at), so the run's time can be negative. Read second, the monotonic
        // clock can only be late: the timer fires a few ns late, never early.
        let now = std::time::Instant::now();
        let mono = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)?;
        let base = clock.base();
        let run = if now >= base {
            (now - base).as_nanos() as i128
        } else {
            -((base - now).as_nanos() as i128)
        };
        let mono = mono.tv_sec() as i128 * 1_000_000_000 + mono.tv_nsec() as i128;
        // Edge-triggered: every expiry (a new edge) wakes the poll; arming again resets
        // the expiry count, so the fd never needs reading.
        registry.register(
            &mut SourceFd(&fd.as_fd().as_raw_fd()),
            START_TIMER,
            Interest::READABLE,
        )?;
        Ok(StartTimer {
            fd,
            offset: mono - run,
            armed: None,
        })
    }

    /// Arms the timer for run-clock instant `t`; false if that failed.
    fn arm(&mut self, t: u64) -> bool {
        let at = (t as i128 + self.offset).max(1);
        let ts = TimeSpec::new(
            (at / 1_000_000_000) as libc::time_t,
            (at % 1_000_000_000) as libc::c_long,
        );
        let ok = self
            .fd
            .set(
                Expiration::OneShot(ts),
                TimerSetTimeFlags::TFD_TIMER_ABSTIME,
            )
            .is_ok();
        self.armed = ok.then_some(t);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::schedule::Profile;

    /// 1000 requests/s for the whole test, this loop taking every other one.
    fn open_loop(max_connections: usize, connections: usize) -> OpenLoop {
        let schedule = Schedule {
            rate: Profile::constant(1000.0),
            offset: 1,
            stride: 2,
        };
        let poll = mio::Poll::new().unwrap();
        let clock = Clock::new(std::time::Instant::now());
        OpenLoop::new(
            schedule,
            max_connections,
            connections,
            1,
            poll.registry(),
            &clock,
        )
    }

    #[test]
    fn due_requests_take_free_connections_then_new_ones_then_starve() {
        let mut o = open_loop(3, 2);
        assert_eq!(o.next(), None, "not started");
        o.start();
        // Requests 1, 3, 5 ... of the test: 1 ms, 3 ms, 5 ms.
        assert_eq!(o.next(), Some(1_000_000));
        assert_eq!(o.connection(2), Some(Free::Conn(0)));
        assert_eq!(o.take(), Some(1_000_000));
        assert_eq!(o.connection(2), Some(Free::Conn(1)));
        assert_eq!(o.take(), Some(3_000_000));
        assert!(o.has_room(2), "a third connection may open");
        assert_eq!(o.connection(2), Some(Free::New));
        assert_eq!(o.take(), Some(5_000_000));
        assert!(!o.has_room(3));
        assert_eq!(o.connection(3), None);
        assert!(o.starved);
        o.release(1);
        assert_eq!(o.connection(3), Some(Free::Conn(1)));
        assert!(!o.starved);
    }

    #[test]
    fn unsent_counts_only_requests_starved_of_a_connection() {
        let mut o = open_loop(1, 1);
        o.start();
        assert_eq!(o.connection(1), Some(Free::Conn(0)));
        o.take();
        // Not starved: the end of the run stopped the rest, nothing is unsent.
        assert_eq!(o.end(10_000_000, None), 0);
        assert_eq!(o.next(), None);

        let mut o = open_loop(1, 1);
        o.start();
        o.connection(1);
        o.take();
        assert_eq!(o.connection(1), None, "starved");
        // Due before 10 ms: requests 1, 3, 5, 7, 9 of the test; one went out.
        assert_eq!(o.end(10_000_000, None), 4);
        let mut o = open_loop(1, 1);
        o.start();
        o.connection(1);
        o.take();
        o.connection(1);
        assert_eq!(o.end(10_000_000, Some(3)), 2, "no more than the quota");
    }
}
