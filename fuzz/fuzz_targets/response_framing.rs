//! Fuzzes `ResponseParser` framing on a keep-alive stream.
//!
//! Input layout: byte 0 holds the flags (bit 0: the request was HEAD; bits 1..=3: how
//! many split points follow, 0 to 7), then 2 bytes (little-endian) per split point,
//! then the byte stream. Split points are taken modulo the stream length plus one.
//!
//! Checked: no panic; every `Complete` consumes at most what it was given (and at
//! least one byte, so the caller's loop progresses); a response's `bytes` is exactly
//! what was fed since the previous one ended; bytes never go missing; and the stream
//! fed whole frames into the same responses and errors as the stream fed split.

#![no_main]

use barrage::wire::http::{Feed, ParseError, Response, ResponseParser};
use libfuzzer_sys::fuzz_target;

/// One observable outcome: a response framed by `feed`, or how the stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Response(Response),
    FeedError(ParseError),
    /// `eof()` at the end, and whether the parser was idle just before it.
    Eof {
        idle: bool,
        result: Result<Response, ParseError>,
    },
}

fn run(stream: &[u8], cuts: &[usize], head_request: bool) -> Vec<Event> {
    let mut p = ResponseParser::new(head_request);
    let mut events = Vec::new();
    // Bytes fed that belong to the response in progress.
    let mut since_last: u64 = 0;
    let mut last = 0;
    let pieces = cuts
        .iter()
        .copied()
        .chain(std::iter::once(stream.len()))
        .map(|c| {
            let piece = &stream[last..c];
            last = c;
            piece
        });
    for piece in pieces {
        let mut data = piece;
        loop {
            match p.feed(data) {
                Ok(Feed::Partial) => {
                    since_last += data.len() as u64;
                    assert_eq!(
                        p.bytes_so_far(),
                        since_last,
                        "Partial: every byte given belongs to the response"
                    );
                    break;
                }
                Ok(Feed::Complete { consumed, response }) => {
                    assert!(
                        consumed <= data.len(),
                        "consumed {consumed} > {}",
                        data.len()
                    );
                    assert!(
                        consumed > 0 || since_last > 0,
                        "a response completed on no bytes"
                    );
                    assert_eq!(
                        response.bytes,
                        since_last + consumed as u64,
                        "response bytes are the bytes fed for it"
                    );
                    // httparse reads any three digits ("020" is 20), so only an upper bound.
                    assert!(response.status <= 999, "{response:?}");
                    assert!(p.is_idle(), "idle right after a response");
                    assert_eq!(p.status(), 0);
                    since_last = 0;
                    events.push(Event::Response(response));
                    data = &data[consumed..];
                    if data.is_empty() {
                        break;
                    }
                }
                Err(e) => {
                    events.push(Event::FeedError(e));
                    return events;
                }
            }
        }
    }
    let idle = p.is_idle();
    let result = p.eof();
    if let Ok(r) = result {
        assert_eq!(r.bytes, since_last, "eof response holds the rest");
        assert!(
            !r.keep_alive,
            "a close-delimited response cannot keep alive"
        );
    }
    events.push(Event::Eof { idle, result });
    events
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let head_request = flags & 1 != 0;
    let n_cuts = ((flags >> 1) & 7) as usize;
    if rest.len() < 2 * n_cuts {
        return;
    }
    let (cut_bytes, stream) = rest.split_at(2 * n_cuts);
    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize % (stream.len() + 1))
        .collect();
    cuts.sort_unstable();

    let whole = run(stream, &[], head_request);
    let split = run(stream, &cuts, head_request);
    assert_eq!(whole, split, "split at {cuts:?} changed the framing");
});
