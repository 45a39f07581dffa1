//! What the worker does with requests that ended: the scenario user's captures and
//! iteration, the record appended to the sample log, the live counters and the
//! self-check.

use super::*;

impl Worker<'_> {
    /// Connection `i`'s request ended: its record and, in scenario runs, its user's
    /// captures and cookies (which may fail the step) and the iteration's end.
    pub(super) fn done(&mut self, i: usize, info: &ReqInfo, mut f: Finished) {
        let mut ended = None;
        if let Some(s) = self.scen.as_mut() {
            let (kind, iteration) = s.finish(i, self.conns[i].last_ended(), &f);
            f.error = kind;
            ended = iteration;
        }
        let step = info.target;
        self.record(info, f);
        if let Some(it) = ended {
            self.push_iteration(it, step);
        }
    }

    /// Records an iteration that ended (completed at `last_step`, or failed or
    /// interrupted at the step its outcome names).
    pub(super) fn push_iteration(&mut self, it: Iteration, last_step: u16) {
        let (step, kind) = match it.outcome {
            Outcome::Completed => (last_step, ErrorKind::None),
            Outcome::Failed { step, kind } => (step, kind),
        };
        self.push(&Record::iteration(it.started, it.end, step, kind));
    }

    /// The loop is over: every user still in an iteration (thinking when the run
    /// ended, or stopped mid-way) is recorded as interrupted.
    pub(super) fn interrupt_iterations(&mut self) {
        let Some(users) = self.scen.as_ref().map(ScenarioLoop::users_mid) else {
            return;
        };
        let now = self.tick();
        for i in users {
            let it = self.scen.as_mut().and_then(|s| s.abandon(i, now));
            self.interrupted(it);
        }
    }

    /// Records an iteration a user left unfinished ([`ScenarioLoop::abandon`]: its
    /// outcome names the step it stopped at), if there was one.
    pub(super) fn interrupted(&mut self, it: Option<Iteration>) {
        if let Some(it) = it {
            self.push_iteration(it, 0);
        }
    }

    /// Appends a record to the sample log; when the log cannot grow, the loop stops.
    pub(super) fn push(&mut self, rec: &Record) {
        if let Err(e) = self.writer.push(rec) {
            self.result.stats.lost += 1;
            if self.result.error.is_none() {
                self.result.error = Some(format!("cannot record samples: {e}"));
            }
            self.stopping = true;
        }
    }

    /// Records every request that ended on connection `i` (in open loop, freeing
    /// their places; a scenario user's connection is freed when its iteration ends,
    /// by `continue_open`), sets its deadline anew, and returns the last one's end.
    pub(super) fn collect(&mut self, i: usize) -> u64 {
        let mut end = self.last_tick;
        while let Some((info, f)) = self.conns[i].take_ended() {
            self.done(i, &info, f);
            if self.scen.is_none()
                && let Some(o) = self.open.as_mut()
            {
                o.release(i);
            }
            end = f.end;
        }
        self.rearm(i);
        end
    }

    /// Writes the sample of a finished request.
    pub(super) fn record(&mut self, r: &ReqInfo, f: Finished) {
        self.result.requests += 1;
        let timing = Timing {
            end: f.end,
            start: r.start,
            intended: r.scheduled.then_some(r.intended),
            connect_ns: r.connect_ns,
            tls_ns: r.tls_ns,
            first_byte: r.first_byte,
            new_conn: r.new_conn,
            resumed: r.tls_resumed,
            status: f.status,
            error: f.error,
            bytes: f.bytes,
            target: r.target,
        };
        if let Some(p) = &self.progress {
            let error = f.error as u8;
            p.record(
                timing.latency_ns(),
                reported_status(f.status, error),
                error,
                f.bytes,
            );
        }
        if f.error != ErrorKind::None {
            self.check.failed(f.error);
        }
        self.push(&Record::from_timing(&timing));
    }
}
