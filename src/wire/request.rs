//! The request as bytes: every request of a run is built once, before any load, into
//! a [`Template`] (its exact bytes, whether it is a HEAD, its response checks). The hot
//! path only ever copies these bytes to the socket. What the user asked for is
//! checked in `cli/targets.rs`; this file only lays the bytes out.

use std::sync::Arc;

use crate::wire::expect::Expect;

/// One request, as bytes, built before the load starts.
#[derive(Debug, Clone)]
pub struct Template {
    pub bytes: Arc<[u8]>,
    /// The method is HEAD: the response has no body whatever its headers say.
    pub head: bool,
    /// The method is GET, HEAD or OPTIONS: a pipelined request the server left
    /// unanswered may be sent again on a new connection (RFC 9112 section 9.3.2).
    pub idempotent: bool,
    /// What its responses must look like (`--expect-*`); `None`: anything goes.
    pub expect: Option<Arc<Expect>>,
}

impl Template {
    pub fn new(parts: &Parts<'_>, keepalive: bool, expect: Option<Arc<Expect>>) -> Template {
        Template {
            bytes: build(parts, keepalive).into(),
            head: parts.method == "HEAD",
            idempotent: matches!(parts.method, "GET" | "HEAD" | "OPTIONS"),
            expect,
        }
    }
}

/// What a request is made of, checked already.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    pub method: &'a str,
    /// The Host header's value, unless `headers` has its own.
    pub authority: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// Header lines as given, "Name: value", sent in this order.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The request bytes: the request line, then Host, User-Agent, Content-Length and
/// `Connection: close` (without keep-alive) unless the headers give their own, then
/// the headers as given, then the body.
pub fn build(p: &Parts<'_>, keepalive: bool) -> Vec<u8> {
    let has = |name: &str| p.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut r = format!("{} {} HTTP/1.1\r\n", p.method, p.path);
    if !has("host") {
        r.push_str(&format!("Host: {}\r\n", p.authority));
    }
    if !has("user-agent") {
        r.push_str(&format!(
            "User-Agent: barrage/{}\r\n",
            env!("CARGO_PKG_VERSION")
        ));
    }
    let wants_length = !p.body.is_empty() || matches!(p.method, "POST" | "PUT" | "PATCH");
    if wants_length && !has("content-length") {
        r.push_str(&format!("Content-Length: {}\r\n", p.body.len()));
    }
    if !keepalive && !has("connection") {
        r.push_str("Connection: close\r\n");
    }
    for (n, v) in p.headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(p.body);
    bytes
}

/// Decodes `%XX` escapes (a malformed escape stays as it is), and `+` as a space
/// when `plus_is_space` (query strings). Targets files use it so a value can hold
/// spaces (`expect-body=two%20words`); `barrage serve` for its query parameters.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let hex = |i: usize| b.get(i).and_then(|&c| (c as char).to_digit(16));
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(method: &str, headers: &[(&str, &str)], body: &[u8], keep: bool) -> String {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let p = Parts {
            method,
            authority: "h:81",
            path: "/p?q",
            headers: &headers,
            body,
        };
        String::from_utf8(build(&p, keep)).unwrap()
    }

    #[test]
    fn request_bytes() {
        let v = env!("CARGO_PKG_VERSION");
        assert_eq!(
            spec("GET", &[], b"", true),
            format!("GET /p?q HTTP/1.1\r\nHost: h:81\r\nUser-Agent: barrage/{v}\r\n\r\n")
        );
        assert_eq!(
            spec(
                "POST",
                &[("Content-Type", "text/plain"), ("X-A", "1")],
                b"hello",
                false
            ),
            format!(
                "POST /p?q HTTP/1.1\r\nHost: h:81\r\nUser-Agent: barrage/{v}\r\nContent-Length: 5\r\nConnection: close\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\nhello"
            )
        );
        assert!(spec("PUT", &[], b"", true).contains("Content-Length: 0\r\n"));
        let own = spec("GET", &[("Host", "other"), ("User-Agent", "me")], b"", true);
        assert!(
            own.contains("Host: other\r\n")
                && !own.contains("Host: h:81")
                && !own.contains("barrage/")
        );
    }

    #[test]
    fn head_requests_are_marked() {
        let p = Parts {
            method: "HEAD",
            authority: "h",
            path: "/",
            headers: &[],
            body: b"",
        };
        assert!(Template::new(&p, true, None).head);
        assert!(!Template::new(&Parts { method: "GET", ..p }, true, None).head);
        for (method, idempotent) in [
            ("GET", true),
            ("HEAD", true),
            ("OPTIONS", true),
            ("POST", false),
            ("PUT", false),
        ] {
            let t = Template::new(&Parts { method, ..p }, true, None);
            assert_eq!(t.idempotent, idempotent, "{method}");
        }
    }
}
