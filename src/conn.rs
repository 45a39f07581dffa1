//! One connection's state machine: connect, send the request, frame the response,
//! and decide whether the socket can carry the next request.
//!
//! A connection is an explicit [`State`]; every transition goes through
//! [`Conn::set_state`] (which can trace it with `BARRAGE_TRACE=1` in debug builds).
//! The worker loop feeds it readiness and timeouts with the current time and gets back
//! a [`Step`]: keep waiting, or a request [`Finished`] (successfully or not) for the
//! sample log. Transport errors never escape as panics or `Err`: each becomes the
//! request's error kind, the socket is dropped, and the next request reconnects.
//!
//! A request that fails on a *reused* keep-alive connection before any response byte
//! arrived is sent again once on a fresh connection: the server closed the idle
//! connection as we wrote, which is not a failure of the server (every browser and
//! HTTP client library does the same).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::http::{Feed, ParseError, ResponseParser};
use crate::sample::{ErrorKind, ProcessStats};
use crate::time::Clock;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No socket.
    Closed,
    /// Non-blocking connect in progress: waiting for writable.
    Connecting,
    /// Request partly written: waiting for writable.
    Writing,
    /// Request sent: framing the response.
    Reading,
    /// Connected, no request outstanding (keep-alive between requests).
    Idle,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "closed",
            State::Connecting => "connecting",
            State::Writing => "writing",
            State::Reading => "reading",
            State::Idle => "idle",
        })
    }
}

/// Timing and identity of the request a connection is carrying.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReqInfo {
    /// When the request started (connect start if it opened the connection), ns.
    pub start: u64,
    /// When the schedule wanted it to start (open loop), ns.
    pub intended: u64,
    pub scheduled: bool,
    pub target: u16,
    /// Set while running: the request opened its connection.
    pub new_conn: bool,
    pub connect_start: u64,
    pub connect_ns: u64,
    pub tls_ns: u64,
    pub tls_resumed: bool,
    /// First response byte, ns (0 until it arrives).
    pub first_byte: u64,
    /// Already re-sent once after a reused connection closed under it.
    pub retried: bool,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    pub end: u64,
    pub status: u16,
    pub error: ErrorKind,
    pub bytes: u64,
}

/// What the worker must do after handing the connection an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing: wait for the next event.
    Wait,
    /// The request is over; record it and give the connection its next request.
    Done(Finished),
    /// The server closed the connection while it was idle (not an error).
    IdleClosed,
}

/// What a connection needs from its thread to do I/O.
pub struct Io<'a> {
    pub registry: &'a Registry,
    pub clock: &'a Clock,
    pub addr: SocketAddr,
    pub request: &'a [u8],
    /// The thread's read buffer: responses are framed in place, never stored.
    pub rbuf: &'a mut [u8],
    pub stats: &'a mut ProcessStats,
    /// Keep connections open between requests.
    pub keepalive: bool,
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
    stream: Option<TcpStream>,
    parser: ResponseParser,
    /// Bytes of the request already written.
    written: usize,
    /// Responses completed on the current socket.
    served: u32,
    /// Bumped at every new request; timers carry it so stale ones are ignored.
    pub seq: u32,
    pub req: ReqInfo,
}

impl Conn {
    pub fn new(token: Token, head_request: bool) -> Conn {
        Conn {
            state: State::Closed,
            token,
            stream: None,
            parser: ResponseParser::new(head_request),
            written: 0,
            served: 0,
            seq: 0,
            req: ReqInfo::default(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// A request is outstanding.
    pub fn busy(&self) -> bool {
        matches!(
            self.state,
            State::Connecting | State::Writing | State::Reading
        )
    }

    fn set_state(&mut self, next: State) {
        #[cfg(debug_assertions)]
        if std::env::var_os("BARRAGE_TRACE").is_some() {
            eprintln!("conn {}: {} -> {}", self.token.0, self.state, next);
        }
        self.state = next;
    }

    /// Starts a request at `now`: on the open socket, or on a new connection.
    pub fn begin(&mut self, io: &mut Io<'_>, now: u64, req: ReqInfo) -> Step {
        self.seq = self.seq.wrapping_add(1);
        self.req = req;
        self.req.start = now;
        if self.stream.is_none() {
            return self.connect(io, now);
        }
        self.send(io)
    }

    fn connect(&mut self, io: &mut Io<'_>, now: u64) -> Step {
        self.parser.reset();
        self.served = 0;
        self.written = 0;
        self.req.new_conn = true;
        self.req.connect_start = now;
        self.req.tls_ns = 0;
        self.req.tls_resumed = false;
        let mut stream = match TcpStream::connect(io.addr) {
            Ok(s) => s,
            Err(e) => return self.fail(io, connect_error(&e)),
        };
        if let Err(e) = stream.set_nodelay(true) {
            return self.fail(io, connect_error(&e));
        }
        // Registered once for both directions, edge-triggered, never re-registered.
        if let Err(e) = io.registry.register(
            &mut stream,
            self.token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return self.fail(io, connect_error(&e));
        }
        self.stream = Some(stream);
        self.set_state(State::Connecting);
        Step::Wait
    }

    /// Handles readiness. Spurious readiness is harmless: every path tolerates
    /// `WouldBlock`.
    pub fn on_ready(&mut self, io: &mut Io<'_>, now: u64, ready: Ready) -> Step {
        match self.state {
            State::Connecting if ready.writable || ready.closed => self.finish_connect(io, now),
            State::Writing if ready.writable || ready.closed => self.send(io),
            State::Reading if ready.readable || ready.closed => {
                self.read_response(io, ready.closed)
            }
            State::Idle if ready.readable || ready.closed => self.check_idle(io),
            _ => Step::Wait,
        }
    }

    /// mio's recipe: a writable event ends the connect; `take_error` says whether it
    /// failed, `peer_addr` whether it really completed.
    fn finish_connect(&mut self, io: &mut Io<'_>, now: u64) -> Step {
        let stream = self.stream.as_ref().expect("connecting has a socket");
        match stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => return self.fail(io, connect_error(&e)),
        }
        match stream.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Step::Wait,
            Err(e) => return self.fail(io, connect_error(&e)),
        }
        io.stats.connects += 1;
        self.req.connect_ns = now.saturating_sub(self.req.connect_start);
        self.send(io)
    }

    fn send(&mut self, io: &mut Io<'_>) -> Step {
        let stream = self.stream.as_mut().expect("sending has a socket");
        loop {
            match stream.write(&io.request[self.written..]) {
                Ok(n) => {
                    self.written += n;
                    if self.written == io.request.len() {
                        self.written = 0;
                        self.set_state(State::Reading);
                        return Step::Wait;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.set_state(State::Writing);
                    return Step::Wait;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.lost_connection(io, io_error(&e)),
            }
        }
    }

    fn read_response(&mut self, io: &mut Io<'_>, closed: bool) -> Step {
        loop {
            let stream = self.stream.as_mut().expect("reading has a socket");
            let n = match stream.read(io.rbuf) {
                Ok(0) => return self.on_eof(io),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.lost_connection(io, io_error(&e)),
            };
            let t = io.clock.now();
            if self.req.first_byte == 0 {
                self.req.first_byte = t;
            }
            match self.parser.feed(&io.rbuf[..n]) {
                Ok(Feed::Partial) => {}
                Ok(Feed::Complete { consumed, response }) => {
                    self.served += 1;
                    // Bytes after the response were never asked for: the connection's
                    // framing can no longer be trusted, so it is not reused.
                    let reuse = response.keep_alive && io.keepalive && consumed == n;
                    if reuse {
                        self.set_state(State::Idle);
                    } else {
                        self.close();
                    }
                    return Step::Done(Finished {
                        end: t,
                        status: response.status,
                        error: ErrorKind::None,
                        bytes: response.bytes,
                    });
                }
                Err(e) => {
                    let status = self.parser.status();
                    let bytes = self.parser.bytes_so_far() + n as u64;
                    self.close();
                    return Step::Done(Finished {
                        end: t,
                        status,
                        error: parse_error(e),
                        bytes,
                    });
                }
            }
            // A short read drained the socket: with edge-triggered readiness any later
            // data raises a new event, so another read would only see WouldBlock.
            if n < io.rbuf.len() && !closed {
                return Step::Wait;
            }
        }
    }

    fn on_eof(&mut self, io: &mut Io<'_>) -> Step {
        if self.parser.is_idle() {
            return self.lost_connection(io, ErrorKind::ClosedBeforeResponse);
        }
        let status = self.parser.status();
        let bytes = self.parser.bytes_so_far();
        let result = self.parser.eof();
        self.close();
        let end = io.clock.now();
        match result {
            Ok(r) => Step::Done(Finished {
                end,
                status: r.status,
                error: ErrorKind::None,
                bytes: r.bytes,
            }),
            Err(e) => Step::Done(Finished {
                end,
                status,
                error: parse_error(e),
                bytes,
            }),
        }
    }

    /// The socket failed while sending or before any response byte. On a reused
    /// connection that is the server's idle close racing our request: resend once on
    /// a fresh connection. Otherwise the request failed with `kind`.
    fn lost_connection(&mut self, io: &mut Io<'_>, kind: ErrorKind) -> Step {
        if self.served > 0 && self.parser.is_idle() && !self.req.retried {
            self.close();
            io.stats.retries += 1;
            self.req.retried = true;
            self.req.first_byte = 0;
            let now = io.clock.now();
            return self.connect(io, now);
        }
        let status = self.parser.status();
        let bytes = self.parser.bytes_so_far();
        let mut step = self.fail(io, kind);
        if let Step::Done(f) = &mut step {
            f.status = status;
            f.bytes = bytes;
        }
        step
    }

    fn check_idle(&mut self, io: &mut Io<'_>) -> Step {
        let stream = self.stream.as_mut().expect("idle has a socket");
        loop {
            match stream.read(io.rbuf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EOF, an error, or bytes nobody asked for: this socket is finished.
                _ => {
                    self.close();
                    io.stats.idle_closes += 1;
                    return Step::IdleClosed;
                }
            }
        }
    }

    /// The request's timeout fired.
    pub fn on_timeout(&mut self, io: &mut Io<'_>) -> Step {
        let kind = if self.state == State::Connecting {
            ErrorKind::ConnectTimeout
        } else {
            ErrorKind::Timeout
        };
        let status = self.parser.status();
        let bytes = self.parser.bytes_so_far();
        let mut step = self.fail(io, kind);
        if let Step::Done(f) = &mut step {
            f.status = status;
            f.bytes = bytes;
        }
        step
    }

    /// The run is being stopped hard: the outstanding request ends now.
    pub fn cancel(&mut self, io: &mut Io<'_>) -> Step {
        if !self.busy() {
            self.close();
            return Step::Wait;
        }
        self.fail(io, ErrorKind::Cancelled)
    }

    fn fail(&mut self, io: &mut Io<'_>, kind: ErrorKind) -> Step {
        self.close();
        Step::Done(Finished {
            end: io.clock.now(),
            status: 0,
            error: kind,
            bytes: 0,
        })
    }

    /// Drops the socket (closing the fd also removes it from the poll).
    pub fn close(&mut self) {
        self.stream = None;
        self.parser.reset();
        self.written = 0;
        self.served = 0;
        self.set_state(State::Closed);
    }
}

fn connect_error(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
        io::ErrorKind::TimedOut => ErrorKind::ConnectTimeout,
        io::ErrorKind::ConnectionReset => ErrorKind::Reset,
        _ => ErrorKind::ConnectError,
    }
}

fn io_error(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => ErrorKind::Reset,
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        _ => ErrorKind::Io,
    }
}

fn parse_error(e: ParseError) -> ErrorKind {
    match e {
        ParseError::Malformed => ErrorKind::Malformed,
        ParseError::HeadTooLarge => ErrorKind::HeadTooLarge,
        ParseError::EofMidResponse => ErrorKind::EofMidResponse,
    }
}
