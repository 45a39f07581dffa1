//! A connection's responses: reading (plain or through TLS), framing them in place for
//! the oldest requests in flight, what a response keeps for a scenario step, and the
//! server's close seen while reading.

use super::*;

impl Conn {
    pub(super) fn read_response(
        &mut self,
        io: &mut Io<'_>,
        now: u64,
        mut open: Open,
        closed: bool,
    ) -> Next {
        let targets = io.targets;
        let keepalive = io.keepalive;
        let served = &mut open.served;
        let got = open
            .transport
            .receive(io.rbuf, io.pbuf, io.tls, |data, from_tls| {
                self.frame_all(targets, data, from_tls, now, keepalive, served)
            });
        match got {
            Received::Framed(Stop::Unusable) => self.abandon(io, now, open),
            Received::Empty | Received::Read { full: false } if !closed => {
                (self.open_state(open), Step::Wait)
            }
            // A short read drained the socket: with edge-triggered readiness any later
            // data raises a new event. After a full one (or a hang-up) read on.
            Received::Empty => (self.open_state(open), Step::Wait),
            Received::Read { .. } => (self.open_state(open), Step::Again),
            Received::Eof => self.on_eof(io, now, open),
            Received::Lost(kind) => self.lost(io, now, open, kind),
            Received::Broken(kind) => {
                self.end_front(now, kind);
                self.abandon(io, now, open)
            }
        }
    }

    /// Frames `data`, response bytes that arrived at `now` (out of TLS when
    /// `from_tls`): every response it completes ends the oldest request. Stops when the
    /// connection cannot carry more.
    pub(super) fn frame_all(
        &mut self,
        targets: &[Template],
        mut data: &[u8],
        from_tls: bool,
        now: u64,
        keepalive: bool,
        served: &mut u32,
    ) -> Option<Stop> {
        while !data.is_empty() {
            if !self.busy() {
                // Bytes no request asked for: the framing cannot be trusted any more.
                return Some(Stop::Unusable);
            }
            let (consumed, reusable) = self.frame(targets, data, from_tls, now)?;
            *served += 1;
            if !(reusable && keepalive) {
                return Some(Stop::Unusable);
            }
            data = &data[consumed..];
            self.arm_parser(targets);
        }
        None
    }

    /// Frames `data` for the oldest outstanding request. Once its response is complete
    /// (or broken: it ends failed, and the connection is not reusable) it ends, and
    /// this returns how many bytes were its and whether the connection can go on.
    pub(super) fn frame(
        &mut self,
        targets: &[Template],
        data: &[u8],
        from_tls: bool,
        now: u64,
    ) -> Option<(usize, bool)> {
        let k = self.pipe.answering();
        let req = self.pipe.get_mut(k);
        if req.info.first_byte == 0 {
            req.info.first_byte = now;
        }
        let expect = req.template(targets).expect.as_deref();
        // Without checks the body is framed and dropped: no callback does any work.
        let fed = match expect {
            // A scenario step whose captures read the response: keep it (see `Keep`).
            _ if req.keep.head || req.keep.body => {
                req.keep_head(data, self.parser.status() == 0);
                let (keep, check, body) = (req.keep, &mut req.check, &mut req.body);
                let e = expect.filter(|e| e.reads_body());
                self.parser.feed_with(data, &mut |piece| {
                    if let Some(e) = e {
                        check.feed(e, piece);
                    }
                    if keep.body {
                        InFlight::keep_body(body, keep.max_body, piece);
                    }
                })
            }
            Some(e) if e.reads_body() => {
                let check = &mut req.check;
                self.parser
                    .feed_with(data, &mut |piece| check.feed(e, piece))
            }
            _ => self.parser.feed(data),
        };
        match fed {
            Ok(Feed::Partial) => None,
            Ok(Feed::Complete { consumed, response }) => {
                self.smallest = self
                    .smallest
                    .min(response.bytes.min(u64::from(u32::MAX)) as u32);
                let error =
                    expect.map_or(ErrorKind::None, |e| req.check.verdict(e, response.status));
                // Answered before all of it was written (a server answering early):
                // the rest of it will not be written, so the connection ends here.
                let early = self.pipe.cursor().0 <= k;
                self.pipe.end_front(Finished {
                    end: now,
                    status: response.status,
                    error,
                    bytes: response.bytes,
                });
                Some((consumed, response.keep_alive && !early))
            }
            Err(e) => {
                let status = self.parser.status();
                let tls_record =
                    data.len() >= 2 && (data[0] == 0x15 || data[0] == 0x16) && data[1] == 0x03;
                let error = if tls_record && status == 0 && !from_tls {
                    ErrorKind::TlsOnPlain
                } else {
                    parse_error(e)
                };
                self.pipe.end_front(Finished {
                    end: now,
                    status,
                    error,
                    bytes: self.parser.bytes_so_far() + data.len() as u64,
                });
                Some((data.len(), false))
            }
        }
    }

    /// The peer ended the stream while responses were expected.
    pub(super) fn on_eof(&mut self, io: &mut Io<'_>, now: u64, open: Open) -> Next {
        if self.parser.is_idle() {
            // Pipelining, a clean close leaves every request it cut off alike:
            // unanswered, the oldest included.
            let kind = match self.pipe.depth() {
                1 => ErrorKind::ClosedBeforeResponse,
                _ => ErrorKind::Unanswered,
            };
            return self.lost(io, now, open, kind);
        }
        let status = self.parser.status();
        let bytes = self.parser.bytes_so_far();
        let f = match self.parser.eof() {
            Ok(r) => {
                let k = self.pipe.answering();
                let req = self.pipe.get_mut(k);
                let expect = req.template(io.targets).expect.as_deref();
                Finished {
                    end: now,
                    status: r.status,
                    error: expect.map_or(ErrorKind::None, |e| req.check.verdict(e, r.status)),
                    bytes: r.bytes,
                }
            }
            Err(e) => Finished {
                end: now,
                status,
                error: parse_error(e),
                bytes,
            },
        };
        self.pipe.end_front(f);
        self.abandon(io, now, open)
    }
}
