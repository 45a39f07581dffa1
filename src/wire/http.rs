//! HTTP/1.1 responses on the wire: the streaming parser that frames each response on a
//! keep-alive connection (the head's parsing is `head.rs`; the request bytes are
//! `request.rs`).
//!
//! The parser never owns the body: it is handed whatever the socket produced, says how
//! many bytes belonged to the current response, and reports when that response is
//! complete. Headers split across reads are the only thing it copies (into a small
//! per-connection buffer that stays empty in the common case), so a connection costs a
//! few dozen bytes between requests.
//!
//! Framing follows RFC 9112 section 6.3: no body for HEAD, 1xx, 204 and 304; otherwise
//! `Transfer-Encoding: chunked` (trailers skipped), or `Content-Length`; otherwise the
//! body runs until the server closes the connection. It is strict, so that a server a
//! stricter client would refuse does not pass a load test: a response carrying both
//! `Transfer-Encoding` and `Content-Length`, differing lengths, or a chunk-size line
//! outside RFC 9112 section 7.1's grammar is malformed. Bare-LF line ends and repeated
//! identical lengths (also as a comma list) are accepted, as RFC 9112 section 2.2 and
//! RFC 9110 section 8.6 allow.

use std::fmt;

use crate::wire::head::{Framing, HeadResult, parse_head_bytes};

/// Largest response head we accept (status line and headers), in bytes.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields in one response head.
pub const MAX_HEADERS: usize = 100;
/// Largest trailer section of a chunked body, in bytes.
const MAX_TRAILER_BYTES: usize = 64 * 1024;

/// Why a response could not be framed. Each maps to its own error kind in the samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The status line, a header or the chunked framing broke the grammar.
    Malformed,
    /// The head was larger than [`MAX_HEAD_BYTES`] or had more than [`MAX_HEADERS`] fields.
    HeadTooLarge,
    /// The connection ended before the response was complete.
    EofMidResponse,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::Malformed => "malformed response",
            ParseError::HeadTooLarge => "response head too large",
            ParseError::EofMidResponse => "connection closed mid-response",
        })
    }
}

/// A complete response, as far as the load generator cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Bytes on the wire for this response: head, body and chunk framing.
    pub bytes: u64,
    /// False when the server asked to close (or spoke HTTP/1.0 without keep-alive),
    /// or when the body was delimited by the close itself.
    pub keep_alive: bool,
}

/// What one call to [`ResponseParser::feed`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Every byte given belonged to the response, which needs more.
    Partial,
    /// The response ended after `consumed` bytes of the input; the rest (if any) is
    /// not part of it.
    Complete { consumed: usize, response: Response },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Waiting for (the rest of) the status line and headers.
    Head,
    /// `remaining` bytes of a Content-Length body are still to come.
    Length { remaining: u64 },
    /// Inside a chunked body.
    Chunked(Chunk),
    /// The body ends when the connection does.
    UntilClose,
}

/// Where we are inside a chunked body (RFC 9112 section 7.1).
///
/// The chunk-size line is checked byte by byte against the grammar: `chunk-size
/// *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ) CRLF`, ext-val a token or a
/// quoted-string. Whitespace is allowed only around `;` and `=` (so `25  ` and
/// `2 junk` are malformed) and an extension needs a name (so `2;` is). Every line end
/// may be a bare LF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading the hex chunk size; `digits` counts them to catch overflow and emptiness.
    Size {
        size: u64,
        digits: u8,
    },
    /// Whitespace after the size or an extension value: only more of it or `;` may
    /// follow.
    Bws {
        size: u64,
    },
    /// After `;` (and any whitespace): an extension name must start.
    ExtNameStart {
        size: u64,
    },
    /// Inside an extension name.
    ExtName {
        size: u64,
    },
    /// Whitespace after an extension name: `=`, `;` or more whitespace.
    ExtNameBws {
        size: u64,
    },
    /// After `=` (and any whitespace): a value must start.
    ExtValueStart {
        size: u64,
    },
    /// Inside a token value.
    ExtToken {
        size: u64,
    },
    /// Inside a quoted-string value.
    ExtQuoted {
        size: u64,
    },
    /// After a backslash inside a quoted-string.
    ExtQuotedPair {
        size: u64,
    },
    /// Right after the closing quote: the line may end here.
    ExtQuoteEnd {
        size: u64,
    },
    /// Saw CR after the size line; LF must follow.
    SizeLf {
        size: u64,
    },
    /// `remaining` bytes of chunk data are still to come.
    Data {
        remaining: u64,
    },
    /// Chunk data ended; CR LF must follow.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// Saw CR of the final empty line.
    FinalLf,
}

/// Frames responses on one connection, one after another.
#[derive(Debug)]
pub struct ResponseParser {
    body: Body,
    /// Head bytes carried over from earlier reads, when a head arrives in pieces.
    head: Vec<u8>,
    status: u16,
    keep_alive: bool,
    bytes: u64,
    trailer_bytes: usize,
    /// The request was HEAD, so the response carries no body whatever it says.
    head_request: bool,
}

impl ResponseParser {
    pub fn new(head_request: bool) -> Self {
        ResponseParser {
            body: Body::Head,
            head: Vec::new(),
            status: 0,
            keep_alive: true,
            bytes: 0,
            trailer_bytes: 0,
            head_request,
        }
    }

    /// Sets whether the next response answers a HEAD request.
    pub fn set_head_request(&mut self, head_request: bool) {
        self.head_request = head_request;
    }

    /// Forgets any partial response, for a fresh connection.
    pub fn reset(&mut self) {
        self.body = Body::Head;
        self.head.clear();
        self.status = 0;
        self.keep_alive = true;
        self.bytes = 0;
        self.trailer_bytes = 0;
    }

    /// True when no byte of the current response has arrived yet.
    pub fn is_idle(&self) -> bool {
        self.body == Body::Head && self.head.is_empty() && self.bytes == 0
    }

    /// Bytes of the current response seen so far.
    pub fn bytes_so_far(&self) -> u64 {
        self.bytes + self.head.len() as u64
    }

    /// Status of the current response once its head has been parsed, else 0.
    pub fn status(&self) -> u16 {
        if self.body == Body::Head {
            0
        } else {
            self.status
        }
    }

    /// Consumes bytes of the current response.
    pub fn feed(&mut self, data: &[u8]) -> Result<Feed, ParseError> {
        self.feed_with(data, &mut |_| {})
    }

    /// Like [`feed`](Self::feed), and hands every piece of the decoded body (chunk
    /// framing removed) to `on_body`, in order, for response checks.
    #[inline]
    pub fn feed_with(
        &mut self,
        data: &[u8],
        on_body: &mut impl FnMut(&[u8]),
    ) -> Result<Feed, ParseError> {
        let mut used = 0;
        loop {
            let rest = &data[used..];
            match self.body {
                Body::Head => match self.parse_head(rest)? {
                    None => return Ok(Feed::Partial),
                    Some(n) => used += n,
                },
                Body::Length { remaining } => {
                    let take = remaining.min(rest.len() as u64);
                    if take > 0 {
                        on_body(&rest[..take as usize]);
                    }
                    used += take as usize;
                    self.bytes += take;
                    let remaining = remaining - take;
                    if remaining == 0 {
                        return Ok(self.complete(used));
                    }
                    self.body = Body::Length { remaining };
                    return Ok(Feed::Partial);
                }
                Body::Chunked(_) => {
                    let (n, done) = self.chunked(rest, on_body)?;
                    used += n;
                    self.bytes += n as u64;
                    return Ok(if done {
                        self.complete(used)
                    } else {
                        Feed::Partial
                    });
                }
                Body::UntilClose => {
                    if !rest.is_empty() {
                        on_body(rest);
                    }
                    self.bytes += rest.len() as u64;
                    return Ok(Feed::Partial);
                }
            }
        }
    }

    /// The connection reached end of file. Completes a close-delimited body; anything
    /// else in progress is cut short.
    pub fn eof(&mut self) -> Result<Response, ParseError> {
        if self.body == Body::UntilClose {
            self.keep_alive = false;
            if let Feed::Complete { response, .. } = self.complete(0) {
                return Ok(response);
            }
        }
        Err(ParseError::EofMidResponse)
    }

    fn complete(&mut self, consumed: usize) -> Feed {
        let response = Response {
            status: self.status,
            bytes: self.bytes,
            keep_alive: self.keep_alive && self.body != Body::UntilClose,
        };
        self.body = Body::Head;
        self.bytes = 0;
        self.status = 0;
        self.keep_alive = true;
        self.trailer_bytes = 0;
        Feed::Complete { consumed, response }
    }

    /// Parses the head from carried-over bytes plus `data`. Returns how many bytes of
    /// `data` it used, or `None` when it needs more (having kept what it was given).
    fn parse_head(&mut self, data: &[u8]) -> Result<Option<usize>, ParseError> {
        if data.is_empty() {
            return Ok(None);
        }
        let carried = self.head.len();
        let parsed = if carried == 0 {
            // Look at no more than a carried head could hold, so a head is judged the
            // same however the reads split it.
            let limit = data.len().min(MAX_HEAD_BYTES + 1);
            parse_head_bytes(&data[..limit], self.head_request)?
        } else {
            // Only the bytes up to the end of the head belong to it; append at most
            // enough to complete it, then parse the joined buffer.
            let room = MAX_HEAD_BYTES.saturating_sub(carried) + 1;
            let take = data.len().min(room);
            self.head.extend_from_slice(&data[..take]);
            parse_head_bytes(&self.head, self.head_request)?
        };
        match parsed {
            HeadResult::Partial => {
                if carried == 0 {
                    if data.len() > MAX_HEAD_BYTES {
                        return Err(ParseError::HeadTooLarge);
                    }
                    self.head.extend_from_slice(data);
                } else if self.head.len() > MAX_HEAD_BYTES {
                    return Err(ParseError::HeadTooLarge);
                }
                Ok(None)
            }
            HeadResult::Interim { len } | HeadResult::Final { len, .. } if len > MAX_HEAD_BYTES => {
                Err(ParseError::HeadTooLarge)
            }
            HeadResult::Interim { len } => {
                // A 1xx answer precedes the real one: drop it and parse again.
                let used = len - carried;
                self.bytes += len as u64;
                self.head.clear();
                Ok(Some(used))
            }
            HeadResult::Final {
                len,
                status,
                framing,
                keep_alive,
            } => {
                let used = len - carried;
                self.bytes += len as u64;
                self.head.clear();
                self.status = status;
                self.keep_alive = keep_alive;
                self.body = match framing {
                    Framing::None => Body::Length { remaining: 0 },
                    Framing::Length(n) => Body::Length { remaining: n },
                    Framing::Chunked => Body::Chunked(Chunk::Size { size: 0, digits: 0 }),
                    Framing::UntilClose => Body::UntilClose,
                };
                Ok(Some(used))
            }
        }
    }

    /// Walks a chunked body. Returns bytes consumed and whether the body ended.
    fn chunked(
        &mut self,
        data: &[u8],
        on_body: &mut impl FnMut(&[u8]),
    ) -> Result<(usize, bool), ParseError> {
        let Body::Chunked(mut st) = self.body else {
            unreachable!("not chunked")
        };
        let mut i = 0;
        while i < data.len() {
            if let Chunk::Data { remaining } = st {
                let take = remaining.min((data.len() - i) as u64);
                on_body(&data[i..i + take as usize]);
                i += take as usize;
                let remaining = remaining - take;
                st = if remaining == 0 {
                    Chunk::DataCr
                } else {
                    Chunk::Data { remaining }
                };
                continue;
            }
            let b = data[i];
            i += 1;
            st = match st {
                Chunk::Size { size, digits } => match hex(b) {
                    Some(d) if digits < 16 => Chunk::Size {
                        size: size << 4 | d,
                        digits: digits + 1,
                    },
                    Some(_) => return Err(ParseError::Malformed),
                    None if digits == 0 => return Err(ParseError::Malformed),
                    None => match b {
                        b';' => Chunk::ExtNameStart { size },
                        b' ' | b'\t' => Chunk::Bws { size },
                        b'\r' => Chunk::SizeLf { size },
                        b'\n' => size_line_done(size),
                        _ => return Err(ParseError::Malformed),
                    },
                },
                Chunk::Bws { size } => match b {
                    b' ' | b'\t' => st,
                    b';' => Chunk::ExtNameStart { size },
                    _ => return Err(ParseError::Malformed),
                },
                Chunk::ExtNameStart { size } => match b {
                    b' ' | b'\t' => st,
                    _ if is_tchar(b) => Chunk::ExtName { size },
                    _ => return Err(ParseError::Malformed),
                },
                Chunk::ExtName { size } => match b {
                    _ if is_tchar(b) => st,
                    b'=' => Chunk::ExtValueStart { size },
                    b' ' | b'\t' => Chunk::ExtNameBws { size },
                    _ => size_line_next(b, size)?,
                },
                Chunk::ExtNameBws { size } => match b {
                    b' ' | b'\t' => st,
                    b'=' => Chunk::ExtValueStart { size },
                    b';' => Chunk::ExtNameStart { size },
                    _ => return Err(ParseError::Malformed),
                },
                Chunk::ExtValueStart { size } => match b {
                    b' ' | b'\t' => st,
                    b'"' => Chunk::ExtQuoted { size },
                    _ if is_tchar(b) => Chunk::ExtToken { size },
                    _ => return Err(ParseError::Malformed),
                },
                Chunk::ExtToken { size } => match b {
                    _ if is_tchar(b) => st,
                    b' ' | b'\t' => Chunk::Bws { size },
                    _ => size_line_next(b, size)?,
                },
                Chunk::ExtQuoted { size } => match b {
                    b'"' => Chunk::ExtQuoteEnd { size },
                    b'\\' => Chunk::ExtQuotedPair { size },
                    // qdtext: HTAB, SP, visible ASCII but '"' and '\\', obs-text.
                    b'\t' | b' '..=b'~' | 0x80.. => st,
                    _ => return Err(ParseError::Malformed),
                },
                Chunk::ExtQuotedPair { size } => match b {
                    b'\t' | b' '..=b'~' | 0x80.. => Chunk::ExtQuoted { size },
                    _ => return Err(ParseError::Malformed),
                },
                Chunk::ExtQuoteEnd { size } => match b {
                    b' ' | b'\t' => Chunk::Bws { size },
                    _ => size_line_next(b, size)?,
                },
                Chunk::SizeLf { size } => match b {
                    b'\n' => size_line_done(size),
                    _ => return Err(ParseError::Malformed),
                },
                Chunk::DataCr => match b {
                    b'\r' => Chunk::DataLf,
                    b'\n' => Chunk::Size { size: 0, digits: 0 },
                    _ => return Err(ParseError::Malformed),
                },
                Chunk::DataLf => match b {
                    b'\n' => Chunk::Size { size: 0, digits: 0 },
                    _ => return Err(ParseError::Malformed),
                },
                Chunk::TrailerStart => match b {
                    b'\r' => Chunk::FinalLf,
                    b'\n' => {
                        self.body = Body::Chunked(Chunk::TrailerStart);
                        return Ok((i, true));
                    }
                    _ => self.trailer(Chunk::TrailerLine)?,
                },
                Chunk::TrailerLine => match b {
                    b'\n' => self.trailer(Chunk::TrailerStart)?,
                    _ => self.trailer(Chunk::TrailerLine)?,
                },
                Chunk::FinalLf => match b {
                    b'\n' => {
                        self.body = Body::Chunked(Chunk::FinalLf);
                        return Ok((i, true));
                    }
                    _ => return Err(ParseError::Malformed),
                },
                Chunk::Data { .. } => unreachable!("handled above"),
            };
        }
        self.body = Body::Chunked(st);
        Ok((i, false))
    }

    fn trailer(&mut self, next: Chunk) -> Result<Chunk, ParseError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(ParseError::HeadTooLarge);
        }
        Ok(next)
    }
}

fn size_line_done(size: u64) -> Chunk {
    if size == 0 {
        Chunk::TrailerStart
    } else {
        Chunk::Data { remaining: size }
    }
}

/// After a complete extension name or value: another extension or the line's end.
#[inline]
fn size_line_next(b: u8, size: u64) -> Result<Chunk, ParseError> {
    match b {
        b';' => Ok(Chunk::ExtNameStart { size }),
        b'\r' => Ok(Chunk::SizeLf { size }),
        b'\n' => Ok(size_line_done(size)),
        _ => Err(ParseError::Malformed),
    }
}

/// A token character (RFC 9110 section 5.6.2).
#[inline]
fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

fn hex(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some((b - b'0') as u64),
        b'a'..=b'f' => Some((b - b'a' + 10) as u64),
        b'A'..=b'F' => Some((b - b'A' + 10) as u64),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
