//! The worker's open loop (`-R`, `--rate-stages`): due requests handed to free
//! connections (places, with `--pipeline`), the precise start timer, the end of the
//! schedule (unsent requests), and scenario users carried through their iterations
//! on the schedule. The schedule's own state is `engine/open_loop.rs`.

use super::*;

impl Worker<'_> {
    /// Open loop: arms the start timer for the next start if it can time it; returns
    /// whether it does.
    pub(super) fn arm_start_timer(&mut self, now: u64) -> bool {
        let room = self.has_free_connection();
        self.open.as_mut().is_some_and(|o| o.arm_timer(now, room))
    }

    pub(super) fn has_free_connection(&self) -> bool {
        self.open
            .as_ref()
            .is_some_and(|o| o.has_room(self.conns.len()))
    }

    /// Open loop: the intended start of the next request, while the schedule runs.
    pub(super) fn next_intended(&self) -> Option<u64> {
        self.open.as_ref().and_then(OpenLoop::next)
    }

    /// Open loop: hands due requests to free connections (opening more up to
    /// `--max-connections`), oldest first.
    pub(super) fn dispatch(&mut self, mut now: u64) {
        while let Some(intended) = self.next_intended() {
            if intended > now {
                break;
            }
            if !self.may_schedule(intended, now) {
                self.end_schedule(now);
                break;
            }
            let open = self.conns.len();
            let Some(o) = self.open.as_mut() else { break };
            let i = match o.connection(open) {
                Some(Free::Conn(i)) => i,
                Some(Free::New) => {
                    let depth = self.traffic.pipeline.max(1);
                    self.conns.push(Conn::new(Token(open), depth));
                    open
                }
                None => break,
            };
            o.take();
            self.check.scheduled(intended, self.at(now));
            let target = match self.scen.as_mut() {
                Some(s) => {
                    s.clear_wait(i);
                    s.prepare(i, self.conns[i].next_request(), intended, now)
                }
                None => self.next_target(),
            };
            let req = ReqInfo {
                target,
                intended,
                scheduled: true,
                ..ReqInfo::default()
            };
            let ended = match self.launch(i, now, req, true) {
                Some(end) => Some(end),
                None => {
                    let at = self.at(now);
                    let step = {
                        let (conns, mut io) = self.split();
                        conns[i].flush(&mut io, at)
                    };
                    (step == Step::Done).then(|| {
                        self.collect(i);
                        self.last_tick
                    })
                }
            };
            if let Some(end) = ended {
                now = end;
                // A user's iteration goes on (or ends, freeing the connection).
                if self.scen.is_some() {
                    self.continue_open(i, now);
                }
            }
        }
    }

    /// Open loop: whether the request intended at `intended` may still start at
    /// `now`. The run's end applies to intended starts: a request due before the end
    /// whose start the poll's timer granularity carried just past the end still
    /// starts (unless it was waiting for a connection), so `-R N -d D` sends N x D.
    pub(super) fn may_schedule(&self, intended: u64, now: u64) -> bool {
        !self.stopping
            && self.quota != Some(0)
            && self.end.is_none_or(|e| {
                let starved = self.open.as_ref().is_some_and(|o| o.starved);
                intended < e && (now < e || (!starved && now < e.saturating_add(END_SLACK_NS)))
            })
    }

    /// Open loop: no more requests start. The requests due before the end that were
    /// still waiting for a connection are unsent; requests whose only obstacle was
    /// the end of the run itself are not counted.
    pub(super) fn end_schedule(&mut self, now: u64) {
        let end = self
            .end
            .unwrap_or(u64::MAX)
            .min(self.stopped_at.unwrap_or(u64::MAX))
            .min(now);
        let quota = self.plan.loop_requests(self.l);
        if let Some(o) = self.open.as_mut() {
            self.result.stats.unsent += o.end(end, quota);
        }
    }

    /// Open loop, scenario runs: connection `i`'s user sends the next step of its
    /// iteration, intended at the previous step's end plus its think time, now or when
    /// that think time ends. The connection is freed when the iteration ends (or the
    /// run does).
    pub(super) fn continue_open(&mut self, i: usize, mut now: u64) {
        loop {
            let may = self.may_continue(now);
            let Some(s) = self.scen.as_mut() else { return };
            if !s.mid(i) || !may {
                let it = s.abandon(i, now.max(self.last_tick));
                self.interrupted(it);
                if let Some(o) = self.open.as_mut() {
                    o.release(i);
                }
                return;
            }
            let c = &mut self.conns[i];
            if s.must_wait(i, c.seq, now) {
                return;
            }
            let intended = s.next_at(i);
            let target = s.prepare(i, c.next_request(), intended, now);
            let req = ReqInfo {
                target,
                intended,
                scheduled: true,
                ..ReqInfo::default()
            };
            match self.launch(i, now, req, false) {
                Some(end) => now = end,
                None => {
                    let at = self.at(now);
                    let step = {
                        let (conns, mut io) = self.split();
                        conns[i].flush(&mut io, at)
                    };
                    if step != Step::Done {
                        return;
                    }
                    self.collect(i);
                    now = self.last_tick;
                }
            }
        }
    }
}
