//! A step's request bytes, rendered per request into the caller's buffer:
//!
//! ```text
//! METHOD /path HTTP/1.1        the path template, values percent-encoded where needed
//! Host: origin                 unless the step sets Host
//! User-Agent: barrage/VERSION  unless the step sets User-Agent
//! Name: value                  the step's headers, in name order
//! Cookie: a=1; b=2             the jar's cookies for this path (added to the step's
//!                              own Cookie header if it has one)
//! Content-Length: N            when there is a body, or for POST, PUT and PATCH
//!
//! body
//! ```
//!
//! `Content-Length` is known only once the body is rendered: the body is rendered
//! after the head, then the line is slid in before it, within the buffer. So a warm
//! buffer takes a request with no allocation.

use crate::scenario::cookies::CookieJar;
use crate::scenario::set::Step;
use crate::scenario::template::{Ctx, Escape};

const USER_AGENT: &str = concat!("User-Agent: barrage/", env!("CARGO_PKG_VERSION"), "\r\n");

/// Appends `step`'s request to `out`. `authority` is the origin's Host value; `jar`
/// is the virtual user's cookie jar when its scenario keeps one. The rendered path
/// (what cookies are matched against) is copied into `path`.
pub fn render(
    step: &Step,
    authority: &str,
    ctx: &mut Ctx<'_>,
    jar: Option<&CookieJar>,
    path: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(step.method.as_bytes());
    out.push(b' ');
    let start = out.len();
    step.path.render(ctx, Escape::Path, out);
    path.clear();
    path.extend_from_slice(&out[start..]);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !step.has_host {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(authority.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !step.has_user_agent {
        out.extend_from_slice(USER_AGENT.as_bytes());
    }
    let unix_ms = ctx.unix_ms;
    for (i, (name, value)) in step.headers.iter().enumerate() {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        value.render(ctx, Escape::Header, out);
        if step.cookie_header == Some(i)
            && let Some(jar) = jar
        {
            let mark = out.len();
            out.extend_from_slice(b"; ");
            if !jar.write_pairs(path, unix_ms, out) {
                out.truncate(mark);
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    if step.cookie_header.is_none()
        && let Some(jar) = jar
    {
        let mark = out.len();
        out.extend_from_slice(b"Cookie: ");
        if jar.write_pairs(path, unix_ms, out) {
            out.extend_from_slice(b"\r\n");
        } else {
            out.truncate(mark);
        }
    }
    let head_end = out.len();
    if let Some(body) = &step.body {
        body.render(ctx, Escape::None, out);
    }
    let mut line = [0u8; 40];
    let mut n = 0;
    let mut put = |b: &[u8]| {
        line[n..n + b.len()].copy_from_slice(b);
        n += b.len();
    };
    if step.sends_length {
        put(b"Content-Length: ");
        put(itoa::Buffer::new().format(out.len() - head_end).as_bytes());
        put(b"\r\n");
    }
    put(b"\r\n");
    insert(out, head_end, &line[..n]);
}

/// Inserts `bytes` at `at`, sliding what follows (no allocation when `out` has room).
fn insert(out: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    let old = out.len();
    out.extend_from_slice(bytes);
    out.copy_within(at..old, at + bytes.len());
    out[at..at + bytes.len()].copy_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_slides_the_tail() {
        let mut v = b"headbody".to_vec();
        insert(&mut v, 4, b"++");
        assert_eq!(v, b"head++body");
        let mut e = b"x".to_vec();
        insert(&mut e, 1, b"\r\n");
        assert_eq!(e, b"x\r\n");
    }
}
