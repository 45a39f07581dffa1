//! The compiled scenario set: what the engine reads at run time. Built once by
//! `compile.rs` before any process forks and then only read: scenarios with their
//! weights, every step's templates, captures, expectations and think time, the slot
//! names, the data table. Its methods are the few run-time questions a loop asks
//! (which scenario next, its data cursor, what to keep of a response).

use std::ops::Range;

use crate::cli::url::Url;
use crate::scenario::capture::Capture;
use crate::scenario::data::{DataCursor, DataTable};
use crate::scenario::file::{OnError, Order};
use crate::scenario::rng::Rng;
use crate::scenario::template::Template;
use crate::wire::expect::{Expect, ExpectSpec};

/// What the command line adds to a scenario file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The URL given on the command line: its origin replaces the file's `base`.
    pub url: Option<String>,
    /// `--expect-*`: apply to every step; a step's own `expect_*` keys win.
    pub expect: ExpectSpec,
    /// `--max-body`: the most body a regex check or a body capture keeps.
    pub max_body: usize,
}

/// A compiled scenario file.
#[derive(Debug, Clone)]
pub struct ScenarioSet {
    /// The file's name, as given.
    pub file: String,
    /// The one origin every step talks to (its `path` is `/`).
    pub origin: Url,
    pub scenarios: Vec<Scenario>,
    /// Every step of every scenario, scenario after scenario: a step's index here is
    /// its number in records (the record's `target` field).
    pub steps: Vec<Step>,
    /// Slot names: data columns, then capture names.
    pub slots: Vec<String>,
    pub data: Option<(DataTable, Order)>,
    /// Running sums of the scenarios' weights, for picking one per iteration.
    pub(crate) cumulative: Vec<u64>,
}

/// One `[[scenario]]`.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub weight: u32,
    /// Whether its virtual users keep a cookie jar.
    pub cookies: bool,
    /// Its steps' indexes in [`ScenarioSet::steps`].
    pub steps: Range<u16>,
}

/// One compiled step.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    /// Index of its scenario.
    pub scenario: u16,
    pub method: String,
    pub(crate) path: Template,
    /// Header names and value templates, in name order.
    pub(crate) headers: Vec<(String, Template)>,
    /// Index in `headers` of a `Cookie` header the step sets itself (the jar's
    /// cookies are added to it).
    pub(crate) cookie_header: Option<usize>,
    pub(crate) has_host: bool,
    pub(crate) has_user_agent: bool,
    pub(crate) body: Option<Template>,
    /// Whether the request carries `Content-Length` (a body, or POST/PUT/PATCH).
    pub(crate) sends_length: bool,
    /// The response checks (the step's own, then the `--expect-*` flags); the engine
    /// runs them as for any request.
    pub expect: Option<Expect>,
    pub(crate) captures: Vec<Capture>,
    /// Think time after this step, a uniform range in nanoseconds.
    pub think_ns: Option<(u64, u64)>,
    pub on_error: OnError,
    /// Whether the engine must keep the response head for [`crate::scenario::vu::Vu::finish`]
    /// (header captures, or the scenario's cookie jar).
    pub keeps_head: bool,
    /// Whether it must keep the body (captures on the body), up to `--max-body`.
    pub keeps_body: bool,
}

impl ScenarioSet {
    /// Picks a scenario by weight.
    pub fn pick(&self, rng: &mut Rng) -> u16 {
        let total = *self.cumulative.last().unwrap_or(&1);
        let x = rng.range(0, total - 1);
        self.cumulative.partition_point(|&c| c <= x) as u16
    }

    /// The data cursor of worker loop `index` of `loops` (all loops of the test,
    /// every shard included); `None` without a data file. Fails when sequential rows
    /// cannot give every loop its own ([`DataTable::check_split`], which the launcher
    /// should call first with the whole test's loops).
    pub fn cursor(&self, index: usize, loops: usize) -> Result<Option<DataCursor>, String> {
        self.data
            .as_ref()
            .map(|(t, order)| DataCursor::new(t, *order, index, loops))
            .transpose()
    }

    /// Whether any step needs the response head or body kept.
    pub fn keeps_responses(&self) -> bool {
        self.steps.iter().any(|s| s.keeps_head || s.keeps_body)
    }

    /// Every capture of every step (for a virtual user's scratch).
    pub fn captures(&self) -> impl Iterator<Item = &Capture> {
        self.steps.iter().flat_map(|s| s.captures.iter())
    }
}
