//! HTTP/1.1 on the wire: the request bytes (built once, before any load) and the
//! streaming response parser that frames each response on a keep-alive connection.
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
use std::mem::MaybeUninit;

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

enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

enum HeadResult {
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

fn parse_head_bytes(buf: &[u8], head_request: bool) -> Result<HeadResult, ParseError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` split at `cut` and returns every response and how the stream ended.
    fn run(input: &[u8], cuts: &[usize], head: bool) -> (Vec<Response>, Result<(), ParseError>) {
        let mut p = ResponseParser::new(head);
        let mut out = Vec::new();
        let mut pieces = Vec::new();
        let mut last = 0;
        for &c in cuts {
            pieces.push(&input[last..c]);
            last = c;
        }
        pieces.push(&input[last..]);
        for piece in pieces {
            let mut data = piece;
            loop {
                match p.feed(data) {
                    Ok(Feed::Partial) => break,
                    Ok(Feed::Complete { consumed, response }) => {
                        out.push(response);
                        data = &data[consumed..];
                        if data.is_empty() {
                            break;
                        }
                    }
                    Err(e) => return (out, Err(e)),
                }
            }
        }
        if !p.is_idle() {
            match p.eof() {
                Ok(r) => out.push(r),
                Err(e) => return (out, Err(e)),
            }
        }
        (out, Ok(()))
    }

    fn resp(status: u16, bytes: usize, keep_alive: bool) -> Response {
        Response {
            status,
            bytes: bytes as u64,
            keep_alive,
        }
    }

    const CL: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: yes\r\n\r\n";
    /// Chunk extensions with whitespace around `;` and `=` (RFC 9112 section 7.1.1 BWS).
    const CHUNK_EXT_BWS: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 ; a = b ;c\t;d=e\r\nab\r\n3 \t; x\r\ncde\r\n0 ; last=1\r\n\r\n";
    /// A quoted-string extension value holding `;`, `=`, spaces, an escaped quote and
    /// obs-text.
    const CHUNK_EXT_QUOTED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;name=\"q; v=\\\"x\\\" \xe9\";n2=\"\"\r\nab\r\n0\r\n\r\n";
    const CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody until the end";

    /// Table of whole streams and what they must frame into.
    type Case = (
        &'static str,
        Vec<u8>,
        bool,
        Vec<Response>,
        Result<(), ParseError>,
    );

    /// A stream holding exactly one response of `status`.
    fn one(name: &'static str, input: &[u8], head: bool, status: u16, keep_alive: bool) -> Case {
        (
            name,
            input.to_vec(),
            head,
            vec![resp(status, input.len(), keep_alive)],
            Ok(()),
        )
    }

    /// A chunked response whose body (from the first chunk-size line) is `body`.
    fn chunked_line(body: &[u8]) -> Vec<u8> {
        [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            body,
        ]
        .concat()
    }

    fn bad(name: &'static str, input: &[u8], err: ParseError) -> Case {
        (name, input.to_vec(), false, vec![], Err(err))
    }

    /// Table of whole streams and what they must frame into.
    fn cases() -> Vec<Case> {
        let two = [CL, CHUNKED].concat();
        let interim = [&b"HTTP/1.1 100 Continue\r\n\r\n"[..], CL].concat();
        vec![
            one("content-length", CL, false, 200, true),
            one("chunked with ext and trailer", CHUNKED, false, 200, true),
            one("close-delimited", CLOSE, false, 200, false),
            ("two in one stream", two, false, vec![resp(200, CL.len(), true), resp(200, CHUNKED.len(), true)], Ok(())),
            one("head request ignores length", b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", true, 200, true),
            one("204 has no body", b"HTTP/1.1 204 No Content\r\n\r\n", false, 204, true),
            one("304 has no body", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false, 304, true),
            one("100 continue then 200", &interim, false, 200, true),
            one("connection close", b"HTTP/1.1 503 Busy\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n", false, 503, false),
            one("http/1.0 closes", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false, 200, false),
            one("http/1.0 keep-alive", b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok", false, 200, true),
            one("te gzip, chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\na\r\n0\r\n\r\n", false, 200, true),
            one("lf-only chunk lines", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n", false, 200, true),
            one("repeated identical lengths", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", false, 200, true),
            one("length list of identical values", b"HTTP/1.1 200 OK\r\nContent-Length: 2 ,2, 2\r\n\r\nok", false, 200, true),
            one("chunk ext with bws", CHUNK_EXT_BWS, false, 200, true),
            one("chunk ext quoted", CHUNK_EXT_QUOTED, false, 200, true),
            one("chunk ext lf-only", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a=b;c\nab\n0;z\n\n", false, 200, true),
            one("chunk ext tab before semicolon", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\t;x\r\nab\r\n0\r\n\r\n", false, 200, true),
            one("te not chunked reads to close", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzzz", false, 200, false),
            bad("eof mid body", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", ParseError::EofMidResponse),
            bad("eof mid head", b"HTTP/1.1 200 OK\r\nContent-Le", ParseError::EofMidResponse),
            bad("eof mid chunk", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", ParseError::EofMidResponse),
            bad("garbage", b"SSH-2.0-OpenSSH_9.2\r\n\r\n", ParseError::Malformed),
            bad("status below 100", b"HTTP/1.1 000 Zero\r\nContent-Length: 0\r\n\r\n", ParseError::Malformed),
            bad("bad length", b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", ParseError::Malformed),
            bad("conflicting lengths", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", ParseError::Malformed),
            bad("cl and te chunked", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\na\r\n0\r\n\r\n", ParseError::Malformed),
            bad("te and cl", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n1\r\na\r\n0\r\n\r\n", ParseError::Malformed),
            bad("cl and te not chunked", b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nTransfer-Encoding: gzip\r\n\r\nzzzz", ParseError::Malformed),
            bad("cl and te on a 204", b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", ParseError::Malformed),
            bad("length list of different values", b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok", ParseError::Malformed),
            bad("length list with an empty item", b"HTTP/1.1 200 OK\r\nContent-Length: 2,\r\n\r\nok", ParseError::Malformed),
            bad("chunk size then spaces", &chunked_line(b"25  \r\n"), ParseError::Malformed),
            bad("chunk size then junk", &chunked_line(b"2 junk\r\nab\r\n0\r\n\r\n"), ParseError::Malformed),
            bad("chunk ext without a name", &chunked_line(b"2;\r\nab\r\n0\r\n\r\n"), ParseError::Malformed),
            bad("chunk ext without a name, lf", &chunked_line(b"2;\nab\n0\n\n"), ParseError::Malformed),
            bad("chunk ext name then spaces", &chunked_line(b"2;a \r\nab\r\n0\r\n\r\n"), ParseError::Malformed),
            bad("chunk ext name then junk", &chunked_line(b"2;a b\r\nab\r\n0\r\n\r\n"), ParseError::Malformed),
            bad("chunk ext without a value", &chunked_line(b"2;a=\r\nab\r\n0\r\n\r\n"), ParseError::Malformed),
            bad("chunk ext quoted name", &chunked_line(b"2;\"a\"\r\nab\r\n0\r\n\r\n"), ParseError::Malformed),
            bad("chunk ext unterminated quote", &chunked_line(b"2;a=\"x\r\nab\r\n0\r\n\r\n"), ParseError::Malformed),
            bad("chunk ext junk after quote", &chunked_line(b"2;a=\"x\"y\r\nab\r\n0\r\n\r\n"), ParseError::Malformed),
            bad("chunk ext control char", &chunked_line(b"2;a=b\x01\r\nab\r\n0\r\n\r\n"), ParseError::Malformed),
            bad("chunk size tab then cr", &chunked_line(b"2\t\r\nab\r\n0\r\n\r\n"), ParseError::Malformed),
            bad("chunk ext value then spaces", &chunked_line(b"2;a=b \r\nab\r\n0\r\n\r\n"), ParseError::Malformed),
            bad("last chunk then spaces", &chunked_line(b"2\r\nab\r\n0 \r\n\r\n"), ParseError::Malformed),
            bad("bad chunk size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ParseError::Malformed),
            bad("chunk size overflow", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n", ParseError::Malformed),
            bad("missing crlf after data", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", ParseError::Malformed),
        ]
    }

    #[test]
    fn table_whole_and_split_at_every_byte() {
        for (name, input, head, want, end) in cases() {
            let got = run(&input, &[], head);
            assert_eq!(got, (want.clone(), end), "{name}: whole");
            for cut in 1..input.len() {
                let got = run(&input, &[cut], head);
                assert_eq!(got, (want.clone(), end), "{name}: split at {cut}");
            }
        }
    }

    #[test]
    fn split_into_single_bytes() {
        for (name, input, head, want, end) in cases() {
            let cuts: Vec<usize> = (1..input.len()).collect();
            assert_eq!(
                run(&input, &cuts, head),
                (want, end),
                "{name}: byte by byte"
            );
        }
    }

    /// The body pieces handed to `feed_with` are exactly the decoded body, however
    /// the stream is split.
    #[test]
    fn body_pieces_are_the_decoded_body() {
        let cases: [(&[u8], &[u8]); 5] = [
            (CL, b"hello"),
            (CHUNKED, b"helloabcdefghijklmnopqrstuvwxyz"),
            (CHUNK_EXT_BWS, b"abcde"),
            (CHUNK_EXT_QUOTED, b"ab"),
            (CLOSE, b"body until the end"),
        ];
        for (input, want) in cases {
            for cut in 0..=input.len() {
                let mut p = ResponseParser::new(false);
                let mut body = Vec::new();
                for piece in [&input[..cut], &input[cut..]] {
                    let _ = p
                        .feed_with(piece, &mut |b| body.extend_from_slice(b))
                        .unwrap();
                }
                assert_eq!(body, want, "cut {cut}");
            }
        }
    }

    #[test]
    fn too_many_headers() {
        let mut input = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            input.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        input.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        assert_eq!(run(&input, &[], false).1, Err(ParseError::HeadTooLarge));
    }

    #[test]
    fn head_too_large_in_pieces() {
        let mut p = ResponseParser::new(false);
        assert_eq!(p.feed(b"HTTP/1.1 200 OK\r\nX-Big: "), Ok(Feed::Partial));
        let filler = vec![b'a'; 4096];
        let mut err = None;
        for _ in 0..20 {
            match p.feed(&filler) {
                Ok(Feed::Partial) => {}
                Err(e) => {
                    err = Some(e);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(err, Some(ParseError::HeadTooLarge));
    }

    /// A head of exactly `len` bytes.
    fn head_of_len(len: usize) -> Vec<u8> {
        let prefix = b"HTTP/1.1 200 OK\r\nX-Big: ";
        let suffix = b"\r\nContent-Length: 0\r\n\r\n";
        let mut head = prefix.to_vec();
        head.resize(len - suffix.len(), b'a');
        head.extend_from_slice(suffix);
        head
    }

    /// Regression: a complete head over MAX_HEAD_BYTES was accepted when it came in
    /// one read but refused when split, and a bad byte past the limit was Malformed
    /// whole but HeadTooLarge split. The limit must not depend on how reads split.
    #[test]
    fn head_size_limit_is_split_invariant() {
        let splits: [&[usize]; 4] = [
            &[],
            &[10],
            &[MAX_HEAD_BYTES / 2, MAX_HEAD_BYTES],
            &[MAX_HEAD_BYTES],
        ];
        let at_limit = head_of_len(MAX_HEAD_BYTES);
        let over_limit = head_of_len(MAX_HEAD_BYTES + 1);
        let mut bad_past_limit = head_of_len(MAX_HEAD_BYTES + 100);
        bad_past_limit[MAX_HEAD_BYTES + 10] = 0;
        for cuts in splits {
            assert_eq!(
                run(&at_limit, cuts, false),
                (vec![resp(200, MAX_HEAD_BYTES, true)], Ok(())),
                "at the limit, cuts {cuts:?}"
            );
            for input in [&over_limit, &bad_past_limit] {
                assert_eq!(
                    run(input, cuts, false),
                    (vec![], Err(ParseError::HeadTooLarge)),
                    "{} bytes, cuts {cuts:?}",
                    input.len()
                );
            }
        }
    }

    #[test]
    fn trailing_bytes_are_not_consumed() {
        let mut p = ResponseParser::new(false);
        let input = [CL, b"HTTP/1.1"].concat();
        assert_eq!(
            p.feed(&input),
            Ok(Feed::Complete {
                consumed: CL.len(),
                response: resp(200, CL.len(), true)
            })
        );
        assert!(p.is_idle());
    }
}
