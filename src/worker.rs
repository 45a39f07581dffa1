//! One worker thread: its mio poll, its connections, its timers, its share of the
//! requests. Nothing here is shared with other threads except the stop level (read
//! when the waker fires) and the sample log's chunk counter (touched once per 16 Ki
//! records).
//!
//! Timers come from the poll timeout: request deadlines are pushed in start order and
//! every request has the same timeout, so they form a FIFO queue; the poll sleeps
//! until the earliest of that queue's head, the end of the run and the stop grace.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use mio::{Events, Poll, Registry, Token};

use crate::conn::{Conn, Io, Ready, ReqInfo, Step};
use crate::sample::{
    ChunkWriter, FLAG_NEW_CONN, FLAG_SCHEDULED, FLAG_TLS_RESUMED, ProcessStats, Record, dur16,
    dur32,
};
use crate::time::Clock;

/// Token of the waker that tells a loop the stop level changed.
pub const WAKER: Token = Token(usize::MAX);

/// How hard the process has been asked to stop.
pub const RUNNING: u8 = 0;
/// Finish in-flight requests (within [`GRACE`]), start no new ones.
pub const GRACEFUL: u8 = 1;
/// Record in-flight requests as cancelled and leave now.
pub const HARD: u8 = 2;

/// How long in-flight requests may run on after a graceful stop.
const GRACE: Duration = Duration::from_secs(2);

/// Read buffer per thread. Responses are framed in it, never stored.
const RBUF: usize = 64 * 1024;

/// What one loop must do.
#[derive(Debug, Clone)]
pub struct LoopPlan {
    pub connections: usize,
    /// Requests this loop may start, for count-bounded runs.
    pub quota: Option<u64>,
    /// When to stop starting requests, ns since the time base.
    pub end: Option<u64>,
    pub timeout: Duration,
    pub addr: SocketAddr,
    pub request: Arc<[u8]>,
    pub head: bool,
    pub keepalive: bool,
}

/// What a loop reports when it ends.
#[derive(Debug, Default)]
pub struct LoopResult {
    pub stats: ProcessStats,
    pub requests: u64,
    /// Set when the loop had to stop early (the sample log could not grow).
    pub error: Option<String>,
}

pub struct Worker {
    poll: Poll,
    registry: Registry,
    conns: Vec<Conn>,
    plan: LoopPlan,
    clock: Clock,
    stop: Arc<AtomicU8>,
    writer: ChunkWriter,
    rbuf: Box<[u8]>,
    /// (deadline, connection, request seq), in deadline order.
    timeouts: VecDeque<(u64, u32, u32)>,
    timeout_ns: u64,
    quota: Option<u64>,
    in_flight: usize,
    stopping: bool,
    grace_end: Option<u64>,
    result: LoopResult,
}

impl Worker {
    pub fn new(
        poll: Poll,
        plan: LoopPlan,
        clock: Clock,
        stop: Arc<AtomicU8>,
        writer: ChunkWriter,
    ) -> io::Result<Worker> {
        let registry = poll.registry().try_clone()?;
        let conns = (0..plan.connections)
            .map(|i| Conn::new(Token(i), plan.head))
            .collect();
        Ok(Worker {
            poll,
            registry,
            conns,
            timeout_ns: plan.timeout.as_nanos() as u64,
            quota: plan.quota,
            plan,
            clock,
            stop,
            writer,
            rbuf: vec![0u8; RBUF].into_boxed_slice(),
            timeouts: VecDeque::new(),
            in_flight: 0,
            stopping: false,
            grace_end: None,
            result: LoopResult::default(),
        })
    }

    /// Runs the loop to the end of the run and returns what it did.
    pub fn run(mut self) -> LoopResult {
        let mut events = Events::with_capacity(1024);
        let now = self.clock.now();
        for i in 0..self.conns.len() {
            self.start_next(i, now);
        }
        loop {
            let now = self.clock.now();
            if self.finished(now) {
                break;
            }
            let timeout = self.poll_timeout(now);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                self.result.error = Some(format!("poll failed: {e}"));
                self.cancel_all();
                break;
            }
            let now = self.clock.now();
            for ev in events.iter() {
                if ev.token() == WAKER {
                    self.check_stop(now);
                    continue;
                }
                let i = ev.token().0;
                let ready = Ready {
                    readable: ev.is_readable(),
                    writable: ev.is_writable(),
                    closed: ev.is_read_closed() || ev.is_write_closed() || ev.is_error(),
                };
                let step = {
                    let (conns, mut io) = self.split();
                    conns[i].on_ready(&mut io, now, ready)
                };
                self.after(i, step);
            }
            self.fire_timers(now);
        }
        self.result
    }

    /// Borrows the connections and the I/O context at once.
    fn split(&mut self) -> (&mut [Conn], Io<'_>) {
        (
            &mut self.conns,
            Io {
                registry: &self.registry,
                clock: &self.clock,
                addr: self.plan.addr,
                request: &self.plan.request,
                rbuf: &mut self.rbuf,
                stats: &mut self.result.stats,
                keepalive: self.plan.keepalive,
            },
        )
    }

    fn may_start(&self, now: u64) -> bool {
        !self.stopping && self.quota != Some(0) && self.plan.end.is_none_or(|end| now < end)
    }

    fn finished(&self, now: u64) -> bool {
        self.in_flight == 0 && !self.may_start(now)
    }

    fn poll_timeout(&self, now: u64) -> Option<Duration> {
        let mut next = self.timeouts.front().map(|t| t.0);
        if let Some(end) = self.plan.end.filter(|&e| e > now) {
            next = Some(next.map_or(end, |n| n.min(end)));
        }
        if let Some(g) = self.grace_end {
            next = Some(next.map_or(g, |n| n.min(g)));
        }
        next.map(|t| Duration::from_nanos(t.saturating_sub(now)))
    }

    /// Gives connection `i` its next request, or closes it when the run is over.
    fn start_next(&mut self, i: usize, mut now: u64) {
        loop {
            if !self.may_start(now) {
                self.conns[i].close();
                return;
            }
            if let Some(q) = self.quota.as_mut() {
                *q -= 1;
            }
            self.in_flight += 1;
            let step = {
                let (conns, mut io) = self.split();
                conns[i].begin(&mut io, now, ReqInfo::default())
            };
            let seq = self.conns[i].seq;
            self.timeouts
                .push_back((now + self.timeout_ns, i as u32, seq));
            match step {
                Step::Done(f) => {
                    self.record(i, f);
                    now = self.clock.now();
                }
                Step::Wait | Step::IdleClosed => return,
            }
        }
    }

    fn after(&mut self, i: usize, step: Step) {
        match step {
            Step::Wait | Step::IdleClosed => {}
            Step::Done(f) => {
                self.record(i, f);
                self.start_next(i, f.end);
            }
        }
    }

    /// Writes the sample of connection `i`'s finished request.
    fn record(&mut self, i: usize, f: crate::conn::Finished) {
        self.in_flight -= 1;
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
        if r.scheduled {
            flags |= FLAG_SCHEDULED;
            lag = dur32::encode(r.start.saturating_sub(r.intended));
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
        if let Err(e) = self.writer.push(&rec) {
            self.result.stats.lost += 1;
            if self.result.error.is_none() {
                self.result.error = Some(format!("cannot record samples: {e}"));
            }
            self.stopping = true;
        }
    }

    fn fire_timers(&mut self, now: u64) {
        while let Some(&(deadline, i, seq)) = self.timeouts.front() {
            if deadline > now {
                break;
            }
            self.timeouts.pop_front();
            let i = i as usize;
            if self.conns[i].seq != seq || !self.conns[i].busy() {
                continue;
            }
            let step = {
                let (conns, mut io) = self.split();
                conns[i].on_timeout(&mut io)
            };
            self.after(i, step);
        }
        if self.grace_end.is_some_and(|g| now >= g) {
            self.cancel_all();
        }
    }

    fn check_stop(&mut self, now: u64) {
        match self.stop.load(Ordering::Acquire) {
            RUNNING => {}
            GRACEFUL => {
                if !self.stopping {
                    self.stopping = true;
                    self.grace_end = Some(now + GRACE.as_nanos() as u64);
                }
            }
            _ => self.cancel_all(),
        }
    }

    /// Ends every outstanding request as cancelled (recorded) and closes everything.
    fn cancel_all(&mut self) {
        self.stopping = true;
        self.grace_end = None;
        for i in 0..self.conns.len() {
            let step = {
                let (conns, mut io) = self.split();
                conns[i].cancel(&mut io)
            };
            if let Step::Done(f) = step {
                self.record(i, f);
            }
        }
    }
}
