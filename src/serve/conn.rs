//! One connection of `barrage serve`: bytes read in (decrypted with `--tls`),
//! complete requests answered in order, answers written out (encrypted). A request
//! may be answered later (`delay=`, `--delay`, `--service-time`, `--stall`): the connection then pauses
//! until the loop's timer resumes it, and answers nothing after it meanwhile.
//! `--capture` and `--peers` record each request as it is answered.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::time::Instant;

use mio::net::TcpStream;

use super::Shared;
use super::answer::{Answer, Parsed, parse_request};

/// Largest request head plus body the server buffers.
const MAX_REQUEST: usize = 1 << 20;

/// One accepted connection.
pub(super) struct ServerConn {
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
    pub(super) paused_until: Option<Instant>,
    /// The request being delayed: its length in `inbuf` and its answer.
    delayed: Option<(usize, Answer)>,
    close_after_write: bool,
}

impl ServerConn {
    pub(super) fn new(
        stream: TcpStream,
        tls: Option<Box<rustls::ServerConnection>>,
        peer: std::net::IpAddr,
    ) -> ServerConn {
        ServerConn {
            stream,
            tls,
            handshake_counted: false,
            peer: Some(peer),
            inbuf: Vec::new(),
            out: Vec::new(),
            written: 0,
            paused_until: None,
            delayed: None,
            close_after_write: false,
        }
    }
}

/// Reads, answers and writes as far as possible. False when the connection is done.
pub(super) fn drive(
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
                    let queued = shared.service.as_ref().map(|(d, free)| {
                        // One request at a time: this one starts when the previous
                        // ends, and its answer leaves when it is done.
                        let mut free = free.lock().unwrap_or_else(|e| e.into_inner());
                        *free = (*free).max(now) + *d;
                        *free - now
                    });
                    let delay = [answer.delay.take(), shared.delay, stalled, queued]
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
