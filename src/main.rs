//! `barrage`: parse the command line, run the subcommand, print its error in one
//! line, exit with a code that says what happened.

use std::process::ExitCode;

use clap::Parser;

use barrage::cli::{Cli, Command, MergeArgs, RunArgs};
use barrage::config::RunConfig;
use barrage::merge::{self, Column, CsvOptions};
use barrage::summary::Summary;
use barrage::{launcher, serve};

/// Exit codes: 0 success, 1 error before or after the load, 2 bad command line
/// (clap), 3 a worker process failed or was killed (its samples are still merged).
fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("barrage: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match cli.command {
        Command::Run(a) => run_load(&a),
        Command::Merge(a) => run_merge(&a),
        Command::Serve(a) => {
            serve::run(&a)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_load(a: &RunArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let cfg = RunConfig::from_args(a)?;
    if !cfg.quiet {
        let bound = match (cfg.duration, cfg.requests) {
            (Some(d), Some(n)) => format!("{:?} or {n} requests", d),
            (Some(d), None) => format!("{:?}", d),
            (None, Some(n)) => format!("{n} requests"),
            (None, None) => unreachable!("config sets a bound"),
        };
        println!(
            "barrage {} -> {} ({}): {} processes x {} threads, {} connections, {bound}",
            env!("CARGO_PKG_VERSION"),
            cfg.url,
            cfg.target.addrs[0],
            cfg.processes,
            cfg.threads,
            cfg.connections,
        );
        println!("  run dir      {}", cfg.out.display());
    }
    let out = launcher::run(&cfg)?;
    let mut code = ExitCode::SUCCESS;
    for c in &out.children {
        if let Some(p) = &c.problem {
            eprintln!(
                "barrage: worker process {} (pid {}) {p}; its samples up to that point are kept",
                c.index, c.pid
            );
            code = ExitCode::from(3);
        }
    }
    if out.interrupted > 0 {
        eprintln!("barrage: stopped early by signal; every request sent so far is recorded");
    }
    if cfg.quiet {
        println!("{}", out.dir.display());
    } else {
        print!("{}", out.summary.render());
        if let Some(csv) = &out.csv {
            println!("  results.csv  {}", csv.display());
        }
    }
    Ok(code)
}

fn run_merge(a: &MergeArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let files = merge::open_run(&a.dirs)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| a.dirs[0].join("results.csv"));
    let columns = match &a.columns {
        Some(s) => Column::parse_list(s)?,
        None => Vec::new(),
    };
    let opts = CsvOptions {
        precision: a.precision,
        uncorrected: a.latency_uncorrected,
        columns,
        header: a.header,
    };
    let mut summary = Summary::new(!a.latency_uncorrected);
    for f in &files {
        summary.stats.add(&f.header.stats);
    }
    let rows = merge::write_csv(&files, &out, &opts, |r, _| summary.add(r))?;
    println!(
        "barrage merge: {rows} rows from {} sample files -> {}",
        files.len(),
        out.display()
    );
    print!("{}", summary.render());
    Ok(ExitCode::SUCCESS)
}
