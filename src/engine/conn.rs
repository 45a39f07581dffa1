//! One connection's state machine: connect, TLS handshake, send the request, frame the
//! response, and decide whether the socket can carry the next request.
//!
//! A connection is an explicit [`State`]; every transition goes through
//! [`Conn::set_state`] (which traces it with `BARRAGE_TRACE=1` in debug builds). The
//! worker loop feeds it readiness and timeouts and gets back a [`Step`]: keep waiting,
//! or a request [`Finished`] (successfully or not) for the sample log. Transport errors
//! never escape as panics or `Err`: each becomes the request's error kind, the socket
//! is dropped, and the next request reconnects.
//!
//! TLS is rustls's `ClientConnection` driven by the same readiness: raw bytes are read
//! into the thread's buffer with one `read`, handed to rustls, and the plaintext it
//! yields is framed exactly like a plain connection's bytes.
//!
//! A request that fails on a *reused* keep-alive connection before any response byte
//! arrived is sent again once on a fresh connection: the server closed the idle
//! connection as we wrote, which is not a failure of the server (HTTP clients from
//! browsers to curl do the same).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind};

use crate::record::sample::{ErrorKind, ProcessStats};
use crate::time::Clock;
use crate::wire::expect::Check;
use crate::wire::http::{Feed, ParseError, ResponseParser};
use crate::wire::request::Template;
use crate::wire::tls_verify::Reasons;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No socket.
    Closed,
    /// Non-blocking connect in progress: waiting for writable.
    Connecting,
    /// TLS handshake in progress.
    Handshaking,
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
            State::Handshaking => "handshaking",
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

/// TLS parameters of a thread.
#[derive(Debug, Clone)]
pub struct TlsCtx {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
    /// Where a failed handshake notes why (first failure of each kind only).
    pub reasons: Arc<Reasons>,
}

/// What was negotiated by a handshake: version, suite and group as wire numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Negotiated {
    pub version: u16,
    pub suite: u16,
    pub group: u16,
}

/// What a connection needs from its thread to do I/O.
pub struct Io<'a> {
    pub registry: &'a Registry,
    pub clock: &'a Clock,
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
    stream: Option<TcpStream>,
    tls: Option<Box<ClientConnection>>,
    parser: ResponseParser,
    /// Bytes of the request already written (plain connections).
    written: usize,
    /// Responses completed on the current socket.
    served: u32,
    /// When the TLS handshake started, ns.
    tls_start: u64,
    /// Response checks in progress (used only when the target has expectations).
    check: Check,
    /// Bumped at every new request; pacing wake-ups carry it so stale ones are ignored.
    pub seq: u32,
    pub req: ReqInfo,
}

enum Got {
    /// Bytes are in `rbuf[..n]`.
    Data(usize),
    Eof,
    WouldBlock,
    Failed(ErrorKind),
}

impl Conn {
    pub fn new(token: Token) -> Conn {
        Conn {
            state: State::Closed,
            token,
            stream: None,
            tls: None,
            parser: ResponseParser::new(false),
            written: 0,
            served: 0,
            tls_start: 0,
            check: Check::default(),
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
            State::Connecting | State::Handshaking | State::Writing | State::Reading
        )
    }

    fn set_state(&mut self, next: State) {
        #[cfg(debug_assertions)]
        if std::env::var_os("BARRAGE_TRACE").is_some() {
            crate::errln!("conn {}: {} -> {}", self.token.0, self.state, next);
        }
        self.state = next;
    }

    /// Starts a request at `now`: on the open socket, or on a new connection.
    pub fn begin(&mut self, io: &mut Io<'_>, now: u64, req: ReqInfo) -> Step {
        self.seq = self.seq.wrapping_add(1);
        self.req = req;
        self.req.start = now;
        let t = &io.targets[req.target as usize];
        self.parser.set_head_request(t.head);
        if t.expect.is_some() {
            self.check.reset();
        }
        if self.stream.is_none() {
            return self.connect(io, now);
        }
        self.send(io)
    }

    fn connect(&mut self, io: &mut Io<'_>, now: u64) -> Step {
        self.parser.reset();
        self.served = 0;
        self.written = 0;
        self.tls = None;
        self.req.new_conn = true;
        self.req.connect_start = now;
        self.req.tls_ns = 0;
        self.req.tls_resumed = false;
        // With --bind, connections spread over the given source addresses (each has its
        // own ephemeral port range, so tens of thousands of connections fit).
        let connected = match io.bind {
            [] => TcpStream::connect(io.addr),
            ips => connect_from(ips[self.token.0 % ips.len()], io.addr),
        };
        let mut stream = match connected {
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
        let any = ready.readable || ready.writable || ready.closed;
        match self.state {
            State::Connecting if ready.writable || ready.closed => self.finish_connect(io, now),
            State::Handshaking if any => self.handshake(io),
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
        if let Some(tls) = io.tls {
            match ClientConnection::new(Arc::clone(&tls.config), tls.server_name.clone()) {
                Ok(c) => self.tls = Some(Box::new(c)),
                Err(e) => return self.fail(io, crate::wire::tls::error_kind(&e)),
            }
            self.tls_start = now;
            self.set_state(State::Handshaking);
            return self.handshake(io);
        }
        self.send(io)
    }

    /// Drives the TLS handshake as far as the socket allows.
    fn handshake(&mut self, io: &mut Io<'_>) -> Step {
        loop {
            match self.flush_tls() {
                Ok(true) => {}
                Ok(false) => return Step::Wait,
                Err(e) => return self.fail(io, io_error(&e)),
            }
            let tls = self.tls.as_ref().expect("handshaking has TLS");
            if !tls.is_handshaking() {
                let now = io.clock.now();
                self.req.tls_ns = now.saturating_sub(self.tls_start);
                self.req.tls_resumed = tls.handshake_kind() == Some(HandshakeKind::Resumed);
                if self.req.tls_resumed {
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
                return self.send(io);
            }
            match self.read_raw(io) {
                Got::Data(n) => {
                    if let Err(kind) = self.feed_tls(io.tls, &io.rbuf[..n]) {
                        return self.fail(io, kind);
                    }
                }
                // The peer hung up mid-handshake: it does not want our TLS.
                Got::Eof => {
                    if let Some(t) = io.tls {
                        t.reasons.note(ErrorKind::TlsHandshake, || {
                            crate::wire::tls_verify::CLOSED_MID_HANDSHAKE.to_string()
                        });
                    }
                    return self.fail(io, ErrorKind::TlsHandshake);
                }
                Got::WouldBlock => {
                    if !self.tls.as_ref().is_some_and(|t| t.wants_write()) {
                        return Step::Wait;
                    }
                }
                Got::Failed(kind) => return self.fail(io, kind),
            }
        }
    }

    /// Writes what rustls has queued. `Ok(false)`: the socket is full.
    fn flush_tls(&mut self) -> io::Result<bool> {
        let (Some(tls), Some(stream)) = (self.tls.as_mut(), self.stream.as_mut()) else {
            return Ok(true);
        };
        while tls.wants_write() {
            match tls.write_tls(stream) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Hands raw bytes to rustls and processes them. A failure's reason is noted in
    /// `ctx` (certificate failures were noted by the verifier already).
    fn feed_tls(&mut self, ctx: Option<&TlsCtx>, bytes: &[u8]) -> Result<(), ErrorKind> {
        let tls = self.tls.as_mut().expect("tls");
        let mut data = bytes;
        while !data.is_empty() {
            tls.read_tls(&mut data)
                .map_err(|_| ErrorKind::TlsHandshake)?;
            if let Err(e) = tls.process_new_packets() {
                let kind = crate::wire::tls::error_kind(&e);
                if let Some(ctx) = ctx {
                    ctx.reasons.note(kind, || {
                        crate::wire::tls_verify::handshake_reason(&e, bytes)
                    });
                }
                // Tell the peer why (best effort), as TLS expects.
                if let Some(s) = self.stream.as_mut() {
                    let _ = tls.write_tls(s);
                }
                return Err(kind);
            }
        }
        Ok(())
    }

    fn read_raw(&mut self, io: &mut Io<'_>) -> Got {
        let stream = self.stream.as_mut().expect("reading has a socket");
        loop {
            return match stream.read(io.rbuf) {
                Ok(0) => Got::Eof,
                Ok(n) => Got::Data(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Got::WouldBlock,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Got::Failed(io_error(&e)),
            };
        }
    }

    fn send(&mut self, io: &mut Io<'_>) -> Step {
        let request = &io.targets[self.req.target as usize].bytes;
        if let Some(tls) = self.tls.as_mut() {
            // rustls buffers the whole request at once; in `Writing` it is queued
            // already and only the flushing goes on.
            if self.state != State::Writing && tls.writer().write_all(request).is_err() {
                return self.lost_connection(io, ErrorKind::Io);
            }
            return match self.flush_tls() {
                Ok(true) => {
                    self.set_state(State::Reading);
                    Step::Wait
                }
                Ok(false) => {
                    self.set_state(State::Writing);
                    Step::Wait
                }
                Err(e) => self.lost_connection(io, io_error(&e)),
            };
        }
        let stream = self.stream.as_mut().expect("sending has a socket");
        loop {
            match stream.write(&request[self.written..]) {
                Ok(n) => {
                    self.written += n;
                    if self.written == request.len() {
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
            let n = match self.read_raw(io) {
                Got::Data(n) => n,
                Got::Eof => return self.on_eof(io),
                Got::WouldBlock => return Step::Wait,
                Got::Failed(kind) => return self.lost_connection(io, kind),
            };
            let t = io.clock.now();
            let step = if self.tls.is_some() {
                self.take_tls_plaintext(io, n, t)
            } else {
                self.frame(io, n, t, false)
            };
            if let Some(step) = step {
                return step;
            }
            // A short read drained the socket: with edge-triggered readiness any later
            // data raises a new event, so another read would only see WouldBlock.
            if n < io.rbuf.len() && !closed {
                return Step::Wait;
            }
        }
    }

    /// Decrypts `rbuf[..n]` and frames the plaintext.
    fn take_tls_plaintext(&mut self, io: &mut Io<'_>, n: usize, t: u64) -> Option<Step> {
        if let Err(kind) = self.feed_tls(io.tls, &io.rbuf[..n]) {
            return Some(self.fail_mid_response(io, kind));
        }
        loop {
            let tls = self.tls.as_mut().expect("tls");
            match tls.reader().read(io.pbuf) {
                // close_notify: an orderly end of the stream.
                Ok(0) => return Some(self.on_eof(io)),
                Ok(m) => {
                    if let Some(step) = self.frame(io, m, t, true) {
                        return Some(step);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(_) => return Some(self.on_eof(io)),
            }
        }
    }

    /// Frames `m` response bytes (in `pbuf` when `plain_from_tls`, else in `rbuf`).
    fn frame(&mut self, io: &mut Io<'_>, m: usize, t: u64, plain_from_tls: bool) -> Option<Step> {
        if self.req.first_byte == 0 {
            self.req.first_byte = t;
        }
        let data = if plain_from_tls {
            &io.pbuf[..m]
        } else {
            &io.rbuf[..m]
        };
        let expect = io.targets[self.req.target as usize].expect.as_deref();
        // Without checks the body is framed and dropped: no callback does any work.
        let fed = match expect {
            Some(e) if e.reads_body() => {
                let check = &mut self.check;
                self.parser
                    .feed_with(data, &mut |piece| check.feed(e, piece))
            }
            _ => self.parser.feed(data),
        };
        match fed {
            Ok(Feed::Partial) => None,
            Ok(Feed::Complete { consumed, response }) => {
                self.served += 1;
                // Bytes after the response were never asked for: the connection's
                // framing can no longer be trusted, so it is not reused.
                let reuse = response.keep_alive && io.keepalive && consumed == m;
                if reuse {
                    self.set_state(State::Idle);
                } else {
                    self.close();
                }
                let error =
                    expect.map_or(ErrorKind::None, |e| self.check.verdict(e, response.status));
                Some(Step::Done(Finished {
                    end: t,
                    status: response.status,
                    error,
                    bytes: response.bytes,
                }))
            }
            Err(e) => {
                let status = self.parser.status();
                let bytes = self.parser.bytes_so_far() + m as u64;
                let tls_record =
                    data.len() >= 2 && (data[0] == 0x15 || data[0] == 0x16) && data[1] == 0x03;
                let kind = if tls_record && status == 0 && !plain_from_tls {
                    ErrorKind::TlsOnPlain
                } else {
                    parse_error(e)
                };
                self.close();
                Some(Step::Done(Finished {
                    end: t,
                    status,
                    error: kind,
                    bytes,
                }))
            }
        }
    }

    fn fail_mid_response(&mut self, io: &mut Io<'_>, kind: ErrorKind) -> Step {
        let status = self.parser.status();
        let bytes = self.parser.bytes_so_far();
        let mut step = self.fail(io, kind);
        // Keep what did arrive: a status already parsed, bytes already read.
        if let Step::Done(f) = &mut step {
            f.status = status;
            f.bytes = bytes;
        }
        step
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
            Ok(r) => {
                let expect = io.targets[self.req.target as usize].expect.as_deref();
                let error = expect.map_or(ErrorKind::None, |e| self.check.verdict(e, r.status));
                Step::Done(Finished {
                    end,
                    status: r.status,
                    error,
                    bytes: r.bytes,
                })
            }
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
        self.fail_mid_response(io, kind)
    }

    fn check_idle(&mut self, io: &mut Io<'_>) -> Step {
        loop {
            match self.read_raw(io) {
                Got::WouldBlock => return Step::Wait,
                // Post-handshake TLS messages (session tickets) arrive on idle
                // connections; anything that decrypts to application data, or fails
                // to, ends the connection like EOF does.
                Got::Data(n) if self.tls.is_some() => {
                    // No reason noted: an idle connection's end fails no request.
                    let quiet = self.feed_tls(None, &io.rbuf[..n]).is_ok()
                        && {
                            let tls = self.tls.as_mut().expect("tls");
                            matches!(tls.reader().read(io.pbuf), Err(ref e) if e.kind() == io::ErrorKind::WouldBlock)
                        };
                    if !quiet {
                        break;
                    }
                }
                _ => break,
            }
        }
        self.close();
        io.stats.idle_closes += 1;
        Step::IdleClosed
    }

    /// The request's timeout fired.
    pub fn on_timeout(&mut self, io: &mut Io<'_>) -> Step {
        let kind = match self.state {
            State::Connecting => ErrorKind::ConnectTimeout,
            _ => ErrorKind::Timeout,
        };
        self.fail_mid_response(io, kind)
    }

    /// The run is being stopped hard: the outstanding request ends now.
    pub fn cancel(&mut self, io: &mut Io<'_>) -> Step {
        if !self.busy() {
            self.close();
            return Step::Wait;
        }
        self.fail_mid_response(io, ErrorKind::Cancelled)
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
        self.tls = None;
        self.parser.reset();
        self.written = 0;
        self.served = 0;
        self.set_state(State::Closed);
    }
}

/// A non-blocking connect from `source` (port chosen by the kernel) to `addr`.
fn connect_from(source: std::net::IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
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
