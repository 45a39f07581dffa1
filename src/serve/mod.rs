//! The built-in target server (`barrage serve`): mio event loops answering HTTP/1.1
//! keep-alive requests with a small fixed response, so tests and `scripts/run.sh`
//! need nothing installed. It counts every request and connection and prints both
//! when stopped, which is what the tests compare results.csv against.
//!
//! The query string shapes the answer, so tests can ask for what they need:
//! `status=503`, `body=text`, `size=N` (N bytes of body), `chunked=1`,
//! `close=1` (answer with `Connection: close`), `eof=1` (no length: the body ends
//! when the server closes), `delay=50ms` (answer later; the
//! connection waits, others are served meanwhile). Server-wide: `--delay` (every
//! answer later), `--stall AT:FOR` (a pause mid-run), `--capture FILE` (every request's
//! raw bytes, for checking what the client sent).
//!
//! `/login`, `/items` and `/checkout` are the demo shop (`shop.rs`) that scenarios
//! run against; it prints its checkouts per user when the server stops.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::cli::args::{ServeArgs, parse_duration};
use crate::outln;
use crate::report::terminal::plural;
use crate::wire::request::percent_decode;
use crate::wire::tls::ServerTls;

pub mod shop;

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX);
/// Largest request head plus body the server buffers.
const MAX_REQUEST: usize = 1 << 20;

/// What the server's threads share: counters, and the behaviour asked for on the
/// command line.
#[derive(Debug, Default)]
pub struct Shared {
    pub requests: AtomicU64,
    pub connections: AtomicU64,
    pub tls_full: AtomicU64,
    pub tls_resumed: AtomicU64,
    /// `--stall AT:FOR`: requests arriving in this window are answered at its end.
    pub stall: Option<(Instant, Instant)>,
    /// `--delay`: every answer waits this long.
    pub delay: Option<Duration>,
    /// `--capture FILE`: every request's raw bytes are appended here.
    pub capture: Option<Mutex<File>>,
    /// `--peers`: requests per client address.
    pub peers: Option<Mutex<std::collections::BTreeMap<std::net::IpAddr, u64>>>,
    /// The demo shop's state.
    pub shop: shop::Shop,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source} (pick another --listen address or port)")]
    Listen { addr: String, source: io::Error },
    #[error("invalid --listen address {0:?}: use IP:PORT, like 127.0.0.1:8080")]
    Addr(String),
    #[error("--threads must be at least 1")]
    Threads,
    #[error("server setup failed: {0}")]
    Setup(io::Error),
    #[error("{0}")]
    Tls(String),
}

/// A server is asked for as many connections as clients open: lift the open-file
/// limit to the hard limit (as root, to 1 Mi).
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let want = hard.max(1 << 20);
        if setrlimit(Resource::RLIMIT_NOFILE, want, want).is_err() && soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// The TLS configuration `--tls` asks for: the given pair, or a fresh CA and leaf
/// whose CA certificate goes to `--ca-out`.
type TlsSetup = (Option<Arc<rustls::ServerConfig>>, Option<PathBuf>);

fn server_tls(args: &ServeArgs) -> Result<TlsSetup, ServeError> {
    if !args.tls {
        if args.cert.is_some() || args.key.is_some() || args.ca_out.is_some() {
            return Err(ServeError::Tls(
                "--cert, --key and --ca-out need --tls".into(),
            ));
        }
        return Ok((None, None));
    }
    let tls_err = |e: crate::wire::tls::TlsError| ServeError::Tls(e.to_string());
    match (&args.cert, &args.key) {
        (Some(c), Some(k)) => Ok((
            Some(ServerTls::from_files(c, k).map_err(tls_err)?.config),
            None,
        )),
        (None, None) => {
            let ca = args
                .ca_out
                .clone()
                .unwrap_or_else(|| PathBuf::from("barrage-serve-ca.pem"));
            Ok((
                Some(ServerTls::self_signed(&ca, &[]).map_err(tls_err)?.config),
                Some(ca),
            ))
        }
        _ => Err(ServeError::Tls(
            "--cert needs --key (and --key needs --cert): give both files".into(),
        )),
    }
}

/// Runs `barrage serve` until a signal or `--duration`. Prints the address it
/// listens on first, and the counts last.
pub fn run(args: &ServeArgs) -> Result<(), ServeError> {
    if args.threads == 0 {
        return Err(ServeError::Threads);
    }
    let addr: SocketAddr = args
        .listen
        .parse()
        .map_err(|_| ServeError::Addr(args.listen.clone()))?;
    raise_fd_limit();
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .map_err(|e| ServeError::Setup(e.into()))?;
    let std_listener = std::net::TcpListener::bind(addr).map_err(|source| ServeError::Listen {
        addr: args.listen.clone(),
        source,
    })?;
    std_listener
        .set_nonblocking(true)
        .map_err(ServeError::Setup)?;
    let local = std_listener.local_addr().map_err(ServeError::Setup)?;
    let (tls, ca) = server_tls(args)?;
    match (&tls, ca) {
        (Some(_), Some(ca)) => {
            outln!(
                "barrage serve: listening on https://{local}/ (CA certificate: {})",
                ca.display()
            )
        }
        (Some(_), None) => outln!("barrage serve: listening on https://{local}/"),
        (None, _) => outln!("barrage serve: listening on http://{local}/"),
    }

    let started = Instant::now();
    let capture = match &args.capture {
        Some(p) => Some(Mutex::new(File::create(p).map_err(ServeError::Setup)?)),
        None => None,
    };
    let shared = Arc::new(Shared {
        stall: args
            .stall
            .map(|(at, for_)| (started + at, started + at + for_)),
        delay: args.delay,
        capture,
        peers: args.peers.then(|| Mutex::new(Default::default())),
        ..Shared::default()
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut wakers = Vec::new();
    let mut handles = Vec::new();
    for t in 0..args.threads {
        let l = std_listener.try_clone().map_err(ServeError::Setup)?;
        let poll = Poll::new().map_err(ServeError::Setup)?;
        wakers.push(Waker::new(poll.registry(), WAKER).map_err(ServeError::Setup)?);
        let shared = Arc::clone(&shared);
        let stop = Arc::clone(&stop);
        let h = thread::Builder::new()
            .name(format!("serve-{t}"))
            .spawn({
                let tls = tls.clone();
                move || serve_loop(poll, TcpListener::from_std(l), shared, stop, tls)
            })
            .map_err(ServeError::Setup)?;
        handles.push(h);
    }

    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC)
        .map_err(|e| ServeError::Setup(e.into()))?;
    match args.duration {
        Some(d) => {
            let mut poll = Poll::new().map_err(ServeError::Setup)?;
            let fd = sigfd.as_raw_fd();
            poll.registry()
                .register(&mut SourceFd(&fd), Token(0), Interest::READABLE)
                .map_err(ServeError::Setup)?;
            let deadline = Instant::now() + d;
            let mut events = Events::with_capacity(4);
            while Instant::now() < deadline {
                let _ = poll.poll(
                    &mut events,
                    Some(deadline.saturating_duration_since(Instant::now())),
                );
                if !events.is_empty() {
                    break;
                }
            }
        }
        None => {
            let _ = sigfd.read_signal();
        }
    }
    stop.store(true, Ordering::Release);
    for w in &wakers {
        let _ = w.wake();
    }
    for h in handles {
        let _ = h.join();
    }
    let mut line = format!(
        "barrage serve: served {} on {}",
        plural(shared.requests.load(Ordering::Acquire), "request"),
        plural(shared.connections.load(Ordering::Acquire), "connection")
    );
    if tls.is_some() {
        line.push_str(&format!(
            " ({}, {} resumed)",
            plural(
                shared.tls_full.load(Ordering::Acquire),
                "full TLS handshake"
            ),
            shared.tls_resumed.load(Ordering::Acquire)
        ));
    }
    outln!("{line}");
    if let Some(peers) = &shared.peers {
        for (ip, n) in peers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            outln!("barrage serve: peer {ip} sent {}", plural(*n, "request"));
        }
    }
    for line in shared.shop.report() {
        outln!("barrage serve: {line}");
    }
    Ok(())
}

struct ServerConn {
    stream: TcpStream,
    /// `--tls`: the session; `inbuf`/`out` then hold plaintext.
    tls: Option<Box<rustls::ServerConnection>>,
    /// Handshake counted already.
    handshake_counted: bool,
    /// The client's address (kept for `--peers`).
    peer: Option<std::net::IpAddr>,
    /// Received bytes not yet answered.
    inbuf: Vec<u8>,
    /// Answer bytes not yet written.
    out: Vec<u8>,
    written: usize,
    /// Waiting for a delayed answer until this instant.
    paused_until: Option<Instant>,
    /// The request being delayed: its length in `inbuf` and its answer.
    delayed: Option<(usize, Answer)>,
    close_after_write: bool,
}

fn serve_loop(
    mut poll: Poll,
    mut listener: TcpListener,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    if poll
        .registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .is_err()
    {
        return;
    }
    let mut conns: Vec<Option<ServerConn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut timers: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Acquire) {
        let timeout = timers
            .peek()
            .map(|Reverse((t, _))| t.saturating_duration_since(Instant::now()));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        for ev in events.iter() {
            match ev.token() {
                WAKER => {}
                LISTENER => loop {
                    match listener.accept() {
                        Ok((mut stream, peer_addr)) => {
                            let _ = stream.set_nodelay(true);
                            let i = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            if poll
                                .registry()
                                .register(
                                    &mut stream,
                                    Token(i),
                                    Interest::READABLE | Interest::WRITABLE,
                                )
                                .is_err()
                            {
                                free.push(i);
                                continue;
                            }
                            let tls = match &tls {
                                Some(cfg) => match rustls::ServerConnection::new(Arc::clone(cfg)) {
                                    Ok(c) => Some(Box::new(c)),
                                    Err(_) => {
                                        free.push(i);
                                        continue;
                                    }
                                },
                                None => None,
                            };
                            shared.connections.fetch_add(1, Ordering::Relaxed);
                            conns[i] = Some(ServerConn {
                                stream,
                                tls,
                                handshake_counted: false,
                                peer: Some(peer_addr.ip()),
                                inbuf: Vec::new(),
                                out: Vec::new(),
                                written: 0,
                                paused_until: None,
                                delayed: None,
                                close_after_write: false,
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                },
                Token(i) => {
                    let keep = match conns.get_mut(i).and_then(|c| c.as_mut()) {
                        Some(c) => drive(c, &mut buf, &shared, &mut timers, i),
                        None => true,
                    };
                    if !keep {
                        conns[i] = None;
                        free.push(i);
                    }
                }
            }
        }
        let now = Instant::now();
        while let Some(Reverse((t, i))) = timers.peek().copied() {
            if t > now {
                break;
            }
            timers.pop();
            let keep = match conns.get_mut(i).and_then(|c| c.as_mut()) {
                Some(c) if c.paused_until.is_some_and(|p| p <= now) => {
                    c.paused_until = None;
                    drive(c, &mut buf, &shared, &mut timers, i)
                }
                _ => true,
            };
            if !keep {
                conns[i] = None;
                free.push(i);
            }
        }
    }
}

/// Reads, answers and writes as far as possible. False when the connection is done.
fn drive(
    c: &mut ServerConn,
    buf: &mut [u8],
    shared: &Shared,
    timers: &mut BinaryHeap<Reverse<(Instant, usize)>>,
    index: usize,
) -> bool {
    let eof = match read_in(c, buf, shared) {
        Some(eof) => eof,
        None => return false,
    };
    if c.inbuf.len() > MAX_REQUEST {
        return false;
    }
    // Answer complete requests in order; a delayed one pauses the connection.
    while c.paused_until.is_none() && !c.close_after_write {
        let (len, answer) = match c.delayed.take() {
            Some(d) => d,
            None => match parse_request(&c.inbuf, &shared.shop) {
                Parsed::Partial => break,
                Parsed::Bad => {
                    c.out.extend_from_slice(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    c.close_after_write = true;
                    c.inbuf.clear();
                    break;
                }
                Parsed::Request { len, mut answer } => {
                    if let (Some(peers), Some(ip)) = (&shared.peers, c.peer) {
                        *peers
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .entry(ip)
                            .or_insert(0) += 1;
                    }
                    if let Some(f) = &shared.capture {
                        let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = f.write_all(&c.inbuf[..len]);
                    }
                    let now = Instant::now();
                    let stalled = shared
                        .stall
                        .filter(|(a, b)| (*a..*b).contains(&now))
                        .map(|(_, b)| b - now);
                    let delay = [answer.delay.take(), shared.delay, stalled]
                        .into_iter()
                        .flatten()
                        .max();
                    if let Some(d) = delay.filter(|d| !d.is_zero()) {
                        let until = Instant::now() + d;
                        c.paused_until = Some(until);
                        c.delayed = Some((len, answer));
                        timers.push(Reverse((until, index)));
                        break;
                    }
                    (len, answer)
                }
            },
        };
        shared.requests.fetch_add(1, Ordering::Relaxed);
        answer.write_to(&mut c.out);
        c.close_after_write = answer.close || answer.eof;
        c.inbuf.drain(..len);
    }
    if !flush(c) {
        return false;
    }
    let pending = c.tls.as_ref().is_some_and(|t| t.wants_write()) || c.written < c.out.len();
    if c.close_after_write && !pending {
        return false;
    }
    !(eof && c.out.is_empty() && c.paused_until.is_none())
}

/// Reads what the socket has (decrypting with `--tls`) into `inbuf`. `None`: the
/// connection failed; `Some(eof)` otherwise.
fn read_in(c: &mut ServerConn, buf: &mut [u8], shared: &Shared) -> Option<bool> {
    loop {
        let n = match c.stream.read(buf) {
            Ok(0) => return Some(true),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        let Some(tls) = c.tls.as_mut() else {
            c.inbuf.extend_from_slice(&buf[..n]);
            continue;
        };
        let mut data = &buf[..n];
        while !data.is_empty() {
            if tls.read_tls(&mut data).is_err() {
                return None;
            }
            if tls.process_new_packets().is_err() {
                // Send the alert that says why, then give up on the connection.
                let _ = tls.write_tls(&mut c.stream);
                return None;
            }
            let mut plain = [0u8; 16 * 1024];
            loop {
                match tls.reader().read(&mut plain) {
                    Ok(0) => return Some(true),
                    Ok(m) => c.inbuf.extend_from_slice(&plain[..m]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => return None,
                }
            }
        }
        if !c.handshake_counted && !tls.is_handshaking() {
            c.handshake_counted = true;
            let counter = if tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                &shared.tls_resumed
            } else {
                &shared.tls_full
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Writes pending answers (encrypting with `--tls`). False when the connection failed.
fn flush(c: &mut ServerConn) -> bool {
    if let Some(tls) = c.tls.as_mut() {
        loop {
            // Plaintext into rustls as far as its buffer takes it...
            while c.written < c.out.len() {
                match tls.writer().write(&c.out[c.written..]) {
                    Ok(0) => break,
                    Ok(n) => c.written += n,
                    Err(_) => return false,
                }
            }
            if !c.out.is_empty() && c.written == c.out.len() {
                c.out.clear();
                c.written = 0;
                if c.close_after_write {
                    tls.send_close_notify();
                }
            }
            // ...and records out to the socket until it is full.
            while tls.wants_write() {
                match tls.write_tls(&mut c.stream) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
            }
            if c.out.is_empty() {
                return true;
            }
        }
    }
    while c.written < c.out.len() {
        match c.stream.write(&c.out[c.written..]) {
            Ok(n) => c.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    c.out.clear();
    c.written = 0;
    true
}

/// What to answer one request with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// No Content-Length: the body ends when the server closes the connection.
    pub eof: bool,
    pub body: Vec<u8>,
    pub chunked: bool,
    pub close: bool,
    pub delay: Option<Duration>,
    pub head: bool,
    /// More header lines, each ending in CRLF (the demo shop's).
    pub headers: Vec<u8>,
}

impl Answer {
    fn write_to(&self, out: &mut Vec<u8>) {
        let reason = match self.status {
            200 => "OK",
            201 => "Created",
            204 => "No Content",
            301 => "Moved Permanently",
            304 => "Not Modified",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "Status",
        };
        out.extend_from_slice(
            format!("HTTP/1.1 {} {reason}\r\nServer: barrage\r\n", self.status).as_bytes(),
        );
        out.extend_from_slice(&self.headers);
        if self.close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        let no_body = self.status == 204 || self.status == 304 || (100..200).contains(&self.status);
        if no_body {
            out.extend_from_slice(b"\r\n");
            return;
        }
        if self.eof {
            out.extend_from_slice(b"\r\n");
            if !self.head {
                out.extend_from_slice(&self.body);
            }
        } else if self.chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            if !self.head {
                // Several chunks so clients meet chunk boundaries mid-body.
                for piece in self.body.chunks(7) {
                    out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                    out.extend_from_slice(piece);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
        } else {
            out.extend_from_slice(
                format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes(),
            );
            if !self.head {
                out.extend_from_slice(&self.body);
            }
        }
    }
}

enum Parsed {
    Partial,
    Bad,
    Request { len: usize, answer: Answer },
}

fn parse_request(buf: &[u8], shop: &shop::Shop) -> Parsed {
    if buf.is_empty() {
        return Parsed::Partial;
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Bad,
    };
    let mut body_len = 0usize;
    let mut close = req.version == Some(0);
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                Some(n) => body_len = n,
                None => return Parsed::Bad,
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            if v.contains("close") {
                close = true;
            } else if v.contains("keep-alive") {
                close = false;
            }
        }
    }
    if buf.len() < head_len + body_len {
        return Parsed::Partial;
    }
    let path = req.path.unwrap_or("/");
    let body = &buf[head_len..head_len + body_len];
    let mut answer = shop
        .answer(req.method.unwrap_or(""), path, req.headers, body)
        .unwrap_or_else(|| answer_for(path));
    answer.close |= close;
    answer.head = req.method == Some("HEAD");
    Parsed::Request {
        len: head_len + body_len,
        answer,
    }
}

/// The answer a path's query asks for (see the module docs).
pub fn answer_for(path: &str) -> Answer {
    let mut a = Answer {
        status: 200,
        eof: false,
        body: b"ok\n".to_vec(),
        chunked: false,
        close: false,
        delay: None,
        head: false,
        headers: Vec::new(),
    };
    let Some((_, query)) = path.split_once('?') else {
        return a;
    };
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "status" => {
                a.status = v
                    .parse()
                    .ok()
                    .filter(|s| (100..1000).contains(s))
                    .unwrap_or(200)
            }
            "body" => a.body = percent_decode(v, true),
            "size" => a.body = vec![b'x'; v.parse::<usize>().unwrap_or(0).min(64 << 20)],
            "chunked" => a.chunked = v != "0",
            "close" => a.close = v != "0",
            "eof" => a.eof = v != "0",
            "delay" => a.delay = parse_duration(v).ok(),
            _ => {}
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_shapes_the_answer() {
        let a = answer_for("/x?status=503&body=hi%20there&chunked=1&close=1&delay=5ms");
        assert_eq!(a.status, 503);
        assert_eq!(a.body, b"hi there");
        assert!(a.chunked && a.close);
        assert_eq!(a.delay, Some(Duration::from_millis(5)));
        assert_eq!(answer_for("/?size=10").body.len(), 10);
        assert_eq!(answer_for("/").body, b"ok\n");
        assert_eq!(percent_decode("a%2", true), b"a%2");
        assert_eq!(percent_decode("%41%zz+", true), b"A%zz ");
        assert_eq!(percent_decode("a+b", false), b"a+b");
    }
}
