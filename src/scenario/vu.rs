//! One virtual user: what it holds between requests (captured values and data row in
//! slots, its cookie jar, its random generator, the iteration and the step it is at)
//! and the three calls the engine makes, so that running scenarios in a mio loop is a
//! thin layer over plain requests:
//!
//! 1. [`Vu::start_iteration`] when the user may begin an iteration (closed loop: at
//!    once and after each `Done`; open loop: when the schedule starts one): picks the
//!    scenario by weight, takes a data row, empties captures and cookies.
//! 2. [`Vu::render`] to write the current step's request into the connection's buffer.
//!    [`Vu::step`] is the step's number for its record; [`Vu::current`] tells what
//!    of the response to keep (`keeps_head`, `keeps_body`) and its expectations.
//! 3. [`Vu::finish`] with the request's outcome (the engine's error kind: a transport
//!    failure, a failed expectation, or none) and, for a complete response, its status,
//!    head and body. It stores cookies, applies captures (a capture that finds nothing
//!    makes the kind `capture failed`), and answers with the kind to record and what
//!    comes next: the next step at a given time (completion plus think time), or the
//!    iteration done, completed or failed at a step with a kind.
//!
//! A failed step ends the iteration unless it says `on_error = "continue"`; then the
//! iteration goes on and ends failed at its first failed step. Think time follows
//! every step, failed or not, the last one too (it delays the next iteration).
//! Nothing here reads a clock: time comes in as arguments. Once warm (slots, jar and
//! buffers grown to their working size) no call allocates.

use crate::record::{ErrorKind, FIRST_CHECK_ERROR};
use crate::scenario::capture::Scratch;
use crate::scenario::cookies::CookieJar;
use crate::scenario::data::DataCursor;
use crate::scenario::file::OnError;
use crate::scenario::request;
use crate::scenario::rng::Rng;
use crate::scenario::set::{ScenarioSet, Step};
use crate::scenario::template::Ctx;

/// A finished request as the engine saw it.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    /// [`ErrorKind::None`], a transport failure (no complete response), or a failed
    /// `expect_*` check (a complete response).
    pub kind: ErrorKind,
    /// The status line's code (0 when no head arrived).
    pub status: u16,
    /// The response head as received (empty unless the step `keeps_head`).
    pub head: &'a [u8],
    /// The decoded body (empty unless the step `keeps_body`).
    pub body: &'a [u8],
}

/// How an iteration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// At step `step` (its index in [`ScenarioSet::steps`]), with `kind`.
    Failed {
        step: u16,
        kind: ErrorKind,
    },
}

/// What the engine does after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Render and send the next step at `at_ns` (in open loop: its intended start).
    Step { at_ns: u64 },
    /// The iteration is over; the user's next one may start at `at_ns`. `started_ns`
    /// is what [`Vu::start_iteration`] was given: the duration is the engine's
    /// completion time minus it.
    Done {
        outcome: Outcome,
        started_ns: u64,
        at_ns: u64,
    },
}

/// [`Vu::finish`]'s answer: the kind to record for this request, and what comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    pub kind: ErrorKind,
    pub next: Next,
}

/// One virtual user's state.
#[derive(Debug, Clone)]
pub struct Vu {
    /// `{{vu}}`: from 1, unique over the test.
    pub number: u64,
    /// `{{iteration}}`: from 1; 0 before the first.
    pub iteration: u64,
    scenario: u16,
    /// The step in flight or next to send (index in the set's steps).
    step: u16,
    slots: Vec<Vec<u8>>,
    jar: CookieJar,
    rng: Rng,
    scratch: Scratch,
    /// The path of the request in flight (cookies are matched against it).
    path: Vec<u8>,
    /// The iteration's first failure.
    failed: Option<(u16, ErrorKind)>,
    started_ns: u64,
}

impl Vu {
    /// Virtual user `number` (from 1, unique over the whole test) of a run whose
    /// random numbers are seeded with `seed`.
    pub fn new(set: &ScenarioSet, number: u64, seed: u64) -> Vu {
        Vu {
            number,
            iteration: 0,
            scenario: 0,
            step: 0,
            slots: vec![Vec::new(); set.slots.len()],
            jar: CookieJar::default(),
            rng: Rng::new(seed, number),
            scratch: Scratch::new(set.captures()),
            path: Vec::new(),
            failed: None,
            started_ns: 0,
        }
    }

    /// Begins the next iteration at `start_ns` (in open loop, its intended start): a
    /// scenario picked by weight, the loop's next data row (`data` is the loop's
    /// cursor, `None` without a data file), empty captures and cookie jar.
    pub fn start_iteration(
        &mut self,
        set: &ScenarioSet,
        data: Option<&mut DataCursor>,
        start_ns: u64,
    ) {
        let scenario = set.pick(&mut self.rng);
        self.start_scenario(set, scenario, data, start_ns);
    }

    /// [`Vu::start_iteration`] with the scenario given (`--dry-run` shows each).
    pub fn start_scenario(
        &mut self,
        set: &ScenarioSet,
        scenario: u16,
        data: Option<&mut DataCursor>,
        start_ns: u64,
    ) {
        self.iteration += 1;
        self.scenario = scenario;
        self.step = set.scenarios[self.scenario as usize].steps.start;
        for s in &mut self.slots {
            s.clear();
        }
        if let (Some(cursor), Some((table, _))) = (data, &set.data) {
            let row = cursor.next_row(&mut self.rng);
            for (col, slot) in self.slots[..table.columns.len()].iter_mut().enumerate() {
                slot.extend_from_slice(table.cell(row, col));
            }
        }
        self.jar.clear();
        self.failed = None;
        self.started_ns = start_ns;
    }

    /// When the current iteration started (what [`Vu::start_iteration`] was given).
    pub fn started_ns(&self) -> u64 {
        self.started_ns
    }

    /// The current step's index in the set's steps (what its record carries).
    pub fn step(&self) -> u16 {
        self.step
    }

    /// The current step.
    pub fn current<'s>(&self, set: &'s ScenarioSet) -> &'s Step {
        &set.steps[self.step as usize]
    }

    /// The current scenario's index.
    pub fn scenario(&self) -> u16 {
        self.scenario
    }

    /// Appends the current step's request to `out`; `unix_ms` is the run clock's Unix
    /// time in milliseconds (`{{now_ms}}`, cookie expiry).
    pub fn render(&mut self, set: &ScenarioSet, unix_ms: u64, out: &mut Vec<u8>) {
        let step = &set.steps[self.step as usize];
        let cookies = set.scenarios[self.scenario as usize].cookies;
        let mut ctx = Ctx {
            slots: &self.slots,
            vu: self.number,
            iteration: self.iteration,
            unix_ms,
            rng: &mut self.rng,
        };
        let jar = cookies.then_some(&self.jar);
        request::render(
            step, &set.origin.authority, &mut ctx, jar, &mut self.path, out,
        );
    }

    /// The current step's request finished at `now_ns` (`unix_ms` on the run's
    /// clock): returns the kind to record and what comes next.
    pub fn finish(
        &mut self,
        set: &ScenarioSet,
        r: Response<'_>,
        now_ns: u64,
        unix_ms: u64,
    ) -> Finished {
        let step = &set.steps[self.step as usize];
        let scenario = &set.scenarios[self.scenario as usize];
        let complete = r.kind == ErrorKind::None || r.kind as u8 >= FIRST_CHECK_ERROR;
        if complete && scenario.cookies {
            self.jar.absorb(r.head, &self.path, unix_ms);
        }
        let mut kind = r.kind;
        if kind == ErrorKind::None {
            for c in &step.captures {
                let slot = &mut self.slots[c.slot as usize];
                if !c.apply(r.head, r.body, &mut self.scratch, slot) {
                    kind = ErrorKind::CaptureFailed;
                }
            }
        }
        if kind != ErrorKind::None && self.failed.is_none() {
            self.failed = Some((self.step, kind));
        }
        let think = step.think_ns.map_or(0, |(lo, hi)| self.rng.range(lo, hi));
        let at_ns = now_ns.saturating_add(think);
        let last = self.step + 1 >= scenario.steps.end;
        let give_up = kind != ErrorKind::None && step.on_error == OnError::End;
        let next = if last || give_up {
            Next::Done {
                outcome: match self.failed {
                    None => Outcome::Completed,
                    Some((step, kind)) => Outcome::Failed { step, kind },
                },
                started_ns: self.started_ns,
                at_ns,
            }
        } else {
            self.step += 1;
            Next::Step { at_ns }
        };
        Finished { kind, next }
    }

    /// Moves to step `step` of the current scenario without a response (`--dry-run`
    /// renders every step so; captured values stay empty).
    pub fn goto(&mut self, step: u16) {
        self.step = step;
    }

    /// The current value of a slot (for tests and `--dry-run`).
    pub fn slot(&self, i: usize) -> &[u8] {
        &self.slots[i]
    }
}

#[cfg(test)]
#[path = "vu_tests.rs"]
mod tests;
