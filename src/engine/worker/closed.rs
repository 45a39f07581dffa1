//! The worker's closed loop: a connection's next requests (filling its pipeline in
//! batches), paced by `--interval`, ramped and staged (`engine/closed_loop.rs` keeps
//! that state); and `launch`, how any request is handed to its connection, and the
//! connection's next deadline.

use super::*;

impl Worker<'_> {
    /// Closed loop: fills connection `i`'s pipeline (one request without
    /// `--pipeline`), now or when pacing allows, and writes what it queued in one go;
    /// or closes the connection when the run (or its stage) is over and nothing is
    /// outstanding on it.
    pub(super) fn start_next(&mut self, i: usize, mut now: u64) {
        // With `--pipeline`, a busy connection is refilled only once half its places
        // are free: the new requests leave together, in one packet, instead of one
        // small packet per response (each costs the kernel more than the syscall).
        let refill = !self.conns[i].busy() || self.conns[i].half_free();
        loop {
            // A full pipeline first: a user whose step was just queued is not abandoned
            // because `-n` ran out with it.
            if !refill || !self.conns[i].has_room() {
                break;
            }
            let mid = self.scen.as_ref().is_some_and(|s| s.mid(i));
            let may = if mid {
                self.may_continue(now)
            } else {
                self.may_start(now)
            };
            if !may || !self.closed.active(i) {
                let it = self.scen.as_mut().and_then(|s| s.abandon(i, now));
                self.interrupted(it);
                if !self.conns[i].busy() {
                    self.conns[i].close();
                }
                break;
            }
            let c = &self.conns[i];
            if self.closed.must_wait(i, c.seq, c.last_start, now) {
                break;
            }
            let target = match self.scen.as_mut() {
                Some(s) => {
                    let c = &mut self.conns[i];
                    if s.must_wait(i, c.seq, now) {
                        break;
                    }
                    s.prepare(i, c.next_request(), now, now)
                }
                None => self.next_target(),
            };
            let req = ReqInfo {
                target,
                ..ReqInfo::default()
            };
            if let Some(end) = self.launch(i, now, req, !mid) {
                now = end;
            }
        }
        let now = self.at(now);
        let step = {
            let (conns, mut io) = self.split();
            conns[i].flush(&mut io, now)
        };
        if step == Step::Done {
            return self.after(i, step);
        }
        if let Some(hold) = self.read_hold {
            self.batch_reads(i, now, hold);
        }
    }

    /// Batched reads: connection `i`'s socket wakes the loop once enough responses
    /// are in for the next refill (half the pipeline free), instead of once per
    /// response: the server answers a connection's pipelined requests one by one,
    /// and read as they come each costs a wake-up, a read and an ACK. The hold ends
    /// `hold` ns from now at the latest ([`Worker::release`]).
    fn batch_reads(&mut self, i: usize, now: u64, hold: u64) {
        let c = &mut self.conns[i];
        // The responses a refill frees the places for (half the pipeline), whatever
        // is outstanding beyond them: the mark stays put from one batch to the next
        // (no setsockopt per read); a read that took fewer waits for a deeper refill.
        // Fewer outstanding than that (the run's end): every byte wakes the loop.
        let half = c.pipe.depth().div_ceil(2);
        let want = if c.pipe.outstanding() >= half {
            half
        } else {
            0
        };
        if c.wake_after_responses(want) {
            self.holds.push(i, now + hold);
        } else {
            self.holds.remove(i);
        }
    }

    /// Connection `i`'s hold is over: what came meanwhile is read now; unless that
    /// ended responses and the refill after them held again, the socket wakes the
    /// loop at every byte from here on.
    pub(super) fn release(&mut self, i: usize) {
        self.holds.remove(i);
        if matches!(
            self.conns[i].state(),
            State::Writing { .. } | State::Reading { .. }
        ) {
            self.on_ready(
                i,
                Ready {
                    readable: true,
                    ..Ready::default()
                },
            );
        }
        // Unless what it read made room and the refill held again.
        if !self.holds.contains(i) {
            self.conns[i].wake_after_responses(0);
        }
    }

    pub(super) fn next_target(&mut self) -> u16 {
        let n = self.started;
        self.started += 1;
        self.traffic
            .picker
            .pick(n * self.loops as u64 + self.index as u64, &mut self.rng)
    }

    /// Queues one request on connection `i` (the caller flushes it; `counts`: against
    /// `-n`, which a scenario's later steps are not); if it failed at once (a connect
    /// refused), records what ended and returns a fresh time.
    pub(super) fn launch(&mut self, i: usize, now: u64, req: ReqInfo, counts: bool) -> Option<u64> {
        let now = self.at(now);
        if counts && let Some(q) = self.quota.as_mut() {
            *q -= 1;
        }
        if let Some(p) = &self.progress {
            p.started();
        }
        let step = {
            let (conns, mut io) = self.split();
            conns[i].begin(&mut io, now, req)
        };
        match step {
            Step::Done => {
                self.collect(i);
                Some(self.tick())
            }
            // `begin` only queues or connects: it never asks to be called again.
            Step::Wait | Step::Again | Step::IdleClosed => {
                self.rearm(i);
                None
            }
        }
    }

    /// Connection `i`'s deadline: its oldest outstanding request's start plus the
    /// timeout, or none.
    pub(super) fn rearm(&mut self, i: usize) {
        let oldest = self.conns[i].oldest_start();
        self.deadlines.set(i, oldest, self.timeout_ns);
    }
}
