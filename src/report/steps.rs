//! Scenario runs in the report: each step's requests (count, errors by kind, latency
//! percentiles) and the iterations (count, completed, failed by step and kind,
//! duration percentiles), from the step index in every request's record (`target`)
//! and the iteration records (`FLAG_ITERATION`). The steps' names come from the run
//! directory's `scenario.json` (`record::rundir::step_names`). What summary.json,
//! the terminal summary and `--fail-if 'checkout.p99 > 200ms'` read.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::histograms::{MAX_LATENCY_NS, clamp_quantile, overall_histogram};
use super::{Moments, Sample, error_name};
use crate::record::{ErrorKind, Record};

/// One step in summary.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    /// `scenario.step`.
    pub name: String,
    pub count: u64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Latency of its successful requests; `null` when none succeeded.
    pub latency_s: Option<Percentiles>,
}

/// The iterations in summary.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationSummary {
    pub count: u64,
    pub completed: u64,
    /// Failed iterations by where and why: `"scenario.step: kind"`.
    pub failed: BTreeMap<String, u64>,
    /// Iterations the end of the run (or a stop) cut short: a user thinking, or
    /// between steps, or with a request cancelled. In `count`, not in `failed`.
    #[serde(default)]
    pub interrupted: u64,
    /// Duration of every iteration that ended (completed or failed; not the
    /// interrupted), from its start (open loop: intended) to its last step's end;
    /// `null` when none ended.
    pub duration_s: Option<Percentiles>,
}

/// Percentiles and extremes, seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// A latency series: exact extremes, HdrHistogram percentiles.
struct Series {
    moments: Moments,
    hist: Histogram<u64>,
}

impl Series {
    fn new() -> Series {
        Series {
            moments: Moments::default(),
            hist: overall_histogram(),
        }
    }

    fn add(&mut self, ns: u64) {
        let ns = ns.min(MAX_LATENCY_NS);
        self.moments.add(ns);
        self.hist.saturating_record(ns);
    }

    fn percentiles(&self) -> Option<Percentiles> {
        let m = &self.moments;
        (m.count > 0).then(|| {
            let q = |q: f64| clamp_quantile(&self.hist, q, m) as f64 / 1e9;
            Percentiles {
                p50: q(0.5),
                p90: q(0.9),
                p99: q(0.99),
                max: m.max as f64 / 1e9,
            }
        })
    }
}

struct Step {
    count: u64,
    errors: BTreeMap<u8, u64>,
    latency: Series,
}

/// The streaming part of the report for a scenario run.
pub struct Steps {
    names: Vec<String>,
    steps: Vec<Step>,
    iterations: u64,
    completed: u64,
    failed: BTreeMap<(u16, u8), u64>,
    interrupted: u64,
    durations: Series,
}

impl Steps {
    pub fn new(names: Vec<String>) -> Steps {
        Steps {
            steps: Vec::new(),
            names,
            iterations: 0,
            completed: 0,
            failed: BTreeMap::new(),
            interrupted: 0,
            durations: Series::new(),
        }
    }

    fn step(&mut self, i: u16) -> &mut Step {
        while self.steps.len() <= i as usize {
            self.steps.push(Step {
                count: 0,
                errors: BTreeMap::new(),
                latency: Series::new(),
            });
        }
        &mut self.steps[i as usize]
    }

    /// A step's request (`target` is its step).
    pub fn add_request(&mut self, target: u16, s: &Sample) {
        let st = self.step(target);
        st.count += 1;
        if s.error != 0 {
            *st.errors.entry(s.error).or_insert(0) += 1;
        } else {
            st.latency.add(s.latency_ns);
        }
    }

    /// An iteration record.
    pub fn add_iteration(&mut self, r: &Record) {
        self.iterations += 1;
        if r.error == ErrorKind::Cancelled as u8 {
            // Cut short, not failed: its duration is the run's, not the iteration's.
            self.interrupted += 1;
            return;
        }
        if r.error == 0 {
            self.completed += 1;
        } else {
            *self.failed.entry((r.target, r.error)).or_insert(0) += 1;
        }
        self.durations.add(r.service_ns());
    }

    fn name(&self, i: usize) -> String {
        self.names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("step {i}"))
    }

    /// The per-step table and the iterations, for the summary.
    pub fn summaries(&self) -> (Vec<StepSummary>, IterationSummary) {
        let steps = (0..self.steps.len().max(self.names.len()))
            .map(|i| {
                let (count, errors, latency_s) = match self.steps.get(i) {
                    Some(s) => (s.count, s.errors.clone(), s.latency.percentiles()),
                    None => (0, BTreeMap::new(), None),
                };
                StepSummary {
                    name: self.name(i),
                    count,
                    errors: errors.values().sum(),
                    errors_by_kind: errors
                        .iter()
                        .map(|(k, n)| (error_name(*k).to_string(), *n))
                        .collect(),
                    latency_s,
                }
            })
            .collect();
        let iterations = IterationSummary {
            count: self.iterations,
            completed: self.completed,
            failed: self
                .failed
                .iter()
                .map(|((step, kind), n)| {
                    (
                        format!("{}: {}", self.name(*step as usize), error_name(*kind)),
                        *n,
                    )
                })
                .collect(),
            interrupted: self.interrupted,
            duration_s: self.durations.percentiles(),
        };
        (steps, iterations)
    }
}
