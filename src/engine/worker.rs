//! One worker thread: its mio poll, its connections, its timers, its share of the
//! requests, and the load model that decides when each request starts.
//!
//! Closed loop (default): a connection sends its next request when the previous
//! response ends, or at `previous start + --interval` (pacing); connections come up
//! over `--rampup` or follow `--conn-stages`. Open loop (`--rate`, `--rate-stages`):
//! every request has an intended start on a fixed schedule; a free connection takes
//! the oldest due request; latency is measured from the intended start, so a stalled
//! server shows up in the latencies instead of silently slowing the schedule.
//!
//! Timers come from the poll timeout, never from sleeping: request deadlines are pushed
//! in start order with one timeout for all, so they form a FIFO queue (`deadlines.rs`),
//! which also counts the requests in flight; pacing and ramp wake-ups go in a small
//! heap; the open-loop schedule is one "next intended" value. The poll's timeout has
//! whole-millisecond granularity (epoll; mio rounds up), so a start it times can be up
//! to [`TIMER_GRANULARITY_NS`] late. An open-loop start at least that far after the
//! previous one is timed instead by a timerfd armed for the exact instant: one
//! syscall per such start, so at most one per millisecond per loop, and none at the
//! rates where starts are closer together than the granularity.
//!
//! Nothing here is shared with other threads except the stop level (read when the
//! waker fires), this loop's own progress slot, and the sample log's chunk counter
//! (touched once per 16 Ki records).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::os::fd::{AsFd, AsRawFd};

use crate::engine::conn::{Conn, Io, Ready, Step};
use crate::engine::deadlines::Deadlines;
use crate::engine::inflight::{Finished, ReqInfo};
use crate::engine::plan::{Load, Plan};
use crate::engine::progress::Slot;
use crate::engine::schedule::{Picker, Schedule};
use crate::engine::transport::{Negotiated, TlsCtx};
use crate::record::sample::{
    ChunkWriter, FLAG_NEW_CONN, FLAG_SCHEDULED, FLAG_TLS_RESUMED, ProcessStats, Record, dur16,
    dur32,
};
use crate::time::Clock;
use crate::wire::request::Template;

/// Token of the waker that tells a loop the stop level changed.
pub const WAKER: Token = Token(usize::MAX);
/// Token of the open-loop start timer (a timerfd).
const START_TIMER: Token = Token(usize::MAX - 1);

/// How late the poll's timeout can wake a loop: epoll takes whole milliseconds and mio
/// rounds up. Open-loop starts closer together than this are timed by it; the report
/// counts a start as behind schedule only well above it (`report::BEHIND_SCHEDULE_NS`).
pub const TIMER_GRANULARITY_NS: u64 = 1_000_000;

/// How hard the process has been asked to stop.
pub const RUNNING: u8 = 0;
/// Finish in-flight requests (within [`GRACE`]), start no new ones.
pub const GRACEFUL: u8 = 1;
/// Record in-flight requests as cancelled and leave now.
pub const HARD: u8 = 2;

/// How long in-flight requests may run on after a graceful stop.
const GRACE: Duration = Duration::from_secs(2);
/// How long after the end an open-loop request due before it may still start: the
/// poll's timeout has whole-millisecond granularity, so the wake-up for the end can
/// come up to that late, after requests due in its last millisecond.
const END_SLACK_NS: u64 = 2_000_000;
/// How often a changing `--conn-stages` profile is re-read.
const STAGE_TICK: u64 = 1_000_000;

/// Read buffer per thread. Responses are framed in it, never stored.
const RBUF: usize = 64 * 1024;

/// What one loop sends and where: every request's bytes and how the next is picked,
/// the address, TLS, keep-alive, `--bind` and the request timeout. (When requests
/// start is the [`Plan`]'s.)
#[derive(Debug, Clone)]
pub struct Traffic {
    pub addr: SocketAddr,
    pub targets: Arc<[Template]>,
    pub picker: Arc<Picker>,
    pub tls: Option<TlsCtx>,
    pub keepalive: bool,
    /// Source addresses to spread connections over (`--bind`).
    pub bind: Arc<[std::net::IpAddr]>,
    pub timeout: Duration,
}

/// Where a loop's finished requests go: its chunks of the process's sample log, and
/// its slot of the live progress board.
pub struct Sink<'p> {
    pub writer: ChunkWriter,
    pub progress: Option<Slot<'p>>,
}

/// What a loop reports when it ends.
#[derive(Debug, Default)]
pub struct LoopResult {
    pub stats: ProcessStats,
    pub requests: u64,
    pub negotiated: Option<Negotiated>,
    /// Set when the loop had to stop early (the sample log could not grow).
    pub error: Option<String>,
}

pub struct Worker<'p> {
    poll: Poll,
    registry: Registry,
    conns: Vec<Conn>,
    /// The run's load plan, and this loop's number on this host.
    plan: &'p Plan,
    l: usize,
    traffic: Traffic,
    /// This loop's index among all `loops` of the test (for interleaving shares).
    index: usize,
    loops: usize,
    /// When to stop starting requests, ns since the time base.
    end: Option<u64>,
    /// Closed loop: minimum start-to-start time of one connection's requests, ns.
    interval: Option<u64>,
    /// Open loop: this loop's share of the schedule, and of `--max-connections`.
    schedule: Option<Schedule>,
    max_connections: usize,
    clock: Clock,
    /// The latest clock reading ([`Worker::tick`]).
    last_tick: u64,
    stop: Arc<AtomicU8>,
    writer: ChunkWriter,
    progress: Option<Slot<'p>>,
    rbuf: Box<[u8]>,
    pbuf: Box<[u8]>,
    /// The requests in flight, by deadline.
    deadlines: Deadlines,
    /// Pacing and ramp-up starts: (when, connection, seq at scheduling).
    wakeups: BinaryHeap<Reverse<(u64, u32, u32)>>,
    timeout_ns: u64,
    quota: Option<u64>,
    stopping: bool,
    grace_end: Option<u64>,
    /// Requests started (picks the target).
    started: u64,
    rng: u64,
    /// Closed loop with stages: connections `0..active` may work.
    active: usize,
    next_stage_tick: Option<u64>,
    /// Open loop: free connections, this loop's next request number and its
    /// intended start.
    free: Vec<u32>,
    next_j: u64,
    next_intended: Option<u64>,
    /// The intended start of the request before `next_j`.
    prev_intended: Option<u64>,
    /// Open loop: the oldest due request is waiting for a connection (every one busy,
    /// --max-connections reached). Only such requests count as unsent at the end.
    starved: bool,
    /// When a stop was asked for (the end of the schedule, for counting unsent).
    stopped_at: Option<u64>,
    /// Open loop: the precise start timer, if the kernel gave one.
    start_timer: Option<StartTimer>,
    result: LoopResult,
}

impl<'p> Worker<'p> {
    pub fn new(
        poll: Poll,
        plan: &'p Plan,
        l: usize,
        traffic: Traffic,
        clock: Clock,
        stop: Arc<AtomicU8>,
        sink: Sink<'p>,
    ) -> io::Result<Worker<'p>> {
        let Sink { writer, progress } = sink;
        let registry = poll.registry().try_clone()?;
        let connections = plan.loop_connections(l);
        let conns = (0..connections).map(|i| Conn::new(Token(i))).collect();
        let schedule = plan.loop_schedule(l);
        // Without one, starts are timed by the poll's timeout (millisecond grain).
        let start_timer = match schedule {
            Some(_) => StartTimer::new(&registry, &clock).ok(),
            None => None,
        };
        let index = plan.global_loop(l);
        let interval = match &plan.load {
            Load::Closed { interval, .. } => interval.map(|d| d.as_nanos() as u64),
            Load::Open { .. } => None,
        };
        Ok(Worker {
            poll,
            registry,
            conns,
            timeout_ns: traffic.timeout.as_nanos() as u64,
            quota: plan.loop_requests(l),
            rng: 0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            active: connections,
            plan,
            l,
            traffic,
            index,
            loops: plan.global_loops(),
            end: plan.end_ns(),
            interval,
            schedule,
            max_connections: plan.loop_max_connections(l),
            clock,
            last_tick: 0,
            stop,
            writer,
            progress,
            rbuf: vec![0u8; RBUF].into_boxed_slice(),
            pbuf: vec![0u8; RBUF].into_boxed_slice(),
            deadlines: Deadlines::default(),
            wakeups: BinaryHeap::new(),
            stopping: false,
            grace_end: None,
            started: 0,
            next_stage_tick: None,
            free: Vec::new(),
            next_j: 0,
            next_intended: None,
            prev_intended: None,
            starved: false,
            stopped_at: None,
            start_timer,
            result: LoopResult::default(),
        })
    }

    /// Runs the loop to the end of the run and returns what it did.
    pub fn run(mut self) -> LoopResult {
        let mut events = Events::with_capacity(1024);
        // --start-at: wait for the common start (a stop request still ends the wait).
        loop {
            let wait = self.clock.until_start();
            if wait.is_zero() {
                break;
            }
            if self.poll.poll(&mut events, Some(wait)).is_ok() && !events.is_empty() {
                self.check_stop(0);
                if self.stopping {
                    return self.result;
                }
            }
        }
        let mut now = self.tick();
        self.start(now);
        loop {
            // `now` is the time the timers just fired at: the next poll's timeout
            // counts from there, without another clock read.
            if self.finished(now) {
                break;
            }
            let precise = self.arm_start_timer(now);
            let timeout = self.poll_timeout(now, precise);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                self.result.error = Some(format!("poll failed: {e}"));
                self.cancel_all();
                break;
            }
            now = self.tick();
            for ev in events.iter() {
                if ev.token() == WAKER {
                    self.check_stop(now);
                    continue;
                }
                if ev.token() == START_TIMER {
                    // The start it was armed for is due: `fire_timers` starts it. (Were
                    // it early, the next pass arms it again rather than wait on it.)
                    if let Some(t) = self.start_timer.as_mut() {
                        t.armed = None;
                    }
                    continue;
                }
                let i = ev.token().0;
                let ready = Ready {
                    readable: ev.is_readable(),
                    writable: ev.is_writable(),
                    closed: ev.is_read_closed() || ev.is_write_closed() || ev.is_error(),
                };
                self.on_ready(i, ready);
            }
            now = self.tick();
            self.fire_timers(now);
        }
        if self.next_intended.is_some() {
            let now = self.tick();
            self.end_schedule(now);
        }
        self.result
    }

    /// Reads the clock. Connections are only ever handed the latest reading, so the
    /// requests a loop records end in order (the sample log's chunks are sorted by
    /// completion time).
    fn tick(&mut self) -> u64 {
        self.last_tick = self.clock.now();
        self.last_tick
    }

    /// The time to hand a connection for something due at `now`: the latest clock
    /// reading if that is later (a timer pass starts requests and records failures as
    /// it goes, reading the clock; the next one must not be stamped before them).
    fn at(&self, now: u64) -> u64 {
        now.max(self.last_tick)
    }

    /// Hands connection `i` its readiness. Bytes that may end a request are stamped
    /// with the time they are read at (one clock read per readable event, as there was
    /// one per response read); a write-only event (a connect, a write resuming) takes
    /// the latest reading.
    fn on_ready(&mut self, i: usize, ready: Ready) {
        let mut at = if ready.readable || ready.closed {
            self.tick()
        } else {
            self.last_tick
        };
        loop {
            let step = {
                let (conns, mut io) = self.split();
                conns[i].on_ready(&mut io, at, ready)
            };
            if step != Step::Again {
                return self.after(i, step);
            }
            at = self.tick();
        }
    }

    /// Borrows the connections and the I/O context at once.
    fn split(&mut self) -> (&mut [Conn], Io<'_>) {
        (
            &mut self.conns,
            Io {
                registry: &self.registry,
                addr: self.traffic.addr,
                targets: &self.traffic.targets,
                tls: self.traffic.tls.as_ref(),
                rbuf: &mut self.rbuf,
                pbuf: &mut self.pbuf,
                stats: &mut self.result.stats,
                negotiated: &mut self.result.negotiated,
                keepalive: self.traffic.keepalive,
                bind: &self.traffic.bind,
            },
        )
    }

    /// The first requests: every connection now, or spread over the ramp-up, or the
    /// open-loop schedule's first due requests.
    fn start(&mut self, now: u64) {
        let plan = self.plan;
        match &plan.load {
            Load::Closed {
                rampup: Some(r), ..
            } => {
                // Connection i of this loop starts at (i + l/L) / n of the ramp: loops
                // interleave, and every process ramps the same way, as the original's
                // threads did.
                let n = self.conns.len() as f64;
                let phase = self.index as f64 / self.loops as f64;
                let r = r.as_nanos() as u64;
                for i in 0..self.conns.len() {
                    let at = ((i as f64 + phase) / n * r as f64) as u64;
                    self.wakeups.push(Reverse((at, i as u32, 0)));
                }
            }
            Load::Closed {
                stages: Some(_), ..
            } => {
                self.active = 0;
                self.update_stage(now);
            }
            Load::Closed { .. } => {
                for i in 0..self.conns.len() {
                    self.start_next(i, now);
                }
            }
            Load::Open { .. } => {
                self.free = (0..self.conns.len() as u32).rev().collect();
                self.next_intended = self.intended(0);
                self.dispatch(now);
            }
        }
    }

    fn may_start(&self, now: u64) -> bool {
        !self.stopping && self.quota != Some(0) && self.end.is_none_or(|end| now < end)
    }

    /// Nothing is outstanding and nothing more will start.
    fn finished(&self, now: u64) -> bool {
        if !self.deadlines.is_empty() {
            return false;
        }
        if !self.may_start(now) {
            return true;
        }
        match &self.plan.load {
            Load::Open { .. } => self.next_intended.is_none(),
            Load::Closed {
                stages: Some(p), ..
            } => p.settled(now) && self.active == 0,
            Load::Closed { .. } => false,
        }
    }

    /// The poll's timeout: until the earliest timer, leaving out the next open-loop
    /// start when the start timer times it (`precise`).
    fn poll_timeout(&self, now: u64, precise: bool) -> Option<Duration> {
        let mut next = self.deadlines.front().map(|(t, _)| t);
        let mut consider = |t: Option<u64>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        consider(self.end.filter(|&e| e > now));
        consider(self.grace_end);
        consider(self.wakeups.peek().map(|Reverse((t, _, _))| *t));
        consider(self.next_stage_tick);
        if self.has_free_connection() && !precise {
            consider(self.next_intended);
        }
        next.map(|t| Duration::from_nanos(t.saturating_sub(now)))
    }

    /// Open loop: arms the start timer for the next intended start when it is at least
    /// [`TIMER_GRANULARITY_NS`] after the previous one (so at most once a millisecond)
    /// and a connection can take it. Returns whether the timer times that start.
    fn arm_start_timer(&mut self, now: u64) -> bool {
        let (Some(t), Some(timer)) = (self.next_intended, self.start_timer.as_ref()) else {
            return false;
        };
        if t <= now || !self.has_free_connection() {
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
        self.start_timer.as_mut().is_some_and(|timer| timer.arm(t))
    }

    fn has_free_connection(&self) -> bool {
        self.schedule.is_some()
            && (!self.free.is_empty() || self.conns.len() < self.max_connections)
    }

    /// Closed loop: gives connection `i` its next request, now or when pacing allows,
    /// or closes it when the run (or its stage) is over.
    fn start_next(&mut self, i: usize, mut now: u64) {
        loop {
            if !self.may_start(now) || i >= self.active {
                self.conns[i].close();
                return;
            }
            if let Some(iv) = self.interval {
                let c = &self.conns[i];
                let due = c.req.start + iv;
                if c.seq > 0 && due > now {
                    self.wakeups.push(Reverse((due, i as u32, c.seq)));
                    return;
                }
            }
            let req = ReqInfo {
                target: self.next_target(),
                ..ReqInfo::default()
            };
            match self.launch(i, now, req) {
                Some(f) => now = f.end,
                None => return,
            }
        }
    }

    fn next_target(&mut self) -> u16 {
        let n = self.started;
        self.started += 1;
        self.traffic
            .picker
            .pick(n * self.loops as u64 + self.index as u64, &mut self.rng)
    }

    /// Starts one request on connection `i`; if it failed at once, records it and
    /// returns how it ended.
    fn launch(&mut self, i: usize, now: u64, req: ReqInfo) -> Option<Finished> {
        let now = self.at(now);
        if let Some(q) = self.quota.as_mut() {
            *q -= 1;
        }
        // The queue of deadlines is also the count of requests in flight.
        self.deadlines.push(i, now + self.timeout_ns);
        let step = {
            let (conns, mut io) = self.split();
            conns[i].begin(&mut io, now, req)
        };
        match step {
            Step::Done(f) => {
                self.record(i, f);
                Some(Finished {
                    end: self.tick(),
                    ..f
                })
            }
            // `begin` only connects or writes: it never asks to be called again.
            Step::Wait | Step::Again | Step::IdleClosed => None,
        }
    }

    /// Open loop: hands due requests to free connections (opening more up to
    /// `--max-connections`), oldest first.
    fn dispatch(&mut self, mut now: u64) {
        if self.schedule.is_none() {
            return;
        }
        let max_connections = self.max_connections;
        while let Some(intended) = self.next_intended {
            if intended > now {
                break;
            }
            if !self.may_schedule(intended, now) {
                self.end_schedule(now);
                break;
            }
            let i = match self.free.pop() {
                Some(i) => i as usize,
                None if self.conns.len() < max_connections => {
                    self.conns.push(Conn::new(Token(self.conns.len())));
                    self.conns.len() - 1
                }
                None => {
                    self.starved = true;
                    break;
                }
            };
            self.starved = false;
            self.prev_intended = Some(intended);
            self.next_j += 1;
            self.next_intended = self.intended(self.next_j);
            let req = ReqInfo {
                target: self.next_target(),
                intended,
                scheduled: true,
                ..ReqInfo::default()
            };
            if let Some(f) = self.launch(i, now, req) {
                self.free.push(i as u32);
                now = f.end;
            }
        }
    }

    /// Open loop: whether the request intended at `intended` may still start at
    /// `now`. The run's end applies to intended starts: a request due before the end
    /// whose start the poll's timer granularity carried just past the end still
    /// starts (unless it was waiting for a connection), so `-R N -d D` sends N x D.
    fn may_schedule(&self, intended: u64, now: u64) -> bool {
        !self.stopping
            && self.quota != Some(0)
            && self.end.is_none_or(|e| {
                intended < e && (now < e || (!self.starved && now < e.saturating_add(END_SLACK_NS)))
            })
    }

    /// Open loop: no more requests start. The requests due before the end that were
    /// still waiting for a connection are unsent; requests whose only obstacle was
    /// the end of the run itself are not counted.
    fn end_schedule(&mut self, now: u64) {
        self.next_intended = None;
        let Some(schedule) = &self.schedule else {
            return;
        };
        if !self.starved {
            return;
        }
        let end = self
            .end
            .unwrap_or(u64::MAX)
            .min(self.stopped_at.unwrap_or(u64::MAX))
            .min(now);
        let mut due = schedule.due_before(end);
        if let Some(q) = self.plan.loop_requests(self.l) {
            due = due.min(q);
        }
        self.result.stats.unsent += due.saturating_sub(self.next_j);
    }

    /// Intended start of this loop's `j`-th open-loop request.
    fn intended(&self, j: u64) -> Option<u64> {
        self.schedule.as_ref().and_then(|s| s.intended(j))
    }

    fn after(&mut self, i: usize, step: Step) {
        match step {
            // (`Again` is handled where readiness is handed over.)
            Step::Wait | Step::Again | Step::IdleClosed => {}
            Step::Done(f) => {
                self.record(i, f);
                if self.schedule.is_some() {
                    self.free.push(i as u32);
                    self.dispatch(f.end);
                } else {
                    self.start_next(i, f.end);
                }
            }
        }
    }

    /// Writes the sample of connection `i`'s finished request.
    fn record(&mut self, i: usize, f: Finished) {
        self.deadlines.remove(i);
        self.result.requests += 1;
        let r = &self.conns[i].req;
        let mut flags = 0;
        let (mut connect, mut tls) = (0, 0);
        if r.new_conn {
            flags |= FLAG_NEW_CONN;
            connect = dur16::encode(r.connect_ns);
            tls = dur16::encode(r.tls_ns);
        }
        if r.tls_resumed {
            flags |= FLAG_TLS_RESUMED;
        }
        let mut lag = 0;
        let mut latency = f.end.saturating_sub(r.start);
        if r.scheduled {
            flags |= FLAG_SCHEDULED;
            lag = dur32::encode(r.start.saturating_sub(r.intended));
            latency = f.end.saturating_sub(r.intended);
        }
        let ttfb = if r.first_byte > 0 {
            dur16::encode(r.first_byte.saturating_sub(r.start))
        } else {
            0
        };
        let rec = Record {
            end_ns: f.end,
            service: dur32::encode(f.end.saturating_sub(r.start)),
            lag,
            ttfb,
            connect,
            tls,
            status: f.status,
            bytes: f.bytes.min(u32::MAX as u64) as u32,
            target: r.target,
            error: f.error as u8,
            flags,
        };
        if let Some(p) = &self.progress {
            p.record(latency, f.error != crate::record::sample::ErrorKind::None);
        }
        if let Err(e) = self.writer.push(&rec) {
            self.result.stats.lost += 1;
            if self.result.error.is_none() {
                self.result.error = Some(format!("cannot record samples: {e}"));
            }
            self.stopping = true;
        }
    }

    fn fire_timers(&mut self, now: u64) {
        while let Some((deadline, i)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            // Only requests in flight are queued (recording one dequeues it), so the
            // connection is busy; dequeue first all the same, so the loop always ends.
            debug_assert!(self.conns[i].busy());
            self.deadlines.remove(i);
            let at = self.at(now);
            let step = self.conns[i].on_timeout(at);
            self.after(i, step);
        }
        while let Some(&Reverse((at, i, seq))) = self.wakeups.peek() {
            if at > now {
                break;
            }
            self.wakeups.pop();
            let i = i as usize;
            if self.conns[i].seq == seq && !self.conns[i].busy() {
                self.start_next(i, now);
            }
        }
        if self.next_stage_tick.is_some_and(|t| t <= now) {
            self.update_stage(now);
        }
        if self.next_intended.is_some_and(|t| t <= now) {
            self.dispatch(now);
        }
        if self.grace_end.is_some_and(|g| now >= g) {
            self.cancel_all();
        }
    }

    /// `--conn-stages`: this loop's share of the active connections at `now`; starts
    /// the newly active ones (the others stop after their current request).
    fn update_stage(&mut self, now: u64) {
        let plan = self.plan;
        let Load::Closed {
            stages: Some(p), ..
        } = &plan.load
        else {
            return;
        };
        let total = p.value_at(now).floor() as u64;
        let share = plan.loop_share(total, self.l) as usize;
        let share = share.min(self.conns.len());
        self.next_stage_tick = if p.settled(now) {
            None
        } else {
            Some(now + STAGE_TICK)
        };
        let before = self.active;
        self.active = share;
        for i in before..share {
            if !self.conns[i].busy() {
                self.start_next(i, now);
            }
        }
    }

    fn check_stop(&mut self, now: u64) {
        match self.stop.load(Ordering::Acquire) {
            RUNNING => {}
            GRACEFUL => {
                if !self.stopping {
                    self.stopping = true;
                    self.stopped_at = Some(now);
                    self.grace_end = Some(now + GRACE.as_nanos() as u64);
                }
            }
            _ => self.cancel_all(),
        }
    }

    /// Ends every outstanding request as cancelled (recorded) and closes everything.
    fn cancel_all(&mut self) {
        let now = self.tick();
        self.stopping = true;
        self.stopped_at.get_or_insert(now);
        self.grace_end = None;
        for i in 0..self.conns.len() {
            let step = self.conns[i].cancel(now);
            if let Step::Done(f) = step {
                self.record(i, f);
            }
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
    fn new(registry: &Registry, clock: &crate::time::Clock) -> io::Result<StartTimer> {
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
