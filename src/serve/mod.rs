//! The built-in target server (`barrage serve`): mio event loops answering HTTP/1.1
//! keep-alive requests with a small fixed response, so tests and `scripts/run.sh`
//! need nothing installed. It counts every request and connection and prints both
//! when stopped, which is what the tests compare results.csv against.
//!
//! - here: the command: listen, set up `--tls`, run one event loop per `--threads`
//!   (accept, drive connections, fire delayed answers) until a signal or
//!   `--duration`, then print the counts.
//! - `conn`: one accepted connection: read (decrypting with `--tls`), answer complete
//!   requests in order, write (encrypting); where `--delay`, `--service-time` (one
//!   request at a time: a server of known capacity), `--stall AT:FOR` (a
//!   pause mid-run), `--capture FILE` (every request's raw bytes, for checking what
//!   the client sent) and `--peers` act.
//! - `answer`: request parsing, and the canned answer a path's query asks for
//!   (`status=503`, `size=N`, `chunked=1`, `delay=50ms`...).
//!
//! - `shop`: the demo shop scenarios run against (`/login`, `/items`, `/checkout`);
//!   it prints its checkouts per user when the server stops.

mod answer;
mod conn;
pub mod shop;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};

pub use answer::{Answer, answer_for};
use conn::{ServerConn, drive};

use crate::cli::args::ServeArgs;
use crate::outln;
use crate::report::fmt::plural;
use crate::wire::tls::ServerTls;

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX);

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
    /// `--service-time`: requests are served one at a time, each taking this long;
    /// the instant the (one) server is next free. A server of known capacity.
    pub service: Option<(Duration, Mutex<Instant>)>,
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
        service: args.service_time.map(|d| (d, Mutex::new(started))),
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

/// One thread's event loop: accepts connections (shared listener), drives each on its
/// readiness, and resumes a paused one when its delayed answer is due; until `stop`.
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
                            conns[i] = Some(ServerConn::new(stream, tls, peer_addr.ip()));
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
