//! One worker thread: its mio poll, its connections, its timers, its share of the
//! requests (read from the [`Plan`]), and the recording of every finished request.
//!
//! When requests start is the load model's: closed loop (`closed_loop.rs`: a
//! connection sends its next request when the previous response ends, paced by
//! `--interval`, ramped by `--rampup`, or following `--conn-stages`) or open loop
//! (`open_loop.rs`: every request has an intended start on a fixed schedule; a free
//! connection takes the oldest due request; latency counts from the intended start).
//!
//! With `--pipeline N` a connection carries up to N requests at once: closed loop
//! refills a pipeline once half of it is free (the new requests leave in one write)
//! and lets the socket hold the responses that refill waits for before it wakes the
//! loop (batched reads, at most [`READ_HOLD_NS`] per hold: `worker/closed.rs`), open
//! loop hands a due request to any connection with room.
//!
//! Timers come from the poll timeout, never from sleeping: request deadlines are kept
//! per connection, its oldest request's, in a small heap (`deadlines.rs`), which also
//! says whether any request is in flight; pacing and ramp wake-ups, stage ticks,
//! the ends of batched reads' holds (a second such heap) and the next open-loop
//! start are the other timers. The poll's timeout has
//! whole-millisecond granularity (epoll; mio rounds up), so a start it times can be up
//! to [`TIMER_GRANULARITY_NS`] late (open loop times its starts finer where it can).
//!
//! This file owns the loop itself (poll, readiness, timers, stops); the load models'
//! halves are `worker/closed.rs` (a connection's next requests, `launch`) and
//! `worker/open.rs` (the schedule's due requests, scenario users on the schedule),
//! and what becomes of a request that ended is `worker/records.rs`.
//!
//! Time is read here and handed to the connections (`conn.rs` never reads the clock):
//! once after each poll, once per readable event (the bytes that may end a request),
//! and again when a connection asks for a fresh time ([`Step::Again`]). A connection
//! is only ever handed the latest reading, so a loop's records end in order.
//!
//! The generator's self-check (`selfcheck.rs`) is told what it measures at a few
//! points: the poll's timeout and the clock reading after it, the end of a request
//! that failed, and each open-loop start.
//!
//! Nothing here is shared with other threads except the stop level (read when the
//! waker fires), this loop's own progress slot, the sample log's chunk counter
//! (touched once per 16 Ki records) and the self-check file (appended once per
//! interval). The slot gets a few plain stores per request (`progress.rs`) and, at
//! most every `PUBLISH_NS` of loop time, the connection counts (a pass over this
//! loop's connections, never per request).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use mio::{Events, Poll, Registry, Token};

use crate::engine::closed_loop::{Begin, ClosedLoop};
use crate::engine::conn::{Conn, Io, Ready, State, Step};
use crate::engine::deadlines::Deadlines;
use crate::engine::inflight::{Finished, ReqInfo};
use crate::engine::open_loop::{Free, OpenLoop, START_TIMER};
use crate::engine::plan::Plan;
use crate::engine::progress::Slot;
use crate::engine::scenario_loop::{Iteration, ScenarioLoop, ScenarioRun};
use crate::engine::schedule::Picker;
use crate::engine::selfcheck::SelfCheck;
use crate::engine::signals::{GRACE, GRACEFUL, RUNNING};
use crate::engine::transport::{Negotiated, TlsCtx};
use crate::record::checks::CheckLog;
use crate::record::{ChunkWriter, ErrorKind, ProcessStats, Record, Timing, reported_status};
use crate::scenario::vu::Outcome;
use crate::time::Clock;
use crate::wire::request::Template;

mod closed;
mod open;
mod records;

/// Token of the waker that tells a loop the stop level changed.
pub const WAKER: Token = Token(usize::MAX);

/// How late the poll's timeout can wake a loop: epoll takes whole milliseconds and mio
/// rounds up. Open-loop starts closer together than this are timed by it; the report
/// counts a start as behind schedule only well above it (`report::BEHIND_SCHEDULE_NS`).
pub const TIMER_GRANULARITY_NS: u64 = 1_000_000;

/// How long after the end an open-loop request due before it may still start: the
/// poll's timeout has whole-millisecond granularity, so the wake-up for the end can
/// come up to that late, after requests due in its last millisecond.
const END_SLACK_NS: u64 = 2_000_000;

/// How often (at most) a loop publishes its connection counts to its progress slot,
/// for `--metrics-listen`: at the first loop pass this long after the last one.
const PUBLISH_NS: u64 = 100_000_000;

/// Read buffer per thread. Responses are framed in it, never stored.
const RBUF: usize = 64 * 1024;

/// Batched reads (`worker/closed.rs`): the longest a socket may hold responses back
/// after its connection was last read. Past it the loop reads what came, so no
/// response waits longer than this (plus the poll's millisecond granularity) before
/// it is framed and its end stamped.
pub const READ_HOLD_NS: u64 = 1_000_000;

/// The most a response can wait in a batching socket: the hold and the poll's
/// granularity (what the report states).
pub const READ_HOLD_MAX_NS: u64 = READ_HOLD_NS + TIMER_GRANULARITY_NS;

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
    /// `--scenario`: virtual users run the file's steps (`scenario_loop.rs`).
    pub scenario: Option<ScenarioRun>,
    /// Requests each connection keeps in flight (`--pipeline`, at least 1).
    pub pipeline: usize,
    /// Closed-loop pipelines are read in batches (`worker/closed.rs`;
    /// `RunConfig::read_batching` says where).
    pub read_batching: bool,
}

/// Where a loop's finished requests go: its chunks of the process's sample log, and
/// its slot of the live progress board; and where its self-check records go.
pub struct Sink<'p> {
    pub writer: ChunkWriter,
    pub progress: Option<Slot<'p>>,
    pub checks: Option<Arc<CheckLog>>,
    /// The CPU this loop's process is pinned to (the self-check watches its idle time).
    pub core: Option<usize>,
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
    /// Closed loop: pacing, ramp-up, stages.
    closed: ClosedLoop,
    /// Open loop: the schedule, free connections, the start timer.
    open: Option<OpenLoop>,
    /// Scenario runs: the virtual users, their think times, the data rows.
    scen: Option<ScenarioLoop>,
    clock: Clock,
    /// The latest clock reading ([`Worker::tick`]).
    last_tick: u64,
    stop: Arc<AtomicU8>,
    writer: ChunkWriter,
    progress: Option<Slot<'p>>,
    /// The generator's self-check.
    check: SelfCheck,
    rbuf: Box<[u8]>,
    pbuf: Box<[u8]>,
    /// The connections with requests in flight, by their oldest one's deadline.
    deadlines: Deadlines,
    /// Batched reads: how long a socket may hold responses back (`None`: off), and
    /// the connections whose sockets do, by when their hold ends.
    read_hold: Option<u64>,
    holds: Deadlines,
    timeout_ns: u64,
    quota: Option<u64>,
    stopping: bool,
    grace_end: Option<u64>,
    /// Requests started (picks the target).
    started: u64,
    rng: u64,
    /// When a stop was asked for (the end of the schedule, for counting unsent).
    stopped_at: Option<u64>,
    /// When the connection counts are next published to the progress slot.
    next_publish: u64,
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
        let Sink {
            writer,
            progress,
            checks,
            core,
        } = sink;
        let threads = plan.threads.max(1);
        let registry = poll.registry().try_clone()?;
        let connections = plan.loop_connections(l);
        let depth = traffic.pipeline.max(1);
        let conns = (0..connections)
            .map(|i| Conn::new(Token(i), depth))
            .collect();
        let open = plan.loop_schedule(l).map(|schedule| {
            let max = plan.loop_max_connections(l);
            OpenLoop::new(schedule, max, connections, depth, &registry, &clock)
        });
        let index = plan.global_loop(l);
        let scen = match &traffic.scenario {
            Some(run) => Some(ScenarioLoop::new(run, plan, l).map_err(io::Error::other)?),
            None => None,
        };
        Ok(Worker {
            scen,
            poll,
            registry,
            conns,
            timeout_ns: traffic.timeout.as_nanos() as u64,
            quota: plan.loop_requests(l),
            rng: 0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            closed: ClosedLoop::new(plan, connections),
            // The run decided (`RunConfig::read_batching`): every loop has its model.
            read_hold: traffic.read_batching.then_some(READ_HOLD_NS),
            holds: Deadlines::default(),
            plan,
            l,
            traffic,
            index,
            loops: plan.global_loops(),
            end: plan.end_ns(),
            open,
            clock,
            last_tick: 0,
            stop,
            writer,
            progress,
            check: SelfCheck::new(checks, l / threads, l % threads, core),
            rbuf: vec![0u8; RBUF].into_boxed_slice(),
            pbuf: vec![0u8; RBUF].into_boxed_slice(),
            deadlines: Deadlines::default(),
            stopping: false,
            grace_end: None,
            started: 0,
            stopped_at: None,
            next_publish: 0,
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
        self.check.begin(now);
        self.start(now);
        loop {
            // `now` is the time the timers just fired at: the next poll's timeout
            // counts from there, without another clock read.
            if self.finished(now) {
                break;
            }
            let precise = self.arm_start_timer(now);
            let timeout = self.check.timeout(now, self.poll_timeout(now, precise));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                self.result.error = Some(format!("poll failed: {e}"));
                self.cancel_all();
                break;
            }
            now = self.tick();
            self.check.after_poll(now);
            for ev in events.iter() {
                if ev.token() == WAKER {
                    self.check_stop(now);
                    continue;
                }
                if ev.token() == START_TIMER {
                    // The start it was armed for is due: `fire_timers` starts it.
                    if let Some(o) = self.open.as_mut() {
                        o.timer_fired();
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
            if now >= self.next_publish {
                self.publish_connections(now);
            }
        }
        if self.next_intended().is_some() {
            let now = self.tick();
            self.end_schedule(now);
        }
        self.interrupt_iterations();
        // The connections close with the loop.
        if let Some(p) = &self.progress {
            p.connections(self.result.stats.connects, 0);
        }
        let now = self.tick();
        self.check.finish(now);
        self.result
    }

    /// Publishes the connections opened so far and open now (connected, or in a TLS
    /// handshake) to the progress slot.
    fn publish_connections(&mut self, now: u64) {
        self.next_publish = now + PUBLISH_NS;
        if let Some(p) = &self.progress {
            let open = self
                .conns
                .iter()
                .filter(|c| !matches!(c.state(), State::Closed | State::Connecting { .. }))
                .count();
            p.connections(self.result.stats.connects, open as u64);
        }
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
        if let Some(o) = self.open.as_mut() {
            o.start();
            return self.dispatch(now);
        }
        let phase = self.index as f64 / self.loops as f64;
        match self.closed.begin(self.conns.len(), phase) {
            Begin::All => {
                for i in 0..self.conns.len() {
                    self.start_next(i, now);
                }
            }
            Begin::Ramp => {}
            Begin::Stages => self.update_stage(now),
        }
    }

    fn may_start(&self, now: u64) -> bool {
        !self.stopping && self.quota != Some(0) && self.end.is_none_or(|end| now < end)
    }

    /// Scenario runs: whether a user may send the next step of its iteration (`-n`
    /// counts iterations: the ones started may end).
    fn may_continue(&self, now: u64) -> bool {
        !self.stopping && self.end.is_none_or(|end| now < end)
    }

    /// Nothing is outstanding and nothing more will start.
    fn finished(&self, now: u64) -> bool {
        if !self.deadlines.is_empty() {
            return false;
        }
        if self.scen.as_ref().is_some_and(ScenarioLoop::any_mid) && self.may_continue(now) {
            return false;
        }
        if !self.may_start(now) {
            return true;
        }
        match &self.open {
            Some(_) => self.next_intended().is_none(),
            None => self.closed.stages_over(now),
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
        consider(self.holds.front().map(|(t, _)| t));
        consider(self.closed.next_timer());
        consider(self.scen.as_ref().and_then(ScenarioLoop::next_timer));
        if self.has_free_connection() && !precise {
            consider(self.next_intended());
        }
        next.map(|t| Duration::from_nanos(t.saturating_sub(now)))
    }

    fn after(&mut self, i: usize, step: Step) {
        match step {
            // (`Again` is handled where readiness is handed over.)
            Step::Wait | Step::Again | Step::IdleClosed => {}
            Step::Done => {
                let end = self.collect(i);
                if self.open.is_none() {
                    return self.start_next(i, end);
                }
                // A user's iteration goes on (or ends, freeing the connection).
                if self.scen.is_some() {
                    self.continue_open(i, end);
                }
                self.dispatch(end);
            }
        }
    }

    fn fire_timers(&mut self, now: u64) {
        while let Some((deadline, i)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            // Only connections with requests in flight are queued (`rearm`), so the
            // connection is busy; dequeue first all the same, so the loop always ends
            // (`after` queues it again for the requests it still has).
            debug_assert!(self.conns[i].busy());
            self.deadlines.remove(i);
            let at = self.at(now);
            let step = {
                let (conns, mut io) = self.split();
                conns[i].on_timeout(&mut io, at)
            };
            self.after(i, step);
        }
        while let Some((held_until, i)) = self.holds.front() {
            if held_until > now {
                break;
            }
            self.release(i);
        }
        while let Some((i, seq)) = self.closed.due(now) {
            if self.conns[i].seq == seq && self.conns[i].has_room() {
                self.start_next(i, now);
            }
        }
        while let Some((i, seq)) = self.scen.as_mut().and_then(|s| s.due(now)) {
            if self.conns[i].seq == seq && !self.conns[i].busy() {
                match self.open {
                    Some(_) => self.continue_open(i, now),
                    None => self.start_next(i, now),
                }
            }
        }
        if self.closed.stage_due(now) {
            self.update_stage(now);
        }
        if self.next_intended().is_some_and(|t| t <= now) {
            self.dispatch(now);
        }
        if self.grace_end.is_some_and(|g| now >= g) {
            self.cancel_all();
        }
    }

    /// `--conn-stages`: this loop's share of the active connections at `now`; starts
    /// the newly active ones (the others stop after their current request).
    fn update_stage(&mut self, now: u64) {
        let (plan, l) = (self.plan, self.l);
        let started = self
            .closed
            .stage(now, self.conns.len(), |total| plan.loop_share(total, l));
        for i in started {
            if self.conns[i].has_room() {
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
            if self.conns[i].cancel(now) == Step::Done {
                while let Some((info, f)) = self.conns[i].take_ended() {
                    self.done(i, &info, f);
                }
            }
            self.deadlines.remove(i);
        }
    }
}
