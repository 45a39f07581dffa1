//! Scenario runs (`--scenario`), for one worker loop: its virtual users, one per
//! connection slot, each a [`Vu`] (`src/scenario/vu.rs`) with where it is in its
//! iteration and when it may send next; the loop's data cursor; the think-time
//! wake-ups. The worker asks it for each request's bytes ([`ScenarioLoop::prepare`]
//! renders the step into the connection's buffer) and hands it each finished one
//! ([`ScenarioLoop::finish`]: captures, cookies, the kind to record, what comes next).
//!
//! Closed loop: a user runs iterations back to back on its connection; after a step
//! it waits out the step's think time (a wake-up here), then sends the next step, or
//! starts its next iteration after the last. Open loop: the schedule starts
//! iterations; the first step's intended start is the schedule's, each later step's is
//! the previous step's completion plus its think time, so a step delayed by a stalled
//! server counts the delay. The connection is the user's until its iteration ends.
//!
//! Virtual user numbers (`{{vu}}`) are unique over the test: loop `g` of `N` (all
//! processes, threads and shards) numbers its users from `floor(C * g / N) + 1`,
//! where `C` is the test's connections (open loop: `--max-connections`), the same
//! prefix sums that share the connections out.

use std::sync::Arc;

use crate::engine::inflight::{Finished, InFlight, Keep};
use crate::engine::plan::{Load, Plan};
use crate::engine::wakeups::Wakeups;
use crate::record::ErrorKind;
use crate::scenario::data::DataCursor;
use crate::scenario::set::ScenarioSet;
use crate::scenario::vu::{Next, Outcome, Response, Vu};

/// What every loop of a scenario run shares (read-only).
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    pub set: Arc<ScenarioSet>,
    /// Seeds every user's random generator (with its number).
    pub seed: u64,
    /// Unix time of the run's time base, ns (`{{now_ms}}`, cookie expiry).
    pub wall_ns: u64,
    /// `--max-body`: the most body kept for captures.
    pub max_body: usize,
}

/// A finished iteration, for its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Iteration {
    /// When it started (open loop: its intended start), ns.
    pub started: u64,
    /// When its last step ended, ns.
    pub end: u64,
    pub outcome: Outcome,
    /// Its scenario's index.
    pub scenario: u16,
}

/// One virtual user and where it is.
#[derive(Debug)]
struct User {
    vu: Vu,
    /// In an iteration: its next request is a step of it, not a new iteration.
    mid: bool,
    /// When it may send its next request (after a think time), ns.
    next_at: u64,
}

/// One loop's scenario state.
#[derive(Debug)]
pub struct ScenarioLoop {
    run: ScenarioRun,
    users: Vec<User>,
    /// The number of this loop's first user, minus one.
    base: u64,
    cursor: Option<DataCursor>,
    /// Think-time ends: (when, connection, its `seq` when queued).
    wakeups: Wakeups,
    /// Users in an iteration.
    busy: usize,
}

impl ScenarioLoop {
    /// The scenario state of the host's loop `l`. Fails only if the data file cannot
    /// give the loop rows (checked before the fork, so not expected).
    pub fn new(run: &ScenarioRun, plan: &Plan, l: usize) -> Result<ScenarioLoop, String> {
        let (g, n) = (plan.global_loop(l), plan.global_loops());
        let total = match &plan.load {
            Load::Open {
                max_connections, ..
            } => (*max_connections).max(plan.connections),
            Load::Closed { .. } => plan.connections,
        };
        Ok(ScenarioLoop {
            cursor: run.set.cursor(g, n)?,
            run: run.clone(),
            users: Vec::new(),
            base: (total as u128 * g as u128 / n.max(1) as u128) as u64,
            wakeups: Wakeups::default(),
            busy: 0,
        })
    }

    pub fn set(&self) -> &ScenarioSet {
        &self.run.set
    }

    /// Connection `i`'s user, created on first use.
    fn user(&mut self, i: usize) -> &mut User {
        while self.users.len() <= i {
            let number = self.base + self.users.len() as u64 + 1;
            self.users.push(User {
                vu: Vu::new(&self.run.set, number, self.run.seed),
                mid: false,
                next_at: 0,
            });
        }
        &mut self.users[i]
    }

    /// Connection `i`'s user is in an iteration.
    pub fn mid(&self, i: usize) -> bool {
        self.users.get(i).is_some_and(|u| u.mid)
    }

    /// Some user is in an iteration (the loop is not done while one is).
    pub fn any_mid(&self) -> bool {
        self.busy > 0
    }

    /// When connection `i`'s user may send next.
    pub fn next_at(&self, i: usize) -> u64 {
        self.users.get(i).map_or(0, |u| u.next_at)
    }

    /// Whether connection `i`'s user must wait before it sends (a think time); if so
    /// a wake-up is queued, carrying the connection's `seq`.
    pub fn must_wait(&mut self, i: usize, seq: u32, now: u64) -> bool {
        let at = self.next_at(i);
        if at > now {
            self.wakeups.push(at, i, seq);
            return true;
        }
        false
    }

    /// The next think time ending at `now`: the connection and its `seq` then.
    pub fn due(&mut self, now: u64) -> Option<(usize, u32)> {
        self.wakeups.due(now)
    }

    /// The earliest think time's end.
    pub fn next_timer(&self) -> Option<u64> {
        self.wakeups.next()
    }

    /// Renders connection `i`'s next request into `req` and returns its step (the
    /// record's `target`). A user between iterations starts one first, at `start`
    /// (open loop: its intended start). `now` is the loop's time, for `{{now_ms}}`.
    pub fn prepare(&mut self, i: usize, req: &mut InFlight, start: u64, now: u64) -> u16 {
        let unix_ms = self.unix_ms(now);
        self.user(i);
        let ScenarioLoop {
            run,
            users,
            cursor,
            busy,
            ..
        } = self;
        let (set, u) = (&*run.set, &mut users[i]);
        if !u.mid {
            u.vu.start_iteration(set, cursor.as_mut(), start);
            u.mid = true;
            *busy += 1;
        }
        let step = u.vu.current(set);
        req.keep = Keep {
            head: step.keeps_head,
            body: step.keeps_body,
            max_body: run.max_body,
        };
        req.rendered.clear();
        u.vu.render(set, unix_ms, &mut req.rendered);
        u.vu.step()
    }

    /// Connection `i`'s request ended as `f`: captures and cookies taken from the
    /// response kept in `req`. Returns the kind to record and, when the iteration
    /// ended, the iteration.
    pub fn finish(
        &mut self,
        i: usize,
        req: &InFlight,
        f: &Finished,
    ) -> (ErrorKind, Option<Iteration>) {
        if !self.mid(i) {
            return (f.error, None);
        }
        let unix_ms = self.unix_ms(f.end);
        let (set, u) = (&*self.run.set, &mut self.users[i]);
        let r = Response {
            kind: f.error,
            status: f.status,
            head: &req.head,
            body: &req.body,
        };
        let scenario = u.vu.scenario();
        let done = u.vu.finish(set, r, f.end, unix_ms);
        match done.next {
            Next::Step { at_ns } => {
                u.next_at = at_ns;
                (done.kind, None)
            }
            Next::Done {
                outcome,
                started_ns,
                at_ns,
            } => {
                u.next_at = at_ns;
                u.mid = false;
                self.busy -= 1;
                let it = Iteration {
                    started: started_ns,
                    end: f.end,
                    outcome,
                    scenario,
                };
                (done.kind, Some(it))
            }
        }
    }

    /// Connection `i`'s user leaves its iteration unfinished at `now` (the run ended
    /// or was stopped). Returns it, to be recorded as interrupted: ending now, at the
    /// step it would have sent next, of kind `cancelled` (as k6 counts interrupted
    /// iterations apart from the ones that failed).
    pub fn abandon(&mut self, i: usize, now: u64) -> Option<Iteration> {
        let u = self.users.get_mut(i).filter(|u| u.mid)?;
        u.mid = false;
        self.busy -= 1;
        Some(Iteration {
            started: u.vu.started_ns(),
            end: now.max(u.vu.started_ns()),
            outcome: Outcome::Failed {
                step: u.vu.step(),
                kind: ErrorKind::Cancelled,
            },
            scenario: u.vu.scenario(),
        })
    }

    /// The users still in an iteration (thinking, or between steps) when the loop
    /// ends.
    pub fn users_mid(&self) -> Vec<usize> {
        (0..self.users.len()).filter(|&i| self.mid(i)).collect()
    }

    /// Open loop: the user's next iteration starts on the schedule, not after a think.
    pub fn clear_wait(&mut self, i: usize) {
        if let Some(u) = self.users.get_mut(i) {
            u.next_at = 0;
        }
    }

    fn unix_ms(&self, now: u64) -> u64 {
        (self.run.wall_ns + now) / 1_000_000
    }
}
