//! The banner `barrage run` prints before the load: what it targets, the load model
//! as the flags set it (closed loop with -c, `-R 2000/s` open loop, stages, a
//! targets file and its size), how long, and where the run goes. Lines fit
//! [`WIDTH`] columns like the summary's. A scenario run names its file and
//! scenarios on one line, and counts virtual users and iterations (what -c, -R and
//! -n count there) instead of connections and requests.

use std::fmt::Write as _;

use crate::cli::args::{RunArgs, TargetsMode};
use crate::cli::config::RunConfig;
use crate::engine::plan::Load;
use crate::report::fmt::{fmt_duration, plural};
use crate::report::terminal::{WIDTH, wrap};
use crate::scenario::compile::ScenarioSet;

/// The banner's lines, each ending in a newline.
pub fn render(cfg: &RunConfig, a: &RunArgs) -> String {
    let mut out = String::new();
    let addr = cfg.target.addrs[0];
    let _ = match &a.targets {
        Some(file) => writeln!(
            out,
            "barrage {} -> --targets {} ({}, {}) at {addr}",
            env!("CARGO_PKG_VERSION"),
            file.display(),
            plural(cfg.target_names.len() as u64, "target"),
            match a.targets_mode {
                TargetsMode::RoundRobin => "round-robin",
                TargetsMode::Random => "random",
            }
        ),
        None => writeln!(
            out,
            "barrage {} -> {} ({addr})",
            env!("CARGO_PKG_VERSION"),
            cfg.url
        ),
    };
    if let Some(set) = &cfg.scenario {
        let _ = writeln!(out, "{}", scenario_line(set));
    }
    let plan = &cfg.plan;
    // In a scenario run a connection is a virtual user's, and the unit of -R and -n
    // is the iteration.
    let (conn, unit) = match cfg.scenario {
        Some(_) => ("virtual user", "iteration"),
        None => ("connection", "request"),
    };
    let conns = plural(plan.connections as u64, conn);
    let model = match &plan.load {
        Load::Open {
            rate,
            max_connections,
        } => {
            let per_s = match cfg.scenario {
                Some(_) => " iterations/s",
                None => "/s",
            };
            let rate = match &a.rate_stages {
                Some(spec) => format!("--rate-stages {spec} (peak {}{per_s})", rate.max()),
                None => format!("-R {}{per_s}", rate.max()),
            };
            let room = if *max_connections > plan.connections {
                format!(", up to {max_connections}")
            } else {
                String::new()
            };
            format!("{rate} open loop, {conns}{room}")
        }
        Load::Closed {
            interval,
            rampup,
            stages,
        } => {
            let mut m = match (stages, &a.conn_stages) {
                (Some(p), Some(spec)) => format!(
                    "closed loop, --conn-stages {spec} (up to {})",
                    plural(p.max() as u64, conn)
                ),
                _ => format!("closed loop, -c {conns}"),
            };
            if let Some(r) = rampup {
                let _ = write!(m, ", ramp-up {}", fmt_duration(*r));
            }
            if let Some(i) = interval {
                let _ = write!(m, ", one request per {} each", fmt_duration(*i));
            }
            m
        }
    };
    let bound = match (plan.duration, plan.requests) {
        (Some(d), Some(n)) => format!("{} or {}", fmt_duration(d), plural(n, unit)),
        (Some(d), None) => fmt_duration(d),
        (None, Some(n)) => plural(n, unit),
        (None, None) => String::new(),
    };
    let pipeline = match cfg.pipeline {
        1 => String::new(),
        n => format!(", pipeline {n}"),
    };
    let _ = writeln!(out, "  load         {model}{pipeline}; {bound}");
    let shard = if plan.shard_count > 1 {
        format!(
            ", shard {}/{} of the test",
            plan.shard_index, plan.shard_count
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "  workers      {} x {}{shard}",
        plural(plan.processes as u64, "process"),
        plural(plan.threads as u64, "thread")
    );
    let _ = writeln!(out, "  run dir      {}", cfg.out.display());
    wrap(&out, WIDTH)
}

/// `  scenario     examples/shop.toml: buy (login, items, checkout) 75%, browse ...`:
/// the file and its scenarios (weight shares) with their steps, on one line of
/// [`WIDTH`] columns: step names if they fit, else step counts, else only totals.
fn scenario_line(set: &ScenarioSet) -> String {
    let total: u64 = set.scenarios.iter().map(|s| s.weight as u64).sum();
    let share = |w: u32| {
        if set.scenarios.len() == 1 {
            String::new()
        } else {
            format!(" {}%", (w as u64 * 100 + total / 2) / total.max(1))
        }
    };
    let named = set.scenarios.iter().map(|s| {
        let steps: Vec<&str> = set.steps[s.steps.start as usize..s.steps.end as usize]
            .iter()
            .map(|st| st.name.as_str())
            .collect();
        format!("{} ({}){}", s.name, steps.join(", "), share(s.weight))
    });
    let counted = set.scenarios.iter().map(|s| {
        let n = (s.steps.end - s.steps.start) as u64;
        format!("{} ({}){}", s.name, plural(n, "step"), share(s.weight))
    });
    let lead = format!("  scenario     {}: ", set.file);
    let fits = |l: &String| l.chars().count() <= WIDTH;
    [
        named.collect::<Vec<_>>().join(", "),
        counted.collect::<Vec<_>>().join(", "),
    ]
    .into_iter()
    .map(|list| format!("{lead}{list}"))
    .find(fits)
    .unwrap_or_else(|| {
        format!(
            "{lead}{}, {}",
            plural(set.scenarios.len() as u64, "scenario"),
            plural(set.steps.len() as u64, "step")
        )
    })
}
