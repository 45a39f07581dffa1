//! A connection that ends with requests in flight: each one failed with its kind or
//! sent again on a new connection (RFC 9112 9.3.2: idempotent, no byte of its response
//! yet, once), timeouts, cancellation at the end of a run.

use super::*;

impl Conn {
    /// The oldest outstanding request failed at `now` with `kind`, keeping what did
    /// arrive: a status already parsed, bytes already read.
    pub(super) fn end_front(&mut self, now: u64, kind: ErrorKind) {
        if self.busy() {
            self.pipe.end_front(Finished {
                end: now,
                status: self.parser.status(),
                error: kind,
                bytes: self.parser.bytes_so_far(),
            });
        }
    }

    /// The socket failed (or closed) with requests outstanding: the oldest fails with
    /// `kind` (or is sent again, on a reused socket before any byte of its response),
    /// the ones behind it are sent again or fail as unanswered.
    pub(super) fn lost(&mut self, io: &mut Io<'_>, now: u64, open: Open, kind: ErrorKind) -> Next {
        let reused = open.served > 0;
        drop(open);
        let fresh = self.parser.is_idle();
        let status = self.parser.status();
        let bytes = self.parser.bytes_so_far();
        self.settle(io, now, |first, may_resend| {
            if first {
                if reused && fresh && may_resend {
                    return None;
                }
                return Some((kind, status, bytes));
            }
            (!may_resend).then_some((ErrorKind::Unanswered, 0, 0))
        })
    }

    /// The connection cannot carry more (its last response said so, or broke): the
    /// requests still outstanding were not answered; each is sent again or fails.
    pub(super) fn abandon(&mut self, io: &mut Io<'_>, now: u64, open: Open) -> Next {
        drop(open);
        self.settle(io, now, |_, may_resend| {
            (!may_resend).then_some((ErrorKind::Unanswered, 0, 0))
        })
    }

    /// Settles every outstanding request of a connection that is gone. `fate(first,
    /// may_resend)` is asked for each, oldest first (`first`: the one the server was
    /// answering; `may_resend`: RFC 9112 section 9.3.2 allows it to go again, and it
    /// has not yet): `None` sends it again, `Some((kind, status, bytes))` ends it.
    /// Those sent again reconnect, keeping their first start.
    pub(super) fn settle(
        &mut self,
        io: &mut Io<'_>,
        now: u64,
        mut fate: impl FnMut(bool, bool) -> Option<(ErrorKind, u16, u64)>,
    ) -> Next {
        let targets = io.targets;
        let (sent, written) = self.pipe.cursor();
        let answering = self.pipe.answering();
        let again = self.pipe.settle(|i, r| {
            let k = answering + i;
            let untouched = k > sent || (k == sent && written == 0);
            let may_resend = !r.info.retried && (r.template(targets).idempotent || untouched);
            match fate(i == 0, may_resend) {
                None => {
                    r.info.retried = true;
                    r.info.first_byte = 0;
                    r.stamp_start = false;
                    None
                }
                Some((error, status, bytes)) => Some(Finished {
                    end: now,
                    status,
                    error,
                    bytes,
                }),
            }
        });
        self.parser.reset();
        if again == 0 {
            return (State::Closed, Step::Wait);
        }
        io.stats.retries += again as u64;
        self.connect(io, now)
    }

    /// The requests' timeout fired at `now`: the oldest outstanding request's. Its
    /// connection ends; the requests behind it are sent again or fail. A connection
    /// with nothing outstanding has nothing to time out.
    pub fn on_timeout(&mut self, io: &mut Io<'_>, now: u64) -> Step {
        self.run(|c, state| match state {
            State::Connecting { .. } => c.fail(now, ErrorKind::ConnectTimeout),
            State::Handshaking { .. } => c.fail(now, ErrorKind::Timeout),
            State::Writing { open } | State::Reading { open } => {
                c.end_front(now, ErrorKind::Timeout);
                c.abandon(io, now, open)
            }
            idle => (idle, Step::Wait),
        })
    }

    /// The run is being stopped hard: every outstanding request ends at `now`, and the
    /// connection closes.
    pub fn cancel(&mut self, now: u64) -> Step {
        self.run(|c, _| {
            c.end_all(now, ErrorKind::Cancelled);
            (State::Closed, Step::Wait)
        })
    }

    /// Every outstanding request fails at `now` with `kind` (the oldest keeping what
    /// arrived of its response); the connection closes.
    pub(super) fn end_all(&mut self, now: u64, kind: ErrorKind) {
        let (status, bytes) = (self.parser.status(), self.parser.bytes_so_far());
        self.pipe.settle(|i, _| {
            let (status, bytes) = if i == 0 { (status, bytes) } else { (0, 0) };
            Some(Finished {
                end: now,
                status,
                error: kind,
                bytes,
            })
        });
        self.parser.reset();
    }

    /// The connection could not open (connect, TLS handshake): every request on it
    /// fails with `kind`.
    pub(super) fn fail(&mut self, now: u64, kind: ErrorKind) -> Next {
        self.end_all(now, kind);
        (State::Closed, Step::Wait)
    }
}
