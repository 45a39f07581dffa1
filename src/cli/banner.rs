//! The banner `barrage run` prints before the load: what it targets, the load model
//! as the flags set it (closed loop with -c, `-R 2000/s` open loop, stages, a
//! targets file and its size), how long, and where the run goes. Lines fit
//! [`WIDTH`] columns like the summary's.

use std::fmt::Write as _;

use crate::cli::args::{RunArgs, TargetsMode};
use crate::cli::config::RunConfig;
use crate::engine::plan::Load;
use crate::report::fmt::{fmt_duration, plural};
use crate::report::terminal::{WIDTH, wrap};

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
    let plan = &cfg.plan;
    let conns = plural(plan.connections as u64, "connection");
    let model = match &plan.load {
        Load::Open {
            rate,
            max_connections,
        } => {
            let rate = match &a.rate_stages {
                Some(spec) => format!("--rate-stages {spec} (peak {}/s)", rate.max()),
                None => format!("-R {}/s", rate.max()),
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
                    plural(p.max() as u64, "connection")
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
        (Some(d), Some(n)) => format!("{} or {}", fmt_duration(d), plural(n, "request")),
        (Some(d), None) => fmt_duration(d),
        (None, Some(n)) => plural(n, "request"),
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
