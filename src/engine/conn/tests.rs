//! The connection state machine over real loopback sockets, driven the way the worker
//! drives it: a mio poll for readiness, and made-up times (the machine never reads the
//! clock, so every time it records is one a test gave it). The peer is a plain
//! blocking socket (or rustls over one) the test writes to and closes at chosen
//! moments. Polls wait at most [`GUARD`] for an event and fail the test without one:
//! a hang guard, not a timing assertion.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream as PeerStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mio::{Events, Poll, Token};
use socket2::SockRef;

use super::*;
use crate::record::{ErrorKind, ProcessStats};
use crate::wire::request::{Parts, Template};

const GUARD: Duration = Duration::from_secs(10);

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
const CHUNKED: &[u8] =
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n";

fn template(method: &str, body: &[u8]) -> Template {
    let p = Parts {
        method,
        authority: "127.0.0.1",
        path: "/t",
        headers: &[],
        body,
    };
    Template::new(&p, true, None)
}

/// One connection, its thread's context, a listening peer and a made-up clock.
struct Rig {
    poll: Poll,
    events: Events,
    listener: TcpListener,
    /// Where connections go: the listener's address.
    addr: SocketAddr,
    targets: Vec<Template>,
    tls: Option<TlsCtx>,
    rbuf: Vec<u8>,
    pbuf: Vec<u8>,
    stats: ProcessStats,
    negotiated: Option<Negotiated>,
    conn: Conn,
    now: u64,
    /// The last request taken from the connection.
    last: ReqInfo,
}

impl Rig {
    fn new() -> Rig {
        Rig::with(
            TcpListener::bind("127.0.0.1:0").unwrap(),
            template("GET", b""),
        )
    }

    fn with(listener: TcpListener, target: Template) -> Rig {
        Rig {
            poll: Poll::new().unwrap(),
            events: Events::with_capacity(8),
            addr: listener.local_addr().unwrap(),
            listener,
            targets: vec![target],
            tls: None,
            rbuf: vec![0; 64 * 1024],
            pbuf: vec![0; 64 * 1024],
            stats: ProcessStats::default(),
            negotiated: None,
            conn: Conn::new(Token(0), 1),
            now: 1_000,
            last: ReqInfo::default(),
        }
    }

    /// Runs `f` on the connection with its I/O context.
    fn with_io<T>(&mut self, f: impl FnOnce(&mut Conn, &mut Io<'_>) -> T) -> T {
        let mut io = Io {
            registry: self.poll.registry(),
            addr: self.addr,
            targets: &self.targets,
            tls: self.tls.as_ref(),
            rbuf: &mut self.rbuf,
            pbuf: &mut self.pbuf,
            stats: &mut self.stats,
            negotiated: &mut self.negotiated,
            keepalive: true,
            bind: &[],
        };
        f(&mut self.conn, &mut io)
    }

    /// Begins a request and writes it, as the worker does.
    fn begin(&mut self) -> Step {
        let now = self.now;
        match self.with_io(|c, io| c.begin(io, now, ReqInfo::default())) {
            Step::Wait => self.with_io(|c, io| c.flush(io, now)),
            step => step,
        }
    }

    fn accept(&self) -> PeerStream {
        let (peer, _) = self.listener.accept().unwrap();
        peer.set_read_timeout(Some(GUARD)).unwrap();
        peer
    }

    /// Waits for the connection's next readiness, hands it over at the next made-up
    /// time (100 ns later), and again at a fresh time while it asks to be called again.
    fn event(&mut self) -> Step {
        self.events.clear();
        self.poll.poll(&mut self.events, Some(GUARD)).unwrap();
        let ev = self
            .events
            .iter()
            .next()
            .expect("an event within the guard");
        let ready = Ready {
            readable: ev.is_readable(),
            writable: ev.is_writable(),
            closed: ev.is_read_closed() || ev.is_write_closed() || ev.is_error(),
        };
        loop {
            self.now += 100;
            let now = self.now;
            let step = self.with_io(|c, io| c.on_ready(io, now, ready));
            if step != Step::Again {
                return step;
            }
        }
    }

    /// Events until the connection has something to say.
    fn until_step(&mut self) -> Step {
        loop {
            match self.event() {
                Step::Wait => {}
                step => return step,
            }
        }
    }

    /// Events until the connection reaches state `name`.
    fn until_state(&mut self, name: &str) {
        while self.conn.state().name() != name {
            assert_eq!(self.event(), Step::Wait, "on the way to {name}");
        }
    }

    fn timeout(&mut self) -> Step {
        self.now += 100;
        let now = self.now;
        self.with_io(|c, io| c.on_timeout(io, now))
    }

    /// Connects, and returns the peer with the request read.
    fn connected(&mut self) -> PeerStream {
        assert_eq!(self.begin(), Step::Wait);
        let mut peer = self.accept();
        self.until_state("reading");
        read_request(&mut peer, self.targets[0].bytes.len());
        peer
    }
}

fn read_request(peer: &mut PeerStream, len: usize) -> Vec<u8> {
    let mut got = vec![0; len];
    peer.read_exact(&mut got).unwrap();
    got
}

impl Rig {
    /// The request ended by `step`, taken from the connection (its identity is then
    /// [`Rig::req`]).
    fn take(&mut self, step: Step) -> Finished {
        assert_eq!(step, Step::Done, "expected a finished request");
        let (info, f) = self.conn.take_ended().expect("an ended request");
        self.last = info;
        f
    }

    fn until_done(&mut self) -> Finished {
        let step = self.until_step();
        self.take(step)
    }

    fn timeout_done(&mut self) -> Finished {
        let step = self.timeout();
        self.take(step)
    }

    /// The oldest request the connection holds, else the last one taken.
    fn req(&self) -> ReqInfo {
        match self.conn.pipe.is_empty() {
            true => self.last,
            false => self.conn.pipe.get(0).info,
        }
    }
}

#[test]
fn connect_send_and_frame_with_the_times_given() {
    let mut r = Rig::new();
    assert_eq!(r.begin(), Step::Wait);
    assert_eq!(r.conn.state().name(), "connecting");
    assert!(r.conn.busy());
    let mut peer = r.accept();
    // The connect completes at the first event, 100 ns after the start, and the
    // request goes out at once.
    assert_eq!(r.event(), Step::Wait);
    assert_eq!(r.conn.state().name(), "reading");
    assert_eq!((r.req().new_conn, r.req().connect_ns), (true, 100));
    assert_eq!(r.stats.connects, 1);
    let got = read_request(&mut peer, r.targets[0].bytes.len());
    assert_eq!(got, &*r.targets[0].bytes);
    peer.write_all(OK).unwrap();
    let f = r.until_done();
    assert_eq!(
        f,
        Finished {
            end: r.now,
            status: 200,
            error: ErrorKind::None,
            bytes: OK.len() as u64
        }
    );
    assert_eq!((r.req().start, r.req().first_byte), (1_000, r.now));
    assert_eq!(r.conn.state().name(), "idle");
    assert!(!r.conn.busy());

    // The next request reuses the socket: no connect, sent at once.
    r.now = 50_000;
    assert_eq!(r.begin(), Step::Wait);
    assert_eq!(r.conn.state().name(), "reading");
    assert!(!r.req().new_conn);
    read_request(&mut peer, r.targets[0].bytes.len());
    peer.write_all(OK).unwrap();
    assert_eq!(r.until_done().status, 200);
    assert_eq!(r.stats.connects, 1);
}

#[test]
fn connect_refused() {
    let mut r = Rig::new();
    // Nothing listens on the port once the listener is gone.
    r.listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let f = match r.begin() {
        // The kernel may refuse a loopback connect at once, or at the first event.
        Step::Wait => r.until_done(),
        step => r.take(step),
    };
    assert_eq!(
        (f.error, f.status, f.bytes),
        (ErrorKind::ConnectRefused, 0, 0)
    );
    assert_eq!(r.conn.state().name(), "closed");
    assert_eq!(r.stats.connects, 0);
}

/// A connection with a request (1 MiB) it cannot write at once: small buffers at both
/// ends, and a peer that does not read yet. Returns it in `Writing`.
fn stuck_writing() -> (Rig, PeerStream) {
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener.set_recv_buffer_size(4096).unwrap();
    listener
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    listener.listen(8).unwrap();
    let body = vec![b'x'; 1 << 20];
    let mut r = Rig::with(listener.into(), template("POST", &body));
    assert_eq!(r.begin(), Step::Wait);
    if let State::Connecting { stream, .. } = r.conn.state() {
        SockRef::from(stream).set_send_buffer_size(4096).unwrap();
    }
    let peer = r.accept();
    r.until_state("writing");
    (r, peer)
}

#[test]
fn partial_writes_resume_as_the_peer_reads() {
    let (mut r, peer) = stuck_writing();
    assert_eq!(r.conn.state().name(), "writing");
    let (sent, written) = r.conn.pipe.cursor();
    let len = r.targets[0].bytes.len();
    assert!(
        sent == 0 && written > 0 && written < len,
        "{written} of {len}"
    );
    // The peer reads only now; every writable edge moves the request on.
    let reader = std::thread::spawn(move || {
        let mut peer = peer;
        let got = read_request(&mut peer, len);
        peer.write_all(OK).unwrap();
        (peer, got)
    });
    r.until_state("reading");
    let f = r.until_done();
    let (_peer, got) = reader.join().unwrap();
    assert_eq!(got, &*r.targets[0].bytes, "every byte, in order");
    assert_eq!((f.status, f.error), (200, ErrorKind::None));
}

/// Frames `response` sent in two writes split at `at`, on a reused connection.
fn split_once(r: &mut Rig, peer: &mut PeerStream, response: &[u8], at: usize) -> Finished {
    assert_eq!(r.begin(), Step::Wait, "split at {at}");
    read_request(peer, r.targets[0].bytes.len());
    peer.write_all(&response[..at]).unwrap();
    assert_eq!(r.event(), Step::Wait, "split at {at}: half a response");
    let first = r.now;
    peer.write_all(&response[at..]).unwrap();
    let f = r.until_done();
    assert_eq!(r.req().first_byte, first, "split at {at}");
    assert_eq!(r.conn.state().name(), "idle", "split at {at}");
    f
}

#[test]
fn responses_split_at_every_byte() {
    for (response, status) in [(OK, 200), (CHUNKED, 201)] {
        let mut r = Rig::new();
        let mut peer = r.connected();
        peer.write_all(response).unwrap();
        let whole = r.until_done();
        assert_eq!((whole.status, whole.error), (status, ErrorKind::None));
        for at in 1..response.len() {
            let f = split_once(&mut r, &mut peer, response, at);
            assert_eq!(
                f,
                Finished {
                    end: r.now,
                    ..whole
                },
                "split at {at}"
            );
        }
        assert_eq!(r.stats.connects, 1, "one connection carried them all");
    }
}

#[test]
fn server_closes_while_connecting() {
    let mut r = Rig::new();
    assert_eq!(r.begin(), Step::Wait);
    // The kernel completed the handshake; the listener goes away before accepting,
    // which resets the connection.
    r.listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let f = r.until_done();
    assert_eq!((f.error, f.status), (ErrorKind::Reset, 0));
    assert_eq!(r.conn.state().name(), "closed");
}

#[test]
fn server_closes_while_writing() {
    let (mut r, peer) = stuck_writing();
    // Closing with unread data resets the connection.
    drop(peer);
    let f = r.until_done();
    assert_eq!((f.error, f.status, f.bytes), (ErrorKind::Reset, 0, 0));
    assert_eq!(r.conn.state().name(), "closed");
}

#[test]
fn server_closes_mid_head_and_mid_body() {
    for (sent, status, kind) in [
        (
            &b"HTTP/1.1 200 OK\r\nContent-Le"[..],
            0,
            ErrorKind::EofMidResponse,
        ),
        (&OK[..OK.len() - 2], 200, ErrorKind::EofMidResponse),
    ] {
        let mut r = Rig::new();
        let mut peer = r.connected();
        peer.write_all(sent).unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        let f = r.until_done();
        assert_eq!(
            (f.status, f.error, f.end),
            (status, kind, r.now),
            "{sent:?}"
        );
        assert_eq!(r.conn.state().name(), "closed");
    }
}

#[test]
fn server_closes_before_any_response_byte() {
    // On a fresh connection that is the request's failure.
    let mut r = Rig::new();
    let peer = r.connected();
    peer.shutdown(Shutdown::Write).unwrap();
    let f = r.until_done();
    assert_eq!((f.error, f.status), (ErrorKind::ClosedBeforeResponse, 0));
    assert_eq!(r.stats.retries, 0);
}

#[test]
fn reused_connection_closed_under_a_request_is_retried_once() {
    let mut r = Rig::new();
    let mut peer = r.connected();
    peer.write_all(OK).unwrap();
    r.until_done();
    // The server closes the idle connection just as the next request goes out.
    drop(peer);
    assert_eq!(r.begin(), Step::Wait);
    let mut peer = loop {
        match r.event() {
            Step::Wait if r.conn.state().name() == "connecting" => break r.accept(),
            Step::Wait => {}
            other => panic!("expected a retry, got {other:?}"),
        }
    };
    assert_eq!(r.stats.retries, 1);
    assert!(r.req().retried && r.req().new_conn);
    r.until_state("reading");
    read_request(&mut peer, r.targets[0].bytes.len());
    peer.write_all(OK).unwrap();
    let f = r.until_done();
    assert_eq!((f.status, f.error), (200, ErrorKind::None));
}

#[test]
fn server_closes_an_idle_connection() {
    let mut r = Rig::new();
    let mut peer = r.connected();
    peer.write_all(OK).unwrap();
    r.until_done();
    drop(peer);
    assert_eq!(r.until_step(), Step::IdleClosed);
    assert_eq!(r.conn.state().name(), "closed");
    assert_eq!(r.stats.idle_closes, 1);
    // The next request reconnects.
    assert_eq!(r.begin(), Step::Wait);
    assert_eq!(r.conn.state().name(), "connecting");
}

#[test]
fn timeouts_in_each_state() {
    // Connecting: the timeout comes before the connect is seen to complete.
    let mut r = Rig::new();
    assert_eq!(r.begin(), Step::Wait);
    let f = r.timeout_done();
    assert_eq!(
        (f.error, f.status, f.end),
        (ErrorKind::ConnectTimeout, 0, r.now)
    );
    assert_eq!(r.conn.state().name(), "closed");

    // Writing.
    let (mut r, _peer) = stuck_writing();
    let f = r.timeout_done();
    assert_eq!((f.error, f.status, f.bytes), (ErrorKind::Timeout, 0, 0));
    assert_eq!(r.conn.state().name(), "closed");

    // Reading the head, then the body: what arrived is kept.
    for (sent, status) in [
        (&b"HTTP/1.1 200 OK\r\nContent-Le"[..], 0),
        (&OK[..OK.len() - 2], 200),
    ] {
        let mut r = Rig::new();
        let mut peer = r.connected();
        peer.write_all(sent).unwrap();
        assert_eq!(r.event(), Step::Wait);
        let f = r.timeout_done();
        let bytes = sent.len() as u64;
        assert_eq!(
            (f.error, f.status, f.bytes),
            (ErrorKind::Timeout, status, bytes),
            "{sent:?}"
        );
        assert_eq!(r.conn.state().name(), "closed");
    }

    // Idle and closed: nothing is outstanding, nothing times out.
    let mut r = Rig::new();
    let mut peer = r.connected();
    peer.write_all(OK).unwrap();
    r.until_done();
    assert_eq!(r.timeout(), Step::Wait);
    assert_eq!(r.conn.state().name(), "idle");
    r.conn.close();
    assert_eq!(r.timeout(), Step::Wait);
    assert_eq!(r.conn.state().name(), "closed");
}

#[test]
fn cancel_ends_the_outstanding_request() {
    let mut r = Rig::new();
    let mut peer = r.connected();
    peer.write_all(&OK[..20]).unwrap();
    assert_eq!(r.event(), Step::Wait);
    let step = r.conn.cancel(7_777);
    let f = r.take(step);
    assert_eq!((f.error, f.end, f.bytes), (ErrorKind::Cancelled, 7_777, 20));
    assert_eq!(r.conn.state().name(), "closed");
    assert_eq!(r.conn.cancel(8_888), Step::Wait, "nothing left to cancel");
}

/// A TLS peer: `barrage serve --tls`'s configuration, one connection, on a thread.
fn tls_rig(
    serve: impl FnOnce(PeerStream, Arc<rustls::ServerConfig>) + Send + 'static,
) -> (Rig, std::thread::JoinHandle<()>) {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("barrage-conn-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join(format!("ca-{:?}.pem", std::thread::current().id()));
    let server = crate::wire::tls::ServerTls::self_signed(&ca, &[]).unwrap();
    let opts = crate::wire::tls::TlsOptions {
        cacert: Some(ca.clone()),
        ..Default::default()
    };
    let client = crate::wire::tls::ClientTls::build(&opts, "127.0.0.1").unwrap();
    let mut r = Rig::new();
    r.tls = Some(TlsCtx {
        config: client.thread_config(),
        server_name: client.server_name.clone(),
        reasons: Arc::clone(&client.reasons),
    });
    let listener = r.listener.try_clone().unwrap();
    let config = Arc::clone(&server.config);
    let t = std::thread::spawn(move || {
        let (peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(GUARD)).unwrap();
        serve(peer, config);
    });
    (r, t)
}

#[test]
fn tls_handshake_then_a_response_split_in_records() {
    let (mut r, server) = tls_rig(|peer, config| {
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, peer);
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            tls.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        // Two TLS records, the second one flushed separately.
        tls.write_all(&OK[..10]).unwrap();
        tls.flush().unwrap();
        tls.write_all(&OK[10..]).unwrap();
        tls.flush().unwrap();
        let _ = tls.read(&mut b);
    });
    assert_eq!(r.begin(), Step::Wait);
    let f = r.until_done();
    assert_eq!(
        (f.status, f.error, f.bytes),
        (200, ErrorKind::None, OK.len() as u64)
    );
    let req = r.req();
    assert!(req.new_conn && !req.tls_resumed);
    // Connect, handshake and response each end at a later made-up time: the
    // handshake's end is stamped after its processing, at a fresh time, even when it
    // ends in the event that completed the connect.
    assert!(req.connect_ns > 0 && req.tls_ns > 0, "{req:?}");
    assert!(
        req.start + req.connect_ns + req.tls_ns < f.end,
        "{req:?} {f:?}"
    );
    assert_eq!(r.stats.tls_full, 1);
    assert!(r.negotiated.is_some_and(|n| n.version != 0 && n.suite != 0));
    assert!(
        matches!(r.conn.state(), State::Idle { open } if matches!(open.transport, Transport::Tls(..)))
    );
    r.conn.close();
    server.join().unwrap();
}

#[test]
fn tls_peer_hanging_up_mid_handshake() {
    // The peer reads the ClientHello (one TLS record) and closes: a FIN, as nothing
    // is left unread.
    let (mut r, server) = tls_rig(|mut peer, _| {
        let mut header = [0u8; 5];
        peer.read_exact(&mut header).unwrap();
        let mut record = vec![0; u16::from_be_bytes([header[3], header[4]]) as usize];
        peer.read_exact(&mut record).unwrap();
    });
    assert_eq!(r.begin(), Step::Wait);
    let f = r.until_done();
    assert_eq!((f.error, f.status), (ErrorKind::TlsHandshake, 0));
    assert_eq!(r.conn.state().name(), "closed");
    let reasons = r.tls.as_ref().unwrap().reasons.all();
    assert!(
        reasons
            .iter()
            .any(|(_, why)| why == crate::wire::tls_reasons::CLOSED_MID_HANDSHAKE),
        "{reasons:?}"
    );
    server.join().unwrap();
}

#[test]
fn tls_handshake_timeout() {
    // The peer accepts and reads the ClientHello, then never answers.
    let (mut r, server) = tls_rig(|mut peer, _| {
        let mut b = [0u8; 1];
        // Until the client gives up and closes.
        while matches!(peer.read(&mut b), Ok(n) if n > 0) {}
    });
    assert_eq!(r.begin(), Step::Wait);
    r.until_state("handshaking");
    let f = r.timeout_done();
    assert_eq!((f.error, f.status, f.end), (ErrorKind::Timeout, 0, r.now));
    assert_eq!(r.conn.state().name(), "closed");
    server.join().unwrap();
}

// ---- Pipelining (issue 15) ----

const HEAD_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
const NO_CONTENT: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";
const CONTINUE_OK: &[u8] =
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const NOT_MODIFIED: &[u8] = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n";

impl Rig {
    /// A rig whose connection carries up to `depth` requests, with GET (target 0) and
    /// HEAD (target 1).
    fn pipelined(depth: usize) -> Rig {
        let mut r = Rig::new();
        r.targets.push(template("HEAD", b""));
        r.conn = Conn::new(Token(0), depth);
        r
    }

    /// Queues requests for `targets` (without writing), then writes them.
    fn begin_all(&mut self, targets: &[u16]) -> Step {
        let now = self.now;
        for &target in targets {
            let req = ReqInfo {
                target,
                ..ReqInfo::default()
            };
            assert_eq!(self.with_io(|c, io| c.begin(io, now, req)), Step::Wait);
        }
        self.with_io(|c, io| c.flush(io, now))
    }

    /// Every request that ended, oldest first.
    fn take_all(&mut self) -> Vec<Finished> {
        std::iter::from_fn(|| self.conn.take_ended().map(|(_, f)| f)).collect()
    }
}

#[test]
fn a_full_pipeline_leaves_in_one_write_and_ends_in_order() {
    let mut r = Rig::pipelined(5);
    // GET, HEAD, GET (204), GET (100 then 200), GET (304): bodiless answers mid-pipeline.
    let targets = [0, 1, 0, 0, 0];
    assert_eq!(r.begin_all(&targets), Step::Wait);
    assert!(!r.conn.has_room());
    let mut peer = r.accept();
    // The connect completes and every queued request goes out at once.
    r.until_state("reading");
    let want: Vec<u8> = targets
        .iter()
        .flat_map(|&t| r.targets[t as usize].bytes.to_vec())
        .collect();
    assert_eq!(read_request(&mut peer, want.len()), want);
    let answers = [OK, HEAD_OK, NO_CONTENT, CONTINUE_OK, NOT_MODIFIED];
    let all = answers.concat();
    peer.write_all(&all).unwrap();
    assert_eq!(r.until_step(), Step::Done);
    let ended = r.take_all();
    let got: Vec<(u16, u64)> = ended.iter().map(|f| (f.status, f.bytes)).collect();
    let want: Vec<(u16, u64)> = [200, 200, 204, 200, 304]
        .into_iter()
        .zip(answers.iter().map(|a| a.len() as u64))
        .collect();
    assert_eq!(got, want);
    assert!(
        ended
            .iter()
            .all(|f| f.error == ErrorKind::None && f.end == r.now)
    );
    assert_eq!(r.conn.state().name(), "idle");
    assert_eq!(r.stats.connects, 1);

    // On the open connection, the same pipeline split at every byte frames the same
    // (no Nagle delay between the two parts).
    peer.set_nodelay(true).unwrap();
    for at in 1..all.len() {
        assert_eq!(r.begin_all(&targets), Step::Wait, "split at {at}");
        assert_eq!(r.conn.state().name(), "reading");
        read_request(&mut peer, want.len());
        peer.write_all(&all[..at]).unwrap();
        // One event for the first part (it may end some responses), then the rest.
        r.event();
        let mut ended = r.take_all();
        peer.write_all(&all[at..]).unwrap();
        while ended.len() < 5 {
            assert_eq!(r.until_step(), Step::Done, "split at {at}");
            ended.extend(r.take_all());
        }
        let statuses: Vec<u16> = ended.iter().map(|f| f.status).collect();
        assert_eq!(statuses, [200, 200, 204, 200, 304], "split at {at}");
        assert_eq!(r.conn.state().name(), "idle", "split at {at}");
    }
    assert_eq!(r.stats.connects, 1);
}

#[test]
fn a_request_begun_while_others_are_answered_joins_the_pipeline() {
    let mut r = Rig::pipelined(2);
    let mut peer = r.connected();
    // One outstanding; a second joins it at a later time and is written at once.
    r.now = 5_000;
    assert_eq!(r.begin_all(&[1]), Step::Wait);
    assert_eq!(r.conn.state().name(), "reading");
    read_request(&mut peer, r.targets[1].bytes.len());
    assert_eq!(r.conn.pipe.get(1).info.start, 5_000, "stamped when written");
    peer.write_all(&[OK, HEAD_OK].concat()).unwrap();
    assert_eq!(r.until_step(), Step::Done);
    let ended = r.take_all();
    assert_eq!(ended.len(), 2);
    assert_eq!(ended[1].bytes, HEAD_OK.len() as u64, "the HEAD has no body");
}

#[test]
fn a_response_before_the_request_is_written_ends_it_and_the_connection() {
    let (mut r, mut peer) = stuck_writing();
    // The server answers the 1 MiB POST it has not read, and keeps its socket open.
    peer.write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let f = r.until_done();
    assert_eq!((f.status, f.error), (413, ErrorKind::None));
    assert_eq!(
        r.conn.state().name(),
        "closed",
        "the rest of it is never written"
    );
    assert!(!r.conn.busy());
}

#[test]
fn connection_close_mid_pipeline_resends_the_gets_behind_once() {
    let mut r = Rig::pipelined(3);
    assert_eq!(r.begin_all(&[0, 0, 0]), Step::Wait);
    let mut peer = r.accept();
    r.until_state("reading");
    read_request(&mut peer, 3 * r.targets[0].bytes.len());
    let starts: Vec<u64> = (1..3).map(|k| r.conn.pipe.get(k).info.start).collect();
    peer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx")
        .unwrap();
    // The close-marked answer ends the first; the other two go again, on a new
    // connection, keeping their start.
    assert_eq!(r.until_step(), Step::Done);
    assert_eq!(r.take_all().len(), 1);
    assert_eq!(r.conn.state().name(), "connecting");
    assert_eq!(r.stats.retries, 2);
    assert!((0..2).all(|k| r.conn.pipe.get(k).info.retried));
    let again: Vec<u64> = (0..2).map(|k| r.conn.pipe.get(k).info.start).collect();
    assert_eq!(again, starts, "latency counts from the first attempt");
    assert!(r.conn.pipe.get(0).info.new_conn);
    let mut peer2 = r.accept();
    r.until_state("reading");
    read_request(&mut peer2, 2 * r.targets[0].bytes.len());
    // This one closes at once: requests already sent again are not sent a third time.
    drop(peer2);
    assert_eq!(r.until_step(), Step::Done);
    let ended = r.take_all();
    let kinds: Vec<ErrorKind> = ended.iter().map(|f| f.error).collect();
    assert_eq!(kinds, [ErrorKind::Unanswered, ErrorKind::Unanswered]);
    assert_eq!(r.conn.state().name(), "closed");
    drop(peer);
}

#[test]
fn the_oldest_times_out_alone_and_the_get_behind_it_goes_again() {
    let mut r = Rig::pipelined(2);
    assert_eq!(r.begin_all(&[0, 0]), Step::Wait);
    let mut peer = r.accept();
    r.until_state("reading");
    read_request(&mut peer, 2 * r.targets[0].bytes.len());
    peer.write_all(&OK[..10]).unwrap();
    assert_eq!(r.event(), Step::Wait);
    assert_eq!(r.conn.oldest_start(), Some(1_000));
    let f = r.timeout_done();
    assert_eq!((f.error, f.status, f.bytes), (ErrorKind::Timeout, 0, 10));
    assert!(r.conn.take_ended().is_none(), "only the oldest timed out");
    assert_eq!(r.conn.state().name(), "connecting");
    assert_eq!(r.stats.retries, 1);
    let mut peer2 = r.accept();
    r.until_state("reading");
    read_request(&mut peer2, r.targets[0].bytes.len());
    peer2.write_all(OK).unwrap();
    let f = r.until_done();
    assert_eq!((f.status, f.error), (200, ErrorKind::None));
    assert!(r.req().retried && r.req().new_conn);
}

#[test]
fn cancel_ends_every_request_in_flight() {
    let mut r = Rig::pipelined(3);
    assert_eq!(r.begin_all(&[0, 0, 0]), Step::Wait);
    let _peer = r.accept();
    r.until_state("reading");
    assert_eq!(r.conn.cancel(9_999), Step::Done);
    let ended = r.take_all();
    assert_eq!(ended.len(), 3);
    assert!(
        ended
            .iter()
            .all(|f| f.error == ErrorKind::Cancelled && f.end == 9_999)
    );
}

/// Batched reads: before any response the socket wakes at every byte; after one, a
/// wake mark of 3 responses holds the event back while only 2 are in (the poll stays
/// quiet), lets it through with the 3rd (all three framed by one read, at one time),
/// and a mark set back to 1 wakes at the next response again.
#[test]
fn the_wake_mark_holds_responses_until_the_awaited_ones_are_in() {
    let mut r = Rig::pipelined(8);
    assert_eq!(r.begin_all(&[0; 8]), Step::Wait);
    let mut peer = r.accept();
    peer.set_nodelay(true).unwrap();
    r.until_state("reading");
    read_request(&mut peer, 8 * r.targets[0].bytes.len());
    assert!(
        !r.conn.wake_after_responses(3),
        "no response seen: nothing to count with"
    );
    peer.write_all(OK).unwrap();
    assert_eq!(r.until_step(), Step::Done);
    assert_eq!(r.take_all().len(), 1);

    assert!(r.conn.wake_after_responses(3));
    peer.write_all(&[OK, OK].concat()).unwrap();
    r.events.clear();
    r.poll
        .poll(&mut r.events, Some(Duration::from_millis(200)))
        .unwrap();
    assert!(
        r.events.is_empty(),
        "2 of the 3 awaited responses woke the loop"
    );
    peer.write_all(OK).unwrap();
    assert_eq!(r.until_step(), Step::Done);
    let ended = r.take_all();
    assert_eq!(ended.len(), 3);
    assert!(
        ended
            .iter()
            .all(|f| f.end == ended[0].end && f.status == 200)
    );

    assert!(!r.conn.wake_after_responses(1));
    peer.write_all(OK).unwrap();
    assert_eq!(r.until_step(), Step::Done);
    assert_eq!(r.take_all().len(), 1);
}
