//! The response parser, table-driven: every case framed whole, split at every byte,
//! and fed one byte at a time; the decoded body pieces; the head's limits.

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
