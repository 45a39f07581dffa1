//! The response head: the status line and headers parsed with httparse, and what they
//! say about the body's framing (RFC 9112 section 6.3: no body for HEAD, 1xx, 204 and
//! 304; otherwise `Transfer-Encoding: chunked`, or `Content-Length`, or until the
//! server closes) and the connection's reuse. Strict: both framings at once, differing
//! lengths or a length that is not a number make the response malformed. The parser in
//! `http.rs` calls it once a head is complete, or as a head grows across reads.

use std::mem::MaybeUninit;

use crate::wire::http::{MAX_HEADERS, ParseError};

/// How the body of a response is delimited.
pub(crate) enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// What a head's bytes held.
pub(crate) enum HeadResult {
    Partial,
    /// A 1xx (other than 101) head of `len` bytes.
    Interim {
        len: usize,
    },
    Final {
        len: usize,
        status: u16,
        framing: Framing,
        keep_alive: bool,
    },
}

/// Parses the head at the start of `buf` (the answer to a HEAD request if
/// `head_request`).
pub(crate) fn parse_head_bytes(buf: &[u8], head_request: bool) -> Result<HeadResult, ParseError> {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, &mut headers)
    {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(HeadResult::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::HeadTooLarge),
        Err(_) => return Err(ParseError::Malformed),
    };
    // Status 0 means "no response" in the samples, and no status below 100 exists.
    let status = resp
        .code
        .filter(|c| *c >= 100)
        .ok_or(ParseError::Malformed)?;
    if (100..200).contains(&status) && status != 101 {
        return Ok(HeadResult::Interim { len });
    }
    let http10 = resp.version == Some(0);
    let mut keep_alive = !http10;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_content_length(h.value).ok_or(ParseError::Malformed)?;
            if length.is_some_and(|prev| prev != n) {
                return Err(ParseError::Malformed);
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
            // Only the last coding decides whether the body is chunked.
            chunked = last_token(h.value).eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = trim(token);
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    keep_alive = true;
                }
            }
        }
    }
    // Both framings at once is how responses are split and requests smuggled: RFC 9112
    // section 6.3 says such a message ought to be handled as an error, whatever its
    // status (a server that sends both is broken even where neither applies).
    if transfer_encoding && length.is_some() {
        return Err(ParseError::Malformed);
    }
    let framing = if head_request || status == 204 || status == 304 || status == 101 {
        Framing::None
    } else if transfer_encoding {
        if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else if let Some(n) = length {
        if n == 0 {
            Framing::None
        } else {
            Framing::Length(n)
        }
    } else {
        Framing::UntilClose
    };
    if matches!(framing, Framing::UntilClose) || status == 101 {
        keep_alive = false;
    }
    Ok(HeadResult::Final {
        len,
        status,
        framing,
        keep_alive,
    })
}

/// A Content-Length value: one decimal number, or a comma list of identical ones (RFC
/// 9110 section 8.6 lets a recipient take such a list as the single value).
fn parse_content_length(v: &[u8]) -> Option<u64> {
    let mut value = None;
    for item in v.split(|&b| b == b',') {
        let n = parse_decimal(trim(item))?;
        if value.is_some_and(|prev| prev != n) {
            return None;
        }
        value = Some(n);
    }
    value
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (b - b'0') as u64;
    }
    Some(n)
}

fn last_token(v: &[u8]) -> &[u8] {
    trim(v.rsplit(|&b| b == b',').next().unwrap_or(v))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}
