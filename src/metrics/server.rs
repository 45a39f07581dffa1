//! The `--metrics-listen` socket: a tiny HTTP/1.1 server run from the launcher's own
//! mio poll while it waits for its worker processes (the launcher must not start a
//! thread before it forks, and after that it only waits), then from a thread of its
//! own while the launcher writes the results ([`crate::metrics::Exporter::serve_until`]). Non-blocking and
//! edge-triggered like the loops: a handful of clients at once ([`MAX_CLIENTS`]),
//! one small GET each (`Connection: close`), answered in full from the board's
//! current counters, then closed. A client that says nothing for `IDLE` is dropped.
//!
//! Routes: `GET /metrics` (Prometheus text 0.0.4, or OpenMetrics 1.0 when `Accept`
//! asks for application/openmetrics-text) and `GET /`, the live page (`page.html`).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::metrics::expose::{self, Format, Labels, Scrape};

/// Clients served at once; more are accepted and closed at once.
pub const MAX_CLIENTS: usize = 8;
/// The listener's token; clients take the next [`MAX_CLIENTS`]. The launcher's
/// signalfd is token 0.
pub const FIRST_TOKEN: usize = 1;
/// A request head larger than this is refused (431).
const MAX_REQUEST: usize = 8 * 1024;
/// A client that neither sends its request nor reads the answer for this long is
/// dropped.
const IDLE: Duration = Duration::from_secs(5);

/// The live page, self-contained (inline CSS and JS, no network resource).
const PAGE: &str = include_str!("page.html");

/// The listening socket and its clients.
pub struct Server {
    listener: TcpListener,
    clients: Vec<Option<Client>>,
    /// The labels on every sample (the launcher sets the run id once it is known).
    pub labels: Labels,
}

struct Client {
    stream: TcpStream,
    request: Vec<u8>,
    /// The answer, once the request is read, and how much of it is written.
    answer: Option<(Vec<u8>, usize)>,
    since: Instant,
}

impl Server {
    /// Binds `addr` (before the fork, so a port in use stops the run before any load).
    pub fn bind(addr: SocketAddr, labels: Labels) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        Ok(Server {
            listener,
            clients: (0..MAX_CLIENTS).map(|_| None).collect(),
            labels,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Registers the listener (token [`FIRST_TOKEN`]) and the clients it has, on a
    /// poll (the launcher's while the load runs, then the merge's serving thread's).
    pub fn register(&mut self, registry: &Registry) -> io::Result<()> {
        registry.register(&mut self.listener, Token(FIRST_TOKEN), Interest::READABLE)?;
        for (i, c) in self.clients.iter_mut().enumerate() {
            if let Some(c) = c {
                let token = Token(FIRST_TOKEN + 1 + i);
                registry.register(
                    &mut c.stream,
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                )?;
            }
        }
        Ok(())
    }

    /// Takes the listener and the clients off `registry`'s poll (before they move to
    /// another one).
    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.listener);
        for c in self.clients.iter_mut().flatten() {
            let _ = registry.deregister(&mut c.stream);
        }
    }

    /// Whether a poll token is the server's.
    pub fn owns(token: Token) -> bool {
        (FIRST_TOKEN..=FIRST_TOKEN + MAX_CLIENTS).contains(&token.0)
    }

    /// Handles readiness of one of its tokens; `scrape` reads the counters now.
    pub fn on_ready(&mut self, registry: &Registry, token: Token, scrape: &dyn Fn() -> Scrape) {
        if token.0 == FIRST_TOKEN {
            return self.accept(registry);
        }
        let i = token.0 - FIRST_TOKEN - 1;
        let done = match self.clients.get_mut(i).and_then(Option::as_mut) {
            Some(c) => c.progress(&self.labels, scrape),
            None => return,
        };
        if done {
            self.drop_client(registry, i);
        }
    }

    /// Drops clients idle for too long (call about once a second).
    pub fn expire(&mut self, registry: &Registry) {
        let now = Instant::now();
        for i in 0..self.clients.len() {
            if self.clients[i]
                .as_ref()
                .is_some_and(|c| now.saturating_duration_since(c.since) > IDLE)
            {
                self.drop_client(registry, i);
            }
        }
    }

    fn accept(&mut self, registry: &Registry) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A client that left before it was accepted, or no fd to spare: the
                // next readiness accepts again.
                Err(_) => return,
            };
            let Some(i) = self.clients.iter().position(Option::is_none) else {
                // Full: closing it at once tells the client to try again.
                drop(stream);
                continue;
            };
            let mut c = Client {
                stream,
                request: Vec::new(),
                answer: None,
                since: Instant::now(),
            };
            let token = Token(FIRST_TOKEN + 1 + i);
            if registry
                .register(
                    &mut c.stream,
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_ok()
            {
                self.clients[i] = Some(c);
            }
        }
    }

    fn drop_client(&mut self, registry: &Registry, i: usize) {
        if let Some(mut c) = self.clients[i].take() {
            let _ = registry.deregister(&mut c.stream);
        }
    }
}

impl Client {
    /// Reads the request, answers it, writes the answer. True when done with it.
    fn progress(&mut self, labels: &Labels, scrape: &dyn Fn() -> Scrape) -> bool {
        if self.answer.is_none() {
            let mut buf = [0u8; 2048];
            loop {
                match self.stream.read(&mut buf) {
                    // Closed before a whole request.
                    Ok(0) => return true,
                    Ok(n) => self.request.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return true,
                }
                if self.request.len() > MAX_REQUEST {
                    break;
                }
            }
            match answer(&self.request, labels, scrape) {
                Some(a) => self.answer = Some((a, 0)),
                None => return false,
            }
        }
        let Some((out, written)) = self.answer.as_mut() else {
            return false;
        };
        while *written < out.len() {
            match self.stream.write(&out[*written..]) {
                Ok(0) => return true,
                Ok(n) => *written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            }
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        true
    }
}

/// The whole answer to a request head, or `None` while it is incomplete.
fn answer(request: &[u8], labels: &Labels, scrape: &dyn Fn() -> Scrape) -> Option<Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let (status, content_type, body) = match req.parse(request) {
        Ok(httparse::Status::Partial) if request.len() <= MAX_REQUEST => return None,
        Ok(httparse::Status::Partial) => (
            "431 Request Header Fields Too Large",
            "text/plain; charset=utf-8",
            "request head too large\n".to_string(),
        ),
        Err(_) => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "bad request\n".to_string(),
        ),
        Ok(httparse::Status::Complete(_)) => {
            let path = req.path.unwrap_or("/");
            let path = path.split('?').next().unwrap_or(path);
            let accept = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("accept"))
                .and_then(|h| std::str::from_utf8(h.value).ok());
            match (req.method, path) {
                (Some("GET" | "HEAD"), "/metrics") => {
                    let format = Format::from_accept(accept);
                    (
                        "200 OK",
                        format.content_type(),
                        expose::render(&scrape(), labels, format),
                    )
                }
                (Some("GET" | "HEAD"), "/") => {
                    ("200 OK", "text/html; charset=utf-8", PAGE.to_string())
                }
                (Some("GET" | "HEAD"), _) => (
                    "404 Not Found",
                    "text/plain; charset=utf-8",
                    "not found: try /metrics or /\n".to_string(),
                ),
                _ => (
                    "405 Method Not Allowed",
                    "text/plain; charset=utf-8",
                    "only GET\n".to_string(),
                ),
            }
        }
    };
    let head_only = req.method == Some("HEAD");
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        Labels {
            run_id: "r".into(),
            host_id: "h".into(),
            shard: 0,
        }
    }

    fn text(req: &str) -> Option<String> {
        answer(req.as_bytes(), &labels(), &Scrape::default).map(|a| String::from_utf8(a).unwrap())
    }

    #[test]
    fn routes_and_formats() {
        assert_eq!(text("GET /metrics HTTP/1.1\r\nHost: x\r\n"), None);
        let m = text("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(m.starts_with("HTTP/1.1 200 OK\r\n"), "{m}");
        assert!(m.contains("Content-Type: text/plain; version=0.0.4"));
        assert!(m.contains("barrage_request_duration_seconds_count"));
        let om = text("GET /metrics?x=1 HTTP/1.1\r\nAccept: application/openmetrics-text; version=1.0.0\r\n\r\n")
            .unwrap();
        assert!(om.contains("application/openmetrics-text") && om.ends_with("# EOF\n"));
        let page = text("GET / HTTP/1.1\r\n\r\n").unwrap();
        assert!(page.contains("text/html") && page.contains("<svg"));
        assert!(
            text("GET /x HTTP/1.1\r\n\r\n")
                .unwrap()
                .starts_with("HTTP/1.1 404")
        );
        assert!(
            text("POST /metrics HTTP/1.1\r\n\r\n")
                .unwrap()
                .starts_with("HTTP/1.1 405")
        );
        assert!(text("\0\0\r\n\r\n").unwrap().starts_with("HTTP/1.1 400"));
        let head = text("HEAD /metrics HTTP/1.1\r\n\r\n").unwrap();
        assert!(head.ends_with("\r\n\r\n"));
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_REQUEST));
        assert!(text(&big).unwrap().starts_with("HTTP/1.1 431"));
    }

    #[test]
    fn the_page_loads_nothing_from_the_network() {
        for needle in ["http://", "https://", "src=", "@import", "//cdn"] {
            assert!(!PAGE.contains(needle), "{needle}");
        }
    }
}
