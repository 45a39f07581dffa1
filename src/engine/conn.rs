//! One connection's state machine: connect, TLS handshake, send the request, frame the
//! response, and decide whether the socket can carry the next request.
//!
//! A connection is an explicit [`State`], and each state owns what it needs: `Closed`
//! has no socket, `Connecting` its socket and the connect's start, `Handshaking` the
//! socket and the TLS session, and the open states a [`Transport`] (plain or TLS, see
//! `transport.rs`). So nothing on the hot path asks whether a socket exists, and the
//! only TLS branch is the handshake. Each event takes the state out, matches
//! `(state, event)` and puts the next state back through [`Conn::set_state`], which
//! traces the transition with `BARRAGE_TRACE=1` in debug builds.
//!
//! The worker feeds a connection readiness, timeouts and the time (`now`, ns since the
//! run's time base: nothing here reads the clock, so tests drive it with made-up
//! times) and gets back a [`Step`]: keep waiting, call again at a fresh time, or a
//! request [`Finished`] (successfully or not) for the sample log. Transport errors
//! never escape as panics or `Err`: each becomes the request's error kind, the socket
//! is dropped, and the next request reconnects.
//!
//! The request a connection carries is an [`InFlight`] (`inflight.rs`): its identity
//! and timing and its response checks. There is one per connection today; with
//! pipelining (issue 15) a connection would hold a queue of them, written back to back
//! and framed in order by the one parser, and `Writing`/`Reading` would become one
//! open state with a write cursor and that queue.
//!
//! A request that fails on a *reused* keep-alive connection before any response byte
//! arrived is sent again once on a fresh connection: the server closed the idle
//! connection as we wrote, which is not a failure of the server (HTTP clients from
//! browsers to curl do the same).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::{ClientConnection, HandshakeKind};

use crate::engine::inflight::{Finished, InFlight, ReqInfo};
use crate::engine::transport::{
    self, Got, Negotiated, Received, Sent, TlsCtx, Transport, connect_error, connect_from, io_error,
};
use crate::record::{ErrorKind, ProcessStats};
use crate::wire::http::{Feed, ParseError, ResponseParser};
use crate::wire::request::Template;

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
    /// Request partly written (`written` bytes of it): waiting for writable.
    Writing { open: Open, written: usize },
    /// Request sent: framing the response.
    Reading { open: Open },
    /// Connected, no request outstanding (keep-alive between requests).
    Idle { open: Open },
}

/// An open connection: its transport, and the responses it has carried.
#[derive(Debug)]
pub struct Open {
    pub transport: Transport,
    /// Responses completed on this socket (a request failing on a reused one is sent
    /// again).
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
    /// The request is over; record it and give the connection its next request.
    Done(Finished),
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
    pub req: InFlight,
}

/// A transition: the next state and what the worker must do.
type Next = (State, Step);

impl Conn {
    pub fn new(token: Token) -> Conn {
        Conn {
            state: State::Closed,
            token,
            parser: ResponseParser::new(false),
            seq: 0,
            req: InFlight::default(),
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// A request is outstanding.
    pub fn busy(&self) -> bool {
        matches!(
            self.state,
            State::Connecting { .. }
                | State::Handshaking { .. }
                | State::Writing { .. }
                | State::Reading { .. }
        )
    }

    /// Runs one event: takes the state out, lets `event` turn it into the next one,
    /// and puts that back.
    fn run(&mut self, event: impl FnOnce(&mut Conn, State) -> Next) -> Step {
        let state = std::mem::take(&mut self.state);
        let from = state.name();
        let (next, step) = event(self, state);
        self.set_state(from, next);
        step
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

    /// Starts a request at `now`: on the open socket, or on a new connection.
    pub fn begin(&mut self, io: &mut Io<'_>, now: u64, req: ReqInfo) -> Step {
        self.seq = self.seq.wrapping_add(1);
        self.req.info = ReqInfo { start: now, ..req };
        let t = self.req.template(io.targets);
        self.parser.set_head_request(t.head);
        if t.expect.is_some() {
            self.req.check.reset();
        }
        if self.req.keep.head || self.req.keep.body {
            self.req.head.clear();
            self.req.body.clear();
        }
        self.run(|c, state| match state {
            State::Idle { open } => c.start_send(io, now, open),
            State::Closed => c.connect(io, now),
            // The worker begins requests only on connections that are not busy.
            busy => (busy, Step::Wait),
        })
    }

    fn connect(&mut self, io: &mut Io<'_>, now: u64) -> Next {
        self.parser.reset();
        self.req.info.new_conn = true;
        self.req.info.tls_ns = 0;
        self.req.info.tls_resumed = false;
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
            State::Writing { open, written } if out => c.send(io, now, open, written),
            State::Reading { open } if into => c.read_response(io, now, open, ready.closed),
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
        self.req.info.connect_ns = now.saturating_sub(since);
        let Some(ctx) = io.tls else {
            return self.start_send(io, now, Open::new(Transport::Plain(stream)));
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

    /// Notes what the handshake took and negotiated, then sends the request.
    fn handshake_done(
        &mut self,
        io: &mut Io<'_>,
        now: u64,
        stream: TcpStream,
        tls: Box<ClientConnection>,
        since: u64,
    ) -> Next {
        let r = &mut self.req.info;
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
        self.start_send(io, now, Open::new(Transport::Tls(stream, tls)))
    }

    /// Hands a new request to the open connection and writes as much as fits.
    fn start_send(&mut self, io: &mut Io<'_>, now: u64, mut open: Open) -> Next {
        if open.transport.queue(self.req.bytes(io.targets)).is_err() {
            return self.lost(io, now, open, ErrorKind::Io);
        }
        self.send(io, now, open, 0)
    }

    /// Writes the request on from byte `written`.
    fn send(&mut self, io: &mut Io<'_>, now: u64, mut open: Open, mut written: usize) -> Next {
        match open
            .transport
            .write(self.req.bytes(io.targets), &mut written)
        {
            Sent::All => (State::Reading { open }, Step::Wait),
            Sent::Blocked => (State::Writing { open, written }, Step::Wait),
            Sent::Failed(e) => self.lost(io, now, open, io_error(&e)),
        }
    }

    fn read_response(&mut self, io: &mut Io<'_>, now: u64, mut open: Open, closed: bool) -> Next {
        let targets = io.targets;
        let got = open
            .transport
            .receive(io.rbuf, io.pbuf, io.tls, |data, from_tls| {
                self.frame(targets, data, from_tls, now)
            });
        match got {
            Received::Framed((f, reusable)) => {
                open.served += 1;
                // Bytes after the response were never asked for: the connection's
                // framing can no longer be trusted, so it is not reused.
                let next = if reusable && io.keepalive {
                    State::Idle { open }
                } else {
                    State::Closed
                };
                (next, Step::Done(f))
            }
            Received::Empty | Received::Read { full: false } if !closed => {
                (State::Reading { open }, Step::Wait)
            }
            // A short read drained the socket: with edge-triggered readiness any later
            // data raises a new event. After a full one (or a hang-up) read on.
            Received::Empty => (State::Reading { open }, Step::Wait),
            Received::Read { .. } => (State::Reading { open }, Step::Again),
            Received::Eof => self.on_eof(io, now, open),
            Received::Lost(kind) => self.lost(io, now, open, kind),
            Received::Broken(kind) => self.fail_mid_response(now, kind),
        }
    }

    /// Frames `data`, response bytes that arrived at `now` (out of TLS when
    /// `from_tls`). Returns how the request ended, and whether the connection can carry
    /// another, once the response is complete or broken.
    fn frame(
        &mut self,
        targets: &[Template],
        data: &[u8],
        from_tls: bool,
        now: u64,
    ) -> Option<(Finished, bool)> {
        let req = &mut self.req;
        if req.info.first_byte == 0 {
            req.info.first_byte = now;
        }
        let expect = req.template(targets).expect.as_deref();
        // Without checks the body is framed and dropped: no callback does any work.
        let fed = match expect {
            // A scenario step whose captures read the response: keep it (see `Keep`).
            _ if req.keep.head || req.keep.body => {
                req.keep_head(data, self.parser.status() == 0);
                let (keep, check, body) = (req.keep, &mut req.check, &mut req.body);
                let e = expect.filter(|e| e.reads_body());
                self.parser.feed_with(data, &mut |piece| {
                    if let Some(e) = e {
                        check.feed(e, piece);
                    }
                    if keep.body {
                        InFlight::keep_body(body, keep.max_body, piece);
                    }
                })
            }
            Some(e) if e.reads_body() => {
                let check = &mut req.check;
                self.parser
                    .feed_with(data, &mut |piece| check.feed(e, piece))
            }
            _ => self.parser.feed(data),
        };
        match fed {
            Ok(Feed::Partial) => None,
            Ok(Feed::Complete { consumed, response }) => {
                let error =
                    expect.map_or(ErrorKind::None, |e| req.check.verdict(e, response.status));
                let f = Finished {
                    end: now,
                    status: response.status,
                    error,
                    bytes: response.bytes,
                };
                Some((f, response.keep_alive && consumed == data.len()))
            }
            Err(e) => {
                let status = self.parser.status();
                let tls_record =
                    data.len() >= 2 && (data[0] == 0x15 || data[0] == 0x16) && data[1] == 0x03;
                let error = if tls_record && status == 0 && !from_tls {
                    ErrorKind::TlsOnPlain
                } else {
                    parse_error(e)
                };
                let f = Finished {
                    end: now,
                    status,
                    error,
                    bytes: self.parser.bytes_so_far() + data.len() as u64,
                };
                Some((f, false))
            }
        }
    }

    /// The peer ended the stream while a response was expected.
    fn on_eof(&mut self, io: &mut Io<'_>, now: u64, open: Open) -> Next {
        if self.parser.is_idle() {
            return self.lost(io, now, open, ErrorKind::ClosedBeforeResponse);
        }
        drop(open);
        let status = self.parser.status();
        let bytes = self.parser.bytes_so_far();
        let f = match self.parser.eof() {
            Ok(r) => {
                let expect = self.req.template(io.targets).expect.as_deref();
                Finished {
                    end: now,
                    status: r.status,
                    error: expect.map_or(ErrorKind::None, |e| self.req.check.verdict(e, r.status)),
                    bytes: r.bytes,
                }
            }
            Err(e) => Finished {
                end: now,
                status,
                error: parse_error(e),
                bytes,
            },
        };
        (State::Closed, Step::Done(f))
    }

    /// The socket failed while sending or before any response byte. On a reused
    /// connection that is the server's idle close racing our request: resend once on
    /// a fresh connection. Otherwise the request failed with `kind`.
    fn lost(&mut self, io: &mut Io<'_>, now: u64, open: Open, kind: ErrorKind) -> Next {
        let reused = open.served > 0;
        drop(open);
        if reused && self.parser.is_idle() && !self.req.retried {
            io.stats.retries += 1;
            self.req.info.retried = true;
            self.req.info.first_byte = 0;
            return self.connect(io, now);
        }
        self.fail_mid_response(now, kind)
    }

    /// The request's timeout fired at `now`. A connection with nothing outstanding has
    /// nothing to time out.
    pub fn on_timeout(&mut self, now: u64) -> Step {
        self.run(|c, state| {
            let kind = match state {
                State::Connecting { .. } => ErrorKind::ConnectTimeout,
                State::Handshaking { .. } | State::Writing { .. } | State::Reading { .. } => {
                    ErrorKind::Timeout
                }
                idle => return (idle, Step::Wait),
            };
            c.fail_mid_response(now, kind)
        })
    }

    /// The run is being stopped hard: the outstanding request ends at `now`, and the
    /// connection closes.
    pub fn cancel(&mut self, now: u64) -> Step {
        let busy = self.busy();
        self.run(|c, _| {
            if busy {
                c.fail_mid_response(now, ErrorKind::Cancelled)
            } else {
                (State::Closed, Step::Wait)
            }
        })
    }

    /// The request failed at `now`, keeping what did arrive: a status already parsed,
    /// bytes already read. The connection closes (its state is dropped by the caller).
    fn fail_mid_response(&mut self, now: u64, kind: ErrorKind) -> Next {
        let f = Finished {
            end: now,
            status: self.parser.status(),
            error: kind,
            bytes: self.parser.bytes_so_far(),
        };
        (State::Closed, Step::Done(f))
    }

    fn fail(&mut self, now: u64, kind: ErrorKind) -> Next {
        let f = Finished {
            end: now,
            status: 0,
            error: kind,
            bytes: 0,
        };
        (State::Closed, Step::Done(f))
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

#[cfg(test)]
mod tests;
