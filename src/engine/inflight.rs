//! The requests a connection carries: who each is and when things happened to it
//! ([`ReqInfo`], which the sample record is made of), its response checks in progress,
//! and how it ended ([`Finished`]); and the connection's in-flight queue of them
//! ([`Pipeline`], `--pipeline N`), written back to back and answered in order.
//!
//! In scenario runs (issue 13) a request carries its step's bytes, rendered into a
//! buffer kept from request to request ([`InFlight::rendered`]), and keeps what the
//! virtual user needs of the response ([`Keep`]); in plain runs both stay empty and
//! the template's bytes are sent. Scenario runs do not pipeline (a step depends on
//! the response before it), so only the front slot's buffers are ever used.

use std::ops::Deref;

use crate::record::ErrorKind;
use crate::wire::expect::Check;
use crate::wire::request::Template;

/// Timing and identity of a request a connection is carrying.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReqInfo {
    /// When the request started (connect start if it opened the connection), ns.
    pub start: u64,
    /// When the schedule wanted it to start (open loop), ns.
    pub intended: u64,
    pub scheduled: bool,
    pub target: u16,
    /// Set while running: the request opened its connection.
    pub new_conn: bool,
    pub connect_ns: u64,
    pub tls_ns: u64,
    pub tls_resumed: bool,
    /// First response byte, ns (0 until it arrives).
    pub first_byte: u64,
    /// Already re-sent once after a reused connection closed under it.
    pub retried: bool,
}

/// One request on a connection: who it is and when things happened to it, and its
/// response checks in progress (their buffers are kept from request to request).
#[derive(Debug, Default)]
pub struct InFlight {
    pub info: ReqInfo,
    pub check: Check,
    /// Scenario runs: the step's request, rendered by the worker before `begin`
    /// (sent instead of the template's bytes when not empty). Its capacity is kept.
    pub rendered: Vec<u8>,
    /// Scenario runs: what of the response to keep.
    pub keep: Keep,
    /// The response head as received (from the status line; it may run on into the
    /// body, whose first empty line ends it), while `keep.head`.
    pub head: Vec<u8>,
    /// The decoded body, up to `keep.max_body`, while `keep.body`.
    pub body: Vec<u8>,
    /// How it ended, once it has (see [`Pipeline::end_front`]).
    pub end: Option<Finished>,
    /// Its start is stamped when the socket takes its first byte (it was queued behind
    /// a connect or a blocked write); false for the request that opened the
    /// connection (its start is the connect's) and for one sent again (its start is
    /// the first attempt's).
    pub stamp_start: bool,
}

/// What of a response a scenario step needs kept (captures, the cookie jar).
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    pub head: bool,
    pub body: bool,
    pub max_body: usize,
}

/// Tests and the connection read a request's timing through it (`r.start`).
impl Deref for InFlight {
    type Target = ReqInfo;
    fn deref(&self) -> &ReqInfo {
        &self.info
    }
}

impl InFlight {
    /// The request's template: its HEAD flag and checks (in scenario runs, one per
    /// step, without bytes).
    pub fn template<'t>(&self, targets: &'t [Template]) -> &'t Template {
        &targets[self.info.target as usize]
    }

    /// The bytes to send: the step's rendered request, or the template's.
    pub fn bytes<'t>(&'t self, targets: &'t [Template]) -> &'t [u8] {
        if self.rendered.is_empty() {
            &self.template(targets).bytes
        } else {
            &self.rendered
        }
    }

    /// Keeps response bytes that arrived while the head was still being parsed
    /// (`in_head`), up to the largest head a response may have.
    #[inline]
    pub fn keep_head(&mut self, data: &[u8], in_head: bool) {
        if self.keep.head && in_head {
            let room = (crate::wire::http::MAX_HEAD_BYTES + 4).saturating_sub(self.head.len());
            self.head.extend_from_slice(&data[..data.len().min(room)]);
        }
    }

    /// Keeps a piece of the decoded body, up to `keep.max_body`.
    #[inline]
    pub fn keep_body(body: &mut Vec<u8>, max: usize, piece: &[u8]) {
        let room = max.saturating_sub(body.len());
        body.extend_from_slice(&piece[..piece.len().min(room)]);
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    pub end: u64,
    pub status: u16,
    pub error: ErrorKind,
    pub bytes: u64,
}

/// The requests one connection carries, oldest first: a ring of `--pipeline` slots
/// allocated with the connection, so a request costs no allocation. From the front:
///
/// ```text
///  ended (collected next by the worker) | answered in order ... | written in part | not written
///  0 .. ended                           | ended .. sent         | sent (written)  | sent+1 .. len
/// ```
///
/// The response parser always frames the first request that has not ended
/// ([`Pipeline::answering`]); the writer hands the socket the bytes from request
/// `sent`, byte `written`, on. Requests end strictly in order, except when the
/// connection is lost: then each outstanding one either ends (failed) or is sent
/// again on a new connection ([`Pipeline::settle`]), which keeps the ones sent again in
/// their order behind the ones that ended.
#[derive(Debug)]
pub struct Pipeline {
    slots: Box<[InFlight]>,
    /// Slot of the oldest request.
    head: usize,
    len: usize,
    ended: usize,
    sent: usize,
    /// Bytes of request `sent` already with the socket.
    written: usize,
}

impl Pipeline {
    /// A queue of `depth` slots (at least one).
    pub fn new(depth: usize) -> Pipeline {
        Pipeline {
            slots: (0..depth.max(1)).map(|_| InFlight::default()).collect(),
            head: 0,
            len: 0,
            ended: 0,
            sent: 0,
            written: 0,
        }
    }

    pub fn depth(&self) -> usize {
        self.slots.len()
    }

    fn slot(&self, k: usize) -> usize {
        (self.head + k) % self.slots.len()
    }

    pub fn get(&self, k: usize) -> &InFlight {
        &self.slots[self.slot(k)]
    }

    pub fn get_mut(&mut self, k: usize) -> &mut InFlight {
        let s = self.slot(k);
        &mut self.slots[s]
    }

    /// Requests held (ended ones not yet collected included).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Another request fits.
    pub fn has_room(&self) -> bool {
        self.len < self.slots.len()
    }

    /// Requests that have not ended.
    pub fn outstanding(&self) -> usize {
        self.len - self.ended
    }

    /// Requests that have ended and wait to be collected.
    pub fn ended(&self) -> usize {
        self.ended
    }

    /// Index of the request the next response answers (the oldest not ended).
    pub fn answering(&self) -> usize {
        self.ended
    }

    /// Some request bytes are not with the socket yet.
    pub fn unwritten(&self) -> bool {
        self.sent < self.len
    }

    /// Requests whose every byte is with the socket, and bytes of the next one.
    pub fn cursor(&self) -> (usize, usize) {
        (self.sent, self.written)
    }

    /// Adds a request at the back; `None` when full. Its checks are reset; `end` is
    /// cleared.
    pub fn push(
        &mut self,
        info: ReqInfo,
        stamp_start: bool,
        reset_check: bool,
    ) -> Option<&mut InFlight> {
        if !self.has_room() {
            return None;
        }
        self.len += 1;
        let r = self.get_mut(self.len - 1);
        r.info = info;
        r.end = None;
        r.stamp_start = stamp_start;
        if reset_check {
            r.check.reset();
        }
        Some(r)
    }

    /// The oldest outstanding request ended as `f`.
    pub fn end_front(&mut self, f: Finished) {
        if self.ended < self.len {
            let k = self.ended;
            self.get_mut(k).end = Some(f);
            self.ended += 1;
            if self.sent < self.ended {
                // Answered before it was all written (the connection will not be
                // reused): nothing of it is left to write.
                self.sent = self.ended;
                self.written = 0;
            }
        }
    }

    /// The slot [`Pipeline::pop_ended`] freed last (its contents stay until reused).
    pub fn last_popped(&self) -> &InFlight {
        let n = self.slots.len();
        &self.slots[(self.head + n - 1) % n]
    }

    /// The slot the next [`Pipeline::push`] fills (the last one's when full).
    pub fn next_slot(&mut self) -> &mut InFlight {
        let n = self.slots.len();
        &mut self.slots[(self.head + self.len.min(n - 1)) % n]
    }

    /// Takes the oldest ended request out: who it was and how it ended.
    pub fn pop_ended(&mut self) -> Option<(ReqInfo, Finished)> {
        if self.ended == 0 {
            return None;
        }
        let r = &self.slots[self.head];
        let out = (r.info, r.end?);
        self.head = (self.head + 1) % self.slots.len();
        self.len -= 1;
        self.ended -= 1;
        self.sent -= 1;
        Some(out)
    }

    /// The socket took `n` more bytes at `now`: moves the write cursor, stamping the
    /// start of each request whose first byte went.
    pub fn advance(&mut self, mut n: usize, now: u64, len_of: impl Fn(&InFlight) -> usize) {
        while n > 0 && self.sent < self.len {
            let k = self.sent;
            let written = self.written;
            let r = self.get_mut(k);
            if written == 0 && r.stamp_start {
                r.info.start = now;
                r.stamp_start = false;
            }
            let left = len_of(r) - written;
            if n >= left {
                n -= left;
                self.sent += 1;
                self.written = 0;
            } else {
                self.written += n;
                n = 0;
            }
        }
        // Empty requests (none today) would have nothing to hand over.
        while self.sent < self.len && self.written == 0 && len_of(self.get(self.sent)) == 0 {
            self.sent += 1;
        }
    }

    /// The connection is gone: decides the fate of every outstanding request, front
    /// first. `fate(k, r)` returns `Some(finished)` for one that ends, `None` for one
    /// sent again; the ones that end move (in order) before the ones sent again, and
    /// everything left is to be written again from its first byte. Returns how many
    /// will be sent again.
    pub fn settle(
        &mut self,
        mut fate: impl FnMut(usize, &mut InFlight) -> Option<Finished>,
    ) -> usize {
        let first = self.ended;
        let mut again = 0;
        for k in first..self.len {
            let i = k - first;
            let f = fate(i, self.get_mut(k));
            match f {
                Some(f) => {
                    self.get_mut(k).end = Some(f);
                    // Rotate it down past the ones sent again (stable: O(depth^2)
                    // only when a connection is lost).
                    for j in (self.ended..k).rev() {
                        let (a, b) = (self.slot(j), self.slot(j + 1));
                        self.slots.swap(a, b);
                    }
                    self.ended += 1;
                }
                None => again += 1,
            }
        }
        self.sent = self.ended;
        self.written = 0;
        again
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(target: u16) -> ReqInfo {
        ReqInfo {
            target,
            ..ReqInfo::default()
        }
    }

    fn ok(end: u64) -> Finished {
        Finished {
            end,
            status: 200,
            error: ErrorKind::None,
            bytes: 1,
        }
    }

    #[test]
    fn requests_are_written_answered_and_collected_in_order_around_the_ring() {
        let mut p = Pipeline::new(3);
        let len = |_: &InFlight| 10;
        for round in 0..5u16 {
            for t in 0..3 {
                assert!(p.push(info(round * 3 + t), true, false).is_some());
            }
            assert!(p.push(info(99), true, false).is_none(), "full");
            // 25 bytes: the first two requests and half the third, stamped at 7.
            p.advance(25, 7, len);
            assert_eq!(p.cursor(), (2, 5));
            assert!(p.unwritten());
            p.advance(5, 8, len);
            assert!(!p.unwritten());
            assert_eq!(
                (0..3).map(|k| p.get(k).info.start).collect::<Vec<_>>(),
                [7, 7, 7],
                "each start is when its first byte went"
            );
            p.end_front(ok(1));
            p.end_front(ok(2));
            assert_eq!((p.ended(), p.outstanding()), (2, 1));
            assert_eq!(
                p.pop_ended().map(|(i, f)| (i.target, f.end)),
                Some((round * 3, 1))
            );
            assert_eq!(p.pop_ended().map(|(i, _)| i.target), Some(round * 3 + 1));
            assert!(p.pop_ended().is_none());
            p.end_front(ok(3));
            assert_eq!(p.pop_ended().map(|(i, _)| i.target), Some(round * 3 + 2));
            assert!(p.is_empty());
        }
    }

    #[test]
    fn settling_a_lost_connection_ends_some_and_keeps_the_rest_in_order() {
        let mut p = Pipeline::new(5);
        for t in 0..5 {
            p.push(info(t), false, false);
        }
        p.advance(100, 1, |_| 20);
        p.end_front(ok(1));
        // 1 and 3 end (failed), 2 and 4 go again.
        let again = p.settle(|i, r| {
            (r.info.target % 2 == 1).then_some(Finished {
                error: ErrorKind::Unanswered,
                ..ok(i as u64)
            })
        });
        assert_eq!(again, 2);
        let ended: Vec<u16> = std::iter::from_fn(|| p.pop_ended().map(|(i, _)| i.target)).collect();
        assert_eq!(ended, [0, 1, 3]);
        assert_eq!(p.outstanding(), 2);
        assert_eq!((p.get(0).info.target, p.get(1).info.target), (2, 4));
        assert_eq!(p.cursor(), (0, 0), "written again from their first byte");
        assert!(p.unwritten());
    }
}
