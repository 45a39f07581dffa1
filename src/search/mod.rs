//! `barrage search`: the highest request rate that holds an SLO. Open-loop steps at
//! rising rates (doubling from `--from` until a step breaks the SLO, or `--to`), then
//! bisection between the last passing and the first failing rate until they are
//! within `--precision`. Every step is an ordinary `barrage run` (the launcher forks
//! its workers per step; this process starts no thread, so every fork is sound) into
//! its own run directory, `search-<time>/step-NN-<rate>/`.
//!
//! A step is judged by the SLOs and by its verdict (`report/verdict.rs`): a step the
//! generator could not drive (bound, starved, short of ports or files) ends the search
//! and is never reported as the server's capacity.
//!
//! - here: the options checked, the steps run, one line each, the ending printed.
//! - `plan.rs`: which rate comes next ([`plan::Search`]), pure and unit-tested.
//! - `output.rs`: search.json and search.html.

pub mod output;
pub mod plan;

use std::path::{Path, PathBuf};

use crate::cli::args::SearchArgs;
use crate::cli::config::RunConfig;
use crate::cli::exit::THRESHOLD_FAILED;
use crate::engine::launcher;
use crate::report::Summary;
use crate::report::thresholds::Threshold;
use crate::{errln, outln};

use plan::{Outcome, Search};

/// Why a search could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// No `--slo`.
    #[error("barrage search needs at least one --slo, like --slo 'p99 < 50ms'")]
    NoSlo,
    /// `--from` or `--to` is not a positive rate, or `--from` is above `--to`.
    #[error("{0}")]
    Rates(String),
    /// An option `search` sets itself for every step.
    #[error(
        "{0} is set by barrage search for every step: drop it (use --from, --to and --step-duration)"
    )]
    Owned(&'static str),
    #[error(
        "cannot create the search directory {path}: {source} (choose a writable place with -o)"
    )]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A step could not run: the run's own error, which names its step.
    #[error("step {step} ({rate} req/s): {why}")]
    Step {
        step: usize,
        rate: String,
        why: String,
    },
}

/// One step as the search saw it.
#[derive(Debug, Clone)]
pub struct Step {
    pub n: usize,
    pub rate: f64,
    pub dir: PathBuf,
    pub summary: Option<Summary>,
    /// The SLOs the step broke, each as `--fail-if`'s line says it.
    pub broken: Vec<String>,
    pub outcome: Outcome,
}

/// A rate for names and lines: whole numbers above 10, else two decimals.
pub fn fmt_rate(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}")
    } else {
        crate::report::fmt::trim(format!("{r:.2}"))
    }
}

/// Checks the options: an SLO, sane rates, and none of the options each step sets.
fn check(a: &SearchArgs) -> Result<(f64, Option<f64>), SearchError> {
    if a.slo.is_empty() {
        return Err(SearchError::NoSlo);
    }
    let from = a.from.unwrap_or(100.0);
    let bad = |name: &str, v: f64| {
        SearchError::Rates(format!(
            "{name} {v} is not a rate: give requests per second above 0"
        ))
    };
    if !(from.is_finite() && from > 0.0) {
        return Err(bad("--from", from));
    }
    if let Some(to) = a.to {
        if !(to.is_finite() && to > 0.0) {
            return Err(bad("--to", to));
        }
        if from > to {
            return Err(SearchError::Rates(format!(
                "--from {} is above --to {}: the search climbs from --from to --to",
                fmt_rate(from),
                fmt_rate(to)
            )));
        }
    }
    let r = &a.run;
    if r.rate.is_some() {
        return Err(SearchError::Owned("-R/--rate"));
    }
    if r.rate_stages.is_some() {
        return Err(SearchError::Owned("--rate-stages"));
    }
    if r.duration.is_some() {
        return Err(SearchError::Owned("-d/--duration"));
    }
    if r.requests.is_some() {
        return Err(SearchError::Owned("-n/--requests"));
    }
    if a.step_duration.is_zero() {
        return Err(SearchError::Rates(
            "--step-duration must be above zero".to_string(),
        ));
    }
    Ok((from, a.to))
}

/// The SLOs `s` breaks, each in words. An SLO states what must hold: `p99 < 50ms`
/// is broken by a p99 of 50 ms or more, or by no p99 at all (no request succeeded).
pub fn broken(slos: &[Threshold], s: &Summary) -> Vec<String> {
    slos.iter()
        .filter_map(|t| {
            let actual = t.metric.value(s);
            let holds = actual.is_some_and(|v| t.op.holds(v, t.value));
            (!holds).then(|| match actual {
                Some(v) => format!("{t} broken ({} = {})", t.metric.name(), t.metric.show(v)),
                None => format!("{t} broken ({} has no value)", t.metric.name()),
            })
        })
        .collect()
}

/// Runs the search; returns the exit code.
pub fn run(a: &SearchArgs) -> Result<u8, Box<dyn std::error::Error>> {
    let (from, to) = check(a)?;
    let dir = a.run.out.clone().unwrap_or_else(default_dir);
    // The whole request set-up is checked once, before any load.
    let mut first = a.run.clone();
    first.rate = Some(from);
    first.duration = Some(a.step_duration);
    first.out = Some(dir.join("step-check"));
    RunConfig::from_args(&first)?;
    std::fs::create_dir_all(&dir).map_err(|source| SearchError::Dir {
        path: dir.clone(),
        source,
    })?;
    let url = a.run.url.clone().unwrap_or_default();
    outln!(
        "barrage search {url}: SLO {}; steps of {} from {} req/s{}; precision {}%",
        a.slo
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        crate::report::fmt::fmt_duration(a.step_duration),
        fmt_rate(from),
        to.map_or(String::new(), |t| format!(" up to {}", fmt_rate(t))),
        crate::report::fmt::trim(format!("{:.2}", a.search_precision * 100.0))
    );
    let mut search = Search::new(from, to, a.search_precision);
    let mut steps: Vec<Step> = Vec::new();
    while let Some(rate) = search.next() {
        let n = steps.len() + 1;
        let step = run_step(a, &dir, n, rate)?;
        outln!("{}", step_line(&step));
        let stop = step.outcome == Outcome::Interrupted;
        search.record(rate, step.outcome);
        steps.push(step);
        if stop {
            errln!("barrage: search stopped by signal; the steps so far are kept");
            break;
        }
    }
    let end = search.end();
    let text = output::ending(&end, &steps);
    for line in text.lines() {
        outln!("{line}");
    }
    let json = output::json(a, &end, &steps);
    let path = dir.join("search.json");
    std::fs::write(&path, json).map_err(|source| SearchError::Dir {
        path: path.clone(),
        source,
    })?;
    let html = dir.join("search.html");
    std::fs::write(&html, output::html(a, &end, &steps)).map_err(|source| SearchError::Dir {
        path: html.clone(),
        source,
    })?;
    outln!("  search.json  {}", path.display());
    outln!("  search.html  {}", html.display());
    Ok(if end.max_rate.is_some() {
        0
    } else {
        THRESHOLD_FAILED
    })
}

/// Runs one step at `rate` and judges it.
fn run_step(a: &SearchArgs, dir: &Path, n: usize, rate: f64) -> Result<Step, SearchError> {
    let mut r = a.run.clone();
    r.rate = Some(rate);
    r.duration = Some(a.step_duration);
    r.quiet = true;
    r.fail_if.clear();
    let out = dir.join(format!("step-{n:02}-{}", fmt_rate(rate)));
    r.out = Some(out.clone());
    let fail = |why: String| SearchError::Step {
        step: n,
        rate: fmt_rate(rate),
        why,
    };
    let cfg = RunConfig::from_args(&r).map_err(|e| fail(e.to_string()))?;
    let o = launcher::run(&cfg).map_err(|e| fail(e.to_string()))?;
    if let Some(c) = o.children.iter().find(|c| c.problem.is_some()) {
        return Err(fail(format!(
            "worker process {} {}",
            c.index,
            c.problem.as_deref().unwrap_or("failed")
        )));
    }
    let summary = o.report.map(|r| r.summary);
    let (broken, outcome) = match &summary {
        _ if o.interrupted > 0 => (Vec::new(), Outcome::Interrupted),
        None => (
            vec!["no report could be built".to_string()],
            Outcome::Broken,
        ),
        Some(s) => {
            let b = broken(&a.slo, s);
            let outcome = if s.verdict.as_ref().is_some_and(|v| v.generator_limited) {
                Outcome::Generator
            } else if b.is_empty() {
                Outcome::Held
            } else {
                Outcome::Broken
            };
            (b, outcome)
        }
    };
    Ok(Step {
        n,
        rate,
        dir: out,
        summary,
        broken,
        outcome,
    })
}

/// `step 03  200 req/s  achieved 199.7/s  p50 10.1ms  p99 12.3ms  max 15.0ms
/// errors 0.00%  server-bound  held`.
pub fn step_line(s: &Step) -> String {
    use crate::report::fmt::fmt_secs;
    let Some(sum) = &s.summary else {
        return format!("step {:02}  {} req/s  no report", s.n, fmt_rate(s.rate));
    };
    let lat = |f: fn(&crate::report::json::Latency) -> f64| {
        sum.latency_s
            .as_ref()
            .map_or("-".to_string(), |l| fmt_secs(f(l)))
    };
    let verdict = sum
        .verdict
        .as_ref()
        .map_or("no verdict", |v| v.limit.name());
    let what = match s.outcome {
        Outcome::Held => "held".to_string(),
        Outcome::Broken => format!("BROKEN: {}", s.broken.join("; ")),
        Outcome::Generator => "the generator was the limit".to_string(),
        Outcome::Interrupted => "interrupted".to_string(),
    };
    format!(
        "step {:02}  {} req/s  achieved {:.1}/s  p50 {}  p99 {}  max {}  errors {:.2}%  {verdict}  {what}",
        s.n,
        fmt_rate(s.rate),
        sum.requests.rps,
        lat(|l| l.p50),
        lat(|l| l.p99),
        lat(|l| l.max),
        100.0 * sum.requests.error_ratio
    )
}

/// `./barrage-runs/search-<UTC time>`.
fn default_dir() -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let base = PathBuf::from("barrage-runs")
        .join(format!("search-{}", crate::time::utc_stamp(now.as_secs())));
    (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                PathBuf::from(format!("{}-{n}", base.display()))
            }
        })
        .find(|p| !p.exists())
        .expect("a free name")
}
