//! The socket under a connection. Opening it: a non-blocking connect (from a
//! `--bind` source address if given) and the error kind of a failed one; the thread's
//! TLS parameters. Once open: plain or TLS behind one small interface (wrk's `sock`),
//! [`Transport`]: write requests (several at once when pipelined), flush TLS,
//! receive what arrived, check an idle socket. The state machine in `conn.rs` drives both kinds the same way; only the TLS
//! handshake, before a `Transport` exists, is TLS-specific there.
//!
//! TLS is rustls's `ClientConnection` driven by the loop's readiness (rustls's
//! `tlsclient-mio` recipe): raw bytes are read into the thread's buffer with one
//! `read`, handed to rustls, and the plaintext it yields is framed exactly like a
//! plain socket's bytes. Nothing here allocates or reads the clock.

use std::io::{self, IoSlice, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use crate::record::ErrorKind;
use crate::wire::tls_reasons::Reasons;

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

/// An open connection's byte stream.
#[derive(Debug)]
pub enum Transport {
    Plain(TcpStream),
    /// The socket and the TLS session over it (handshake done).
    Tls(TcpStream, Box<ClientConnection>),
}

/// How a write went.
#[derive(Debug)]
pub enum Sent {
    /// The connection took this many bytes (TLS: all it was given, encrypted and
    /// queued for [`Transport::flush`]).
    Took(usize),
    /// The socket is full: wait for writable.
    Blocked,
    Failed(io::Error),
}

/// What one [`Transport::receive`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<T> {
    /// The framing callback stopped at this (a response ended, or broke).
    Framed(T),
    /// Nothing to read: wait for the next readable edge.
    Empty,
    /// Bytes were read and framed without ending a response. `full`: the read filled
    /// the buffer, so more may be waiting.
    Read { full: bool },
    /// The peer closed the stream (TCP FIN, or TLS close_notify).
    Eof,
    /// The socket failed; no byte of this read arrived.
    Lost(ErrorKind),
    /// TLS refused what arrived (a bad record, an alert).
    Broken(ErrorKind),
}

/// What a read from a socket gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Got {
    /// Bytes are in the buffer's first `n`.
    Data(usize),
    Eof,
    WouldBlock,
    Failed(ErrorKind),
}

impl Transport {
    /// Hands request bytes to the connection, in order: a plain socket takes what fits
    /// with one `writev` (several pipelined requests in one write); TLS encrypts them
    /// all at once into its queue, which [`Transport::flush`] writes.
    pub fn write(&mut self, bufs: &[IoSlice<'_>]) -> Sent {
        match self {
            Transport::Plain(stream) => loop {
                match stream.write_vectored(bufs) {
                    // A socket that takes nothing of a non-empty write is broken.
                    Ok(0) if bufs.iter().any(|b| !b.is_empty()) => {
                        return Sent::Failed(io::ErrorKind::WriteZero.into());
                    }
                    Ok(n) => return Sent::Took(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Sent::Blocked,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Sent::Failed(e),
                }
            },
            Transport::Tls(_, tls) => {
                let mut n = 0;
                for b in bufs {
                    if let Err(e) = tls.writer().write_all(b) {
                        return Sent::Failed(e);
                    }
                    n += b.len();
                }
                Sent::Took(n)
            }
        }
    }

    /// TLS has bytes queued for the socket (records of requests a full socket did not
    /// take, or its own messages).
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(_, tls) => tls.wants_write(),
        }
    }

    /// TLS: writes what rustls has queued; `Sent::Took(0)` once all of it is out. A
    /// plain socket queues nothing.
    pub fn flush(&mut self) -> Sent {
        match self {
            Transport::Plain(_) => Sent::Took(0),
            Transport::Tls(stream, tls) => match flush_tls(tls, stream) {
                Ok(true) => Sent::Took(0),
                Ok(false) => Sent::Blocked,
                Err(e) => Sent::Failed(e),
            },
        }
    }

    /// Asks the kernel to wake the loop for this socket only once `bytes` have
    /// arrived (SO_RCVLOWAT; 1, the default, wakes it for every byte). A closing peer
    /// or an error still wakes it at once. The count is of bytes on the wire, TLS
    /// records included.
    pub fn wake_after(&self, bytes: u32) -> io::Result<()> {
        let stream = match self {
            Transport::Plain(s) | Transport::Tls(s, _) => s,
        };
        set_rcvlowat(stream, bytes.max(1))
    }

    /// Reads once from the socket into `rbuf` and hands the response bytes that came
    /// of it to `frame`, in order (TLS: the plaintext, through `pbuf`), until `frame`
    /// returns `Some`. `frame` is told whether its bytes came out of TLS.
    pub fn receive<T>(
        &mut self,
        rbuf: &mut [u8],
        pbuf: &mut [u8],
        ctx: Option<&TlsCtx>,
        mut frame: impl FnMut(&[u8], bool) -> Option<T>,
    ) -> Received<T> {
        let (stream, tls) = match self {
            Transport::Plain(s) => (s, None),
            Transport::Tls(s, t) => (s, Some(t)),
        };
        let n = match read(stream, rbuf) {
            Got::Data(n) => n,
            Got::Eof => return Received::Eof,
            Got::WouldBlock => return Received::Empty,
            Got::Failed(kind) => return Received::Lost(kind),
        };
        let full = n == rbuf.len();
        let Some(tls) = tls else {
            return match frame(&rbuf[..n], false) {
                Some(t) => Received::Framed(t),
                None => Received::Read { full },
            };
        };
        if let Err(kind) = feed_tls(tls, stream, ctx, &rbuf[..n]) {
            return Received::Broken(kind);
        }
        loop {
            match tls.reader().read(pbuf) {
                // close_notify: an orderly end of the stream.
                Ok(0) => return Received::Eof,
                Ok(m) => {
                    if let Some(t) = frame(&pbuf[..m], true) {
                        return Received::Framed(t);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Received::Read { full },
                // The stream ended without close_notify: EOF all the same.
                Err(_) => return Received::Eof,
            }
        }
    }

    /// Reads what arrived on an idle connection. True while it stays quiet: post-
    /// handshake TLS messages (session tickets) arrive on idle connections; anything
    /// else (EOF, an error, response bytes nobody asked for) ends it.
    pub fn still_idle(&mut self, rbuf: &mut [u8], pbuf: &mut [u8]) -> bool {
        loop {
            match self {
                Transport::Plain(stream) => return read(stream, rbuf) == Got::WouldBlock,
                Transport::Tls(stream, tls) => match read(stream, rbuf) {
                    Got::WouldBlock => return true,
                    // No reason noted: an idle connection's end fails no request.
                    Got::Data(n) => {
                        let quiet = feed_tls(tls, stream, None, &rbuf[..n]).is_ok()
                            && matches!(tls.reader().read(pbuf),
                                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock);
                        if !quiet {
                            return false;
                        }
                    }
                    _ => return false,
                },
            }
        }
    }
}

/// Sets the socket's receive low-water mark (neither socket2 nor nix wraps it).
#[allow(unsafe_code)]
fn set_rcvlowat(stream: &TcpStream, bytes: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor is the open socket `stream` borrows; the option value
    // is a c_int that lives across the call, and its size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One read from the socket.
pub fn read(stream: &mut TcpStream, buf: &mut [u8]) -> Got {
    loop {
        return match stream.read(buf) {
            Ok(0) => Got::Eof,
            Ok(n) => Got::Data(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Got::WouldBlock,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Got::Failed(io_error(&e)),
        };
    }
}

/// Writes what rustls has queued. `Ok(false)`: the socket is full.
pub fn flush_tls(tls: &mut ClientConnection, stream: &mut TcpStream) -> io::Result<bool> {
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
/// `ctx` (certificate failures were noted by the verifier already), and the peer is
/// told why (best effort), as TLS expects.
pub fn feed_tls(
    tls: &mut ClientConnection,
    stream: &mut TcpStream,
    ctx: Option<&TlsCtx>,
    bytes: &[u8],
) -> Result<(), ErrorKind> {
    let mut data = bytes;
    while !data.is_empty() {
        tls.read_tls(&mut data)
            .map_err(|_| ErrorKind::TlsHandshake)?;
        if let Err(e) = tls.process_new_packets() {
            let kind = crate::wire::tls::error_kind(&e);
            if let Some(ctx) = ctx {
                ctx.reasons.note(kind, || {
                    crate::wire::tls_reasons::handshake_reason(&e, bytes)
                });
            }
            let _ = tls.write_tls(stream);
            return Err(kind);
        }
    }
    Ok(())
}

/// The error kind of a failed read or write.
pub fn io_error(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => ErrorKind::Reset,
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        _ => ErrorKind::Io,
    }
}

/// A non-blocking connect from `source` (port chosen by the kernel) to `addr`.
pub fn connect_from(source: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
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

/// The error kind of a failed connect. Local resources (no ephemeral port, no file
/// descriptor) have kinds of their own: they are the generator's limit, and the
/// self-check counts them (`selfcheck.rs`).
pub fn connect_error(e: &io::Error) -> ErrorKind {
    match e.raw_os_error() {
        Some(libc::EADDRNOTAVAIL) => return ErrorKind::ConnectNoPort,
        Some(libc::EMFILE | libc::ENFILE) => return ErrorKind::ConnectNoFiles,
        _ => {}
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
        io::ErrorKind::TimedOut => ErrorKind::ConnectTimeout,
        io::ErrorKind::ConnectionReset => ErrorKind::Reset,
        _ => ErrorKind::ConnectError,
    }
}
