//! What `barrage serve` answers: a request's head parsed (and its body's length
//! skipped), and the canned answer its path's query asks for: `status=503`,
//! `body=text`, `size=N` (N bytes of body), `chunked=1`, `close=1` (answer with
//! `Connection: close`), `eof=1` (no length: the body ends when the server closes),
//! `delay=50ms` (answer later; the connection waits, others are served meanwhile).

use std::time::Duration;

use crate::cli::args::parse_duration;
use crate::wire::request::percent_decode;

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
    pub(super) fn write_to(&self, out: &mut Vec<u8>) {
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

/// What the bytes received so far hold.
pub(super) enum Parsed {
    /// Not a whole request yet: wait for more.
    Partial,
    /// A head httparse rejects, or a Content-Length that is not a number: answered
    /// 400, and the connection closed.
    Bad,
    /// The first `len` bytes are a whole request (head and body), to be answered so.
    Request { len: usize, answer: Answer },
}

/// Parses the request at the start of `buf` and picks its answer.
pub(super) fn parse_request(buf: &[u8], shop: &super::shop::Shop) -> Parsed {
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
