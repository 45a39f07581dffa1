//! One connection's state machine: connect, TLS handshake, send the requests, frame the
//! responses, and decide whether the socket can carry more requests.
//!
//! A connection is an explicit [`State`], and each state owns what it needs: `Closed`
//! has no socket, `Connecting` its socket and the connect's start, `Handshaking` the
//! socket and the TLS session, and the open states a [`Transport`] (plain or TLS, see
//! `transport.rs`). So nothing on the hot path asks whether a socket exists, and the
//! only TLS branch is the handshake. Each event takes the state out, matches
//! `(state, event)` and puts the next state back through `Conn::set_state`, which
//! traces the transition with `BARRAGE_TRACE=1` in debug builds.
//!
//! The worker feeds a connection readiness, timeouts and the time (`now`, ns since the
//! run's time base: nothing here reads the clock, so tests drive it with made-up
//! times) and gets back a [`Step`]: keep waiting, call again at a fresh time, or
//! requests ended (successfully or not): the worker collects each one's [`Finished`]
//! for the sample log with [`Conn::take_ended`]. Transport errors never escape as
//! panics or `Err`: each becomes a request's error kind, the socket is dropped, and the
//! next request reconnects.
//!
//! The requests a connection carries are its [`Pipeline`] (`inflight.rs`, issue 15):
//! up to `--pipeline N` [`InFlight`]s, each with its identity, timing and response
//! checks. [`Conn::begin`] queues a request (connecting if need be) and
//! [`Conn::flush`] hands every queued one to the socket in one `writev`; the one
//! parser frames the responses in order, each ending the oldest request, as many as a
//! read holds. `Writing` means some request bytes are not with the kernel yet, and
//! frames responses as they come all the same (a server may answer before it has read
//! everything); `Reading` that all are written.
//!
//! When a connection is lost with requests outstanding (closed, reset, timed out, or
//! a response that says `Connection: close`), the responses framed stay recorded and
//! each outstanding request either fails or is sent again once on a new connection
//! (RFC 9112 section 9.3.2): only if no byte of its response arrived, and it is GET,
//! HEAD or OPTIONS or none of it was written. The oldest one, the one the server was
//! answering, fails with the connection's error (a clean close: unanswered when
//! pipelining, closed before response without) unless the socket had carried a
//! response before (the server closed an idle keep-alive connection as we wrote,
//! which is not its failure: clients from browsers to curl send again); the ones
//! behind it fail as [`ErrorKind::Unanswered`].
//!
//! This file owns the states, the events and sending; reading and framing responses
//! is `conn/read.rs`, a connection lost with requests in flight `conn/lost.rs`.

use std::fmt;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::{ClientConnection, HandshakeKind};

use crate::engine::inflight::{Finished, InFlight, Pipeline, ReqInfo};
use crate::engine::transport::{
    self, Got, Negotiated, Received, Sent, TlsCtx, Transport, connect_error, connect_from, io_error,
};
use crate::record::{ErrorKind, ProcessStats};
use crate::wire::http::{Feed, ParseError, ResponseParser};
use crate::wire::request::Template;

/// Most requests handed to one `writev` (the kernel's limit is far above; this bounds
/// the slices kept on the stack).
const MAX_IOV: usize = 64;

/// Highest receive low-water mark batched reads ask for: half the loop's read buffer,
/// so the bytes a wake-up waited for are read at once.
const MAX_WAKE_BYTES: u64 = 32 * 1024;

/// Where a connection is in its life, with what it owns there.
#[derive(Debug, Default)]
pub enum State {
    /// No socket.
    #[default]
    Closed,
    /// Non-blocking connect in progress: waiting for writable.
    Connecting { stream: TcpStream, since: u64 },
    /// TLS handshake in progress.
    Handshaking {
        stream: TcpStream,
        tls: Box<ClientConnection>,
        since: u64,
    },
    /// Request bytes (or TLS records) not yet with the kernel: written when the socket
    /// takes them; responses to the ones before are framed as they arrive.
    Writing { open: Open },
    /// Every request written: framing the responses.
    Reading { open: Open },
    /// Connected, no request outstanding (keep-alive between requests).
    Idle { open: Open },
}

/// An open connection: its transport, and the responses it has carried.
#[derive(Debug)]
pub struct Open {
    pub transport: Transport,
    /// Responses completed on this socket (the oldest request failing on a reused one
    /// is sent again).
    pub served: u32,
}

impl Open {
    fn new(transport: Transport) -> Open {
        Open {
            transport,
            served: 0,
        }
    }
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Connecting { .. } => "connecting",
            State::Handshaking { .. } => "handshaking",
            State::Writing { .. } => "writing",
            State::Reading { .. } => "reading",
            State::Idle { .. } => "idle",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the worker must do after handing the connection an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing: wait for the next event.
    Wait,
    /// Call [`Conn::on_ready`] again, with the same readiness and a fresh time: a read
    /// filled the buffer (or the peer hung up: read on to the end), or a TLS handshake
    /// ended, whose end is stamped after its processing.
    Again,
    /// Requests ended: collect them ([`Conn::take_ended`]), record them, and give the
    /// connection more.
    Done,
    /// The server closed the connection while it was idle (not an error).
    IdleClosed,
}

/// What a connection needs from its thread to do I/O.
pub struct Io<'a> {
    pub registry: &'a Registry,
    pub addr: SocketAddr,
    pub targets: &'a [Template],
    pub tls: Option<&'a TlsCtx>,
    /// The thread's read buffer: responses are framed in place, never stored.
    pub rbuf: &'a mut [u8],
    /// Plaintext out of TLS.
    pub pbuf: &'a mut [u8],
    pub stats: &'a mut ProcessStats,
    /// The first handshake's parameters, for the summary.
    pub negotiated: &'a mut Option<Negotiated>,
    /// Keep connections open between requests.
    pub keepalive: bool,
    /// Source addresses to connect from (`--bind`); empty: the kernel picks.
    pub bind: &'a [std::net::IpAddr],
}

/// Readiness reported by the poll for one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ready {
    pub readable: bool,
    pub writable: bool,
    /// The peer closed or the socket errored: read until EOF.
    pub closed: bool,
}

pub struct Conn {
    state: State,
    token: Token,
    /// Frames the responses of this connection, in order.
    parser: ResponseParser,
    /// Bumped at every new request; pacing wake-ups carry it so stale ones are ignored.
    pub seq: u32,
    /// The requests it carries, oldest first.
    pub pipe: Pipeline,
    /// When the latest request began (pacing counts from it).
    pub last_start: u64,
    /// The socket's receive low-water mark as last set (1: wake at every byte; a new
    /// socket starts there). See [`Conn::wake_after_responses`].
    wake_bytes: u32,
    /// The smallest response framed on this connection so far, bytes (`u32::MAX`:
    /// none yet).
    smallest: u32,
}

/// A transition: the next state and what the worker must do.
type Next = (State, Step);

/// Why framing stopped before the bytes of a read ran out: the connection cannot
/// carry more (its outstanding requests are settled: [`Conn::abandon`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The response said `Connection: close` (or keep-alive is off), answered a request
    /// not all written, broke the framing (the request has ended with that error), or
    /// bytes came that no request asked for.
    Unusable,
}

impl Conn {
    /// A connection that carries up to `depth` requests at once (`--pipeline`).
    pub fn new(token: Token, depth: usize) -> Conn {
        Conn {
            state: State::Closed,
            token,
            parser: ResponseParser::new(false),
            seq: 0,
            pipe: Pipeline::new(depth),
            last_start: 0,
            wake_bytes: 1,
            smallest: u32::MAX,
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Requests are outstanding.
    pub fn busy(&self) -> bool {
        self.pipe.outstanding() > 0
    }

    /// Another request may begin.
    pub fn has_room(&self) -> bool {
        self.pipe.has_room()
    }

    /// At least half of the pipeline's places are free (every place, without
    /// `--pipeline`).
    pub fn half_free(&self) -> bool {
        let depth = self.pipe.depth();
        2 * (depth - self.pipe.len()) >= depth
    }

    /// Batched reads (closed loop with `--pipeline`, see `worker/closed.rs`): the
    /// socket wakes the loop only once `want` more responses can be in, counted at the
    /// smallest response this connection has framed (TLS records add to that, so the
    /// wake-up comes early rather than late); `want` 0 or 1, or no response seen yet:
    /// at every byte, as sockets do by default. True when the socket now holds
    /// responses back (the worker bounds how long: `READ_HOLD_NS`).
    pub fn wake_after_responses(&mut self, want: usize) -> bool {
        let bytes = match want {
            0 | 1 => 1,
            _ if self.smallest == u32::MAX => 1,
            n => (n as u64 * u64::from(self.smallest)).min(MAX_WAKE_BYTES) as u32,
        };
        if bytes != self.wake_bytes {
            let transport = match &self.state {
                State::Writing { open } | State::Reading { open } | State::Idle { open } => {
                    &open.transport
                }
                // No socket, or one still opening: it starts at 1 when open.
                _ => return false,
            };
            // A refusal (no such option) leaves the socket waking at every byte.
            if transport.wake_after(bytes).is_ok() {
                self.wake_bytes = bytes;
            }
        }
        self.wake_bytes > 1
    }

    /// The start of the oldest request still outstanding: its deadline's base.
    pub fn oldest_start(&self) -> Option<u64> {
        let k = self.pipe.answering();
        (k < self.pipe.len()).then(|| self.pipe.get(k).info.start)
    }

    /// The oldest ended request, who it was and how it ended; the worker records each.
    pub fn take_ended(&mut self) -> Option<(ReqInfo, Finished)> {
        self.pipe.pop_ended()
    }

    /// The request [`Conn::take_ended`] returned last, with what it kept of its
    /// response (scenario steps' head and body), until the next [`Conn::begin`].
    pub fn last_ended(&self) -> &InFlight {
        self.pipe.last_popped()
    }

    /// The place the next [`Conn::begin`] fills: a scenario step renders its request
    /// into it (`rendered`) and says what of the response to keep before beginning it.
    pub fn next_request(&mut self) -> &mut InFlight {
        self.pipe.next_slot()
    }

    /// Runs one event: takes the state out, lets `event` turn it into the next one,
    /// and puts that back. Requests that ended on the way make the step `Done`.
    fn run(&mut self, event: impl FnOnce(&mut Conn, State) -> Next) -> Step {
        let state = std::mem::take(&mut self.state);
        let from = state.name();
        let (next, step) = event(self, state);
        self.set_state(from, next);
        match step {
            Step::Wait if self.pipe.ended() > 0 => Step::Done,
            step => step,
        }
    }

    fn set_state(&mut self, from: &'static str, next: State) {
        #[cfg(debug_assertions)]
        if from != next.name() && std::env::var_os("BARRAGE_TRACE").is_some() {
            crate::errln!("conn {}: {} -> {}", self.token.0, from, next);
        }
        #[cfg(not(debug_assertions))]
        let _ = from;
        self.state = next;
    }

    /// Queues a request begun at `now`; opens a connection if there is none. The
    /// request goes out at the next [`Conn::flush`] (or when the connect completes), so
    /// requests begun together leave in one write. A full pipeline takes nothing (the
    /// worker asks [`Conn::has_room`] first).
    pub fn begin(&mut self, io: &mut Io<'_>, now: u64, req: ReqInfo) -> Step {
        let t = &io.targets[req.target as usize];
        let opens = matches!(self.state, State::Closed);
        let info = ReqInfo { start: now, ..req };
        let Some(slot) = self.pipe.push(info, !opens, t.expect.is_some()) else {
            return Step::Wait;
        };
        if slot.keep.head || slot.keep.body {
            slot.head.clear();
            slot.body.clear();
        }
        self.seq = self.seq.wrapping_add(1);
        self.last_start = now;
        if self.pipe.outstanding() == 1 {
            self.parser.set_head_request(t.head);
        }
        self.run(|c, state| match state {
            State::Closed => c.connect(io, now),
            State::Idle { open } | State::Reading { open } => (State::Writing { open }, Step::Wait),
            // Connecting, handshaking or writing: it goes out after the ones before.
            other => (other, Step::Wait),
        })
    }

    /// Writes the queued requests (as far as the socket takes them).
    pub fn flush(&mut self, io: &mut Io<'_>, now: u64) -> Step {
        self.run(|c, state| match state {
            State::Writing { open } => c.send(io, now, open),
            other => (other, Step::Wait),
        })
    }

    /// Tells the parser whether the response it frames next answers a HEAD.
    fn arm_parser(&mut self, targets: &[Template]) {
        let k = self.pipe.answering();
        if k < self.pipe.len() {
            let head = self.pipe.get(k).template(targets).head;
            self.parser.set_head_request(head);
        }
    }

    fn connect(&mut self, io: &mut Io<'_>, now: u64) -> Next {
        self.parser.reset();
        self.wake_bytes = 1;
        self.arm_parser(io.targets);
        let k = self.pipe.answering();
        let r = &mut self.pipe.get_mut(k).info;
        r.new_conn = true;
        r.tls_ns = 0;
        r.tls_resumed = false;
        // With --bind, connections spread over the given source addresses (each has its
        // own ephemeral port range, so tens of thousands of connections fit).
        let connected = match io.bind {
            [] => TcpStream::connect(io.addr),
            ips => connect_from(ips[self.token.0 % ips.len()], io.addr),
        };
        let mut stream = match connected {
            Ok(s) => s,
            Err(e) => return self.fail(now, connect_error(&e)),
        };
        if let Err(e) = stream.set_nodelay(true) {
            return self.fail(now, connect_error(&e));
        }
        // Registered once for both directions, edge-triggered, never re-registered.
        if let Err(e) = io.registry.register(
            &mut stream,
            self.token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return self.fail(now, connect_error(&e));
        }
        (State::Connecting { stream, since: now }, Step::Wait)
    }

    /// Handles readiness at `now`. Spurious readiness is harmless: every path
    /// tolerates `WouldBlock`.
    pub fn on_ready(&mut self, io: &mut Io<'_>, now: u64, ready: Ready) -> Step {
        let any = ready.readable || ready.writable || ready.closed;
        let out = ready.writable || ready.closed;
        let into = ready.readable || ready.closed;
        self.run(|c, state| match state {
            State::Connecting { stream, since } if out => c.finish_connect(io, now, stream, since),
            State::Handshaking { stream, tls, since } if any => {
                c.handshake(io, now, stream, tls, since)
            }
            State::Writing { open } if any => {
                // Responses first: one may already close the connection.
                let (state, step) = if into {
                    c.read_response(io, now, open, ready.closed)
                } else {
                    (State::Writing { open }, Step::Wait)
                };
                match state {
                    State::Writing { open } if out && step != Step::Again => c.send(io, now, open),
                    state => (state, step),
                }
            }
            State::Reading { open } if into => {
                match c.read_response(io, now, open, ready.closed) {
                    // TLS has something to say (what it read asked for an answer):
                    // flush it now, as no writable edge may come.
                    (State::Writing { open }, step) if step != Step::Again => c.send(io, now, open),
                    next => next,
                }
            }
            State::Idle { mut open } if into => {
                if open.transport.still_idle(io.rbuf, io.pbuf) {
                    return (State::Idle { open }, Step::Wait);
                }
                io.stats.idle_closes += 1;
                (State::Closed, Step::IdleClosed)
            }
            state => (state, Step::Wait),
        })
    }

    /// mio's recipe: a writable event ends the connect; `take_error` says whether it
    /// failed, `peer_addr` whether it really completed.
    fn finish_connect(&mut self, io: &mut Io<'_>, now: u64, stream: TcpStream, since: u64) -> Next {
        match stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => return self.fail(now, connect_error(&e)),
        }
        match stream.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                return (State::Connecting { stream, since }, Step::Wait);
            }
            Err(e) => return self.fail(now, connect_error(&e)),
        }
        io.stats.connects += 1;
        let k = self.pipe.answering();
        self.pipe.get_mut(k).info.connect_ns = now.saturating_sub(since);
        let Some(ctx) = io.tls else {
            return self.send(io, now, Open::new(Transport::Plain(stream)));
        };
        match ClientConnection::new(Arc::clone(&ctx.config), ctx.server_name.clone()) {
            Ok(tls) => self.handshake(io, now, stream, Box::new(tls), now),
            Err(e) => self.fail(now, crate::wire::tls::error_kind(&e)),
        }
    }
    /// Drives the TLS handshake as far as the socket allows.
    fn handshake(
        &mut self,
        io: &mut Io<'_>,
        now: u64,
        mut stream: TcpStream,
        mut tls: Box<ClientConnection>,
        since: u64,
    ) -> Next {
        loop {
            match transport::flush_tls(&mut tls, &mut stream) {
                Ok(true) => {}
                Ok(false) => return (State::Handshaking { stream, tls, since }, Step::Wait),
                Err(e) => return self.fail(now, io_error(&e)),
            }
            if !tls.is_handshaking() {
                return self.handshake_done(io, now, stream, tls, since);
            }
            match transport::read(&mut stream, io.rbuf) {
                Got::Data(n) => {
                    if let Err(kind) =
                        transport::feed_tls(&mut tls, &mut stream, io.tls, &io.rbuf[..n])
                    {
                        return self.fail(now, kind);
                    }
                    if !tls.is_handshaking() {
                        // It ended in what was just processed (certificate checks
                        // included): its end is stamped at a fresh time.
                        return (State::Handshaking { stream, tls, since }, Step::Again);
                    }
                }
                // The peer hung up mid-handshake: it does not want our TLS.
                Got::Eof => {
                    if let Some(t) = io.tls {
                        t.reasons.note(ErrorKind::TlsHandshake, || {
                            crate::wire::tls_reasons::CLOSED_MID_HANDSHAKE.to_string()
                        });
                    }
                    return self.fail(now, ErrorKind::TlsHandshake);
                }
                Got::WouldBlock => {
                    if !tls.wants_write() {
                        return (State::Handshaking { stream, tls, since }, Step::Wait);
                    }
                }
                Got::Failed(kind) => return self.fail(now, kind),
            }
        }
    }

    /// Notes what the handshake took and negotiated, then sends the requests.
    fn handshake_done(
        &mut self,
        io: &mut Io<'_>,
        now: u64,
        stream: TcpStream,
        tls: Box<ClientConnection>,
        since: u64,
    ) -> Next {
        let k = self.pipe.answering();
        let r = &mut self.pipe.get_mut(k).info;
        r.tls_ns = now.saturating_sub(since);
        r.tls_resumed = tls.handshake_kind() == Some(HandshakeKind::Resumed);
        if r.tls_resumed {
            io.stats.tls_resumed += 1;
        } else {
            io.stats.tls_full += 1;
        }
        if io.negotiated.is_none() {
            *io.negotiated = Some(Negotiated {
                version: tls.protocol_version().map_or(0, u16::from),
                suite: tls
                    .negotiated_cipher_suite()
                    .map_or(0, |s| u16::from(s.suite())),
                group: tls
                    .negotiated_key_exchange_group()
                    .map_or(0, |g| u16::from(g.name())),
            });
        }
        self.send(io, now, Open::new(Transport::Tls(stream, tls)))
    }

    /// Hands the socket the queued request bytes, back to back, as far as it takes
    /// them: one `writev` for up to [`MAX_IOV`] requests (TLS: encrypted into one
    /// flush). Each request's start is stamped when its first byte goes.
    fn send(&mut self, io: &mut Io<'_>, now: u64, mut open: Open) -> Next {
        let targets = io.targets;
        while self.pipe.unwritten() {
            let (sent, written) = self.pipe.cursor();
            let end = self.pipe.len().min(sent + MAX_IOV);
            let mut bufs = [IoSlice::new(&[]); MAX_IOV];
            for (b, k) in bufs.iter_mut().zip(sent..end) {
                let bytes = self.pipe.get(k).bytes(targets);
                *b = IoSlice::new(if k == sent { &bytes[written..] } else { bytes });
            }
            match open.transport.write(&bufs[..end - sent]) {
                Sent::Took(n) => self.pipe.advance(n, now, |r| r.bytes(targets).len()),
                Sent::Blocked => return (State::Writing { open }, Step::Wait),
                Sent::Failed(e) => return self.lost(io, now, open, io_error(&e)),
            }
        }
        match open.transport.flush() {
            Sent::Took(_) => (self.open_state(open), Step::Wait),
            Sent::Blocked => (State::Writing { open }, Step::Wait),
            Sent::Failed(e) => self.lost(io, now, open, io_error(&e)),
        }
    }

    /// The state of an open connection by what it carries.
    fn open_state(&self, open: Open) -> State {
        if self.pipe.unwritten() || open.transport.wants_write() {
            State::Writing { open }
        } else if self.busy() {
            State::Reading { open }
        } else {
            State::Idle { open }
        }
    }

    /// Drops the socket (closing the fd also removes it from the poll).
    pub fn close(&mut self) {
        self.parser.reset();
        self.run(|_, _| (State::Closed, Step::Wait));
    }
}

fn parse_error(e: ParseError) -> ErrorKind {
    match e {
        ParseError::Malformed => ErrorKind::Malformed,
        ParseError::HeadTooLarge => ErrorKind::HeadTooLarge,
        ParseError::EofMidResponse => ErrorKind::EofMidResponse,
    }
}

mod lost;
mod read;

#[cfg(test)]
mod tests;
