//! `barrage`: parse the command line, run the subcommand, print its error in one
//! line, exit with a code that says what happened.

#![deny(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;

use barrage::cli::args::{Cli, Command, MergeArgs, ReportArgs, RunArgs};
use barrage::cli::banner;
use barrage::cli::config::RunConfig;
use barrage::cli::exit::{self, Ending, THRESHOLD_FAILED};
use barrage::cli::shell;
use barrage::engine::launcher;
use barrage::record::{Column, CsvOptions, rundir};
use barrage::report::finish::{ReportOut, merge_and_report};
use barrage::report::fmt::plural;
use barrage::report::source::Input;
use barrage::report::terminal as summary;
use barrage::report::thresholds::{self, Threshold};
use barrage::report::{self, ReportOptions, Summary, compare};
use barrage::{console, errln, out, outln, serve};

fn main() -> ExitCode {
    console::ignore_sigpipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            errln!("barrage: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match cli.command {
        Command::Run(a) => run_load(&a),
        Command::Merge(a) => run_merge(&a),
        Command::Report(a) => run_report(&a),
        Command::Serve(a) => {
            serve::run(&a)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions(a) => {
            let mut out = Vec::new();
            shell::completions(a.shell, &mut out);
            out!("{}", String::from_utf8_lossy(&out));
            Ok(ExitCode::SUCCESS)
        }
        Command::Manpage(a) => {
            match &a.out {
                Some(dir) => {
                    for f in shell::manpages_to(dir).map_err(|e| {
                        format!("cannot write man pages into {}: {e} (choose a writable directory with --out)", dir.display())
                    })? {
                        outln!("{}", f.display());
                    }
                }
                None => {
                    let mut out = Vec::new();
                    shell::manpage(&mut out)?;
                    out!("{}", String::from_utf8_lossy(&out));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Search(a) => Ok(ExitCode::from(barrage::search::run(&a)?)),
    }
}

fn run_load(a: &RunArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let cfg = RunConfig::from_args(a)?;
    for w in &cfg.warnings {
        errln!("barrage: warning: {w}");
    }
    if a.dry_run
        && let Some(set) = &cfg.scenario
    {
        let unix_ms = barrage::time::wall_ns() / 1_000_000;
        out!(
            "{}",
            barrage::scenario::dry_run::render(set, cfg.seed, unix_ms)
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !cfg.quiet {
        out!("{}", banner::render(&cfg, a));
    }
    let out = launcher::run(&cfg)?;
    let mut end = Ending {
        signal: out.stop_signal,
        ..Ending::default()
    };
    for c in &out.children {
        if let Some(p) = &c.problem {
            errln!(
                "barrage: worker process {} (pid {}) {p}; its samples up to that point are kept",
                c.index,
                c.pid
            );
            end.worker_failed = true;
        }
    }
    if out.interrupted > 0 {
        errln!("barrage: stopped early by signal; every request sent so far is recorded");
    }
    if cfg.quiet {
        outln!("{}", out.dir.display());
    } else {
        if let Some(r) = &out.report {
            out!("{}", summary::render(&r.summary));
        }
        if let Some(csv) = &out.csv {
            outln!("  results.csv  {}", csv.display());
        }
        if let Ok(files) = &out.report_files
            && let Some(html) = files.first()
        {
            outln!("  report       {}", html.display());
        }
    }
    if let Err(e) = &out.report_files {
        errln!(
            "barrage: error: {e}; the samples are kept: `barrage report {}` tries again",
            out.dir.display()
        );
        end.error = true;
    }
    if let Some(r) = &out.report {
        if let Some(why) = exit::no_success_reason(&r.summary, cfg.target.addrs[0], cfg.timeout) {
            errln!("barrage: no request succeeded: {why}");
            end.no_success = true;
        }
        end.threshold_failed = !check_thresholds(&a.fail_if, &r.summary, cfg.quiet);
    }
    Ok(ExitCode::from(end.code()))
}

/// Checks `--fail-if` thresholds: one stderr line per failed one. True if all passed.
fn check_thresholds(ts: &[Threshold], s: &Summary, quiet: bool) -> bool {
    if ts.is_empty() {
        return true;
    }
    let verdicts = thresholds::check(ts, s);
    let failed = verdicts.iter().filter(|v| v.failed).count();
    for v in verdicts.iter().filter(|v| v.failed) {
        errln!("barrage: {}", v.line());
    }
    if !quiet {
        outln!(
            "  thresholds   {} of {} passed",
            verdicts.len() - failed,
            verdicts.len()
        );
    }
    failed == 0
}

fn run_report(a: &ReportArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let opts = ReportOptions {
        interval_ns: a.interval.as_nanos().min(u64::MAX as u128) as u64,
        corrected: !a.latency_uncorrected,
        ..Default::default()
    };
    if let Some(pair) = &a.compare {
        let mut sums = Vec::new();
        for p in pair {
            let input = Input::resolve(std::slice::from_ref(p))?;
            sums.push(input.summary(opts.clone(), a.skip_bad_lines)?);
        }
        out!(
            "{}",
            compare::render(
                &pair[0].display().to_string(),
                &sums[0],
                &pair[1].display().to_string(),
                &sums[1]
            )
        );
        let ok = check_thresholds(&a.fail_if, &sums[1], false);
        return Ok(ExitCode::from(if ok { 0 } else { THRESHOLD_FAILED }));
    }
    let input = Input::resolve(&a.input)?;
    let rep = input.build(opts, a.skip_bad_lines)?;
    let dir = a.out.clone().unwrap_or_else(|| input.default_out());
    let files = report::write_files(&rep, &dir)?;
    let s = &rep.summary;
    if s.source.skipped_lines > 0 {
        errln!(
            "barrage: skipped {} bad lines (--skip-bad-lines)",
            s.source.skipped_lines
        );
    }
    if s.late_rows > 0 {
        errln!(
            "barrage: {} rows were more than {} s out of time order: counted in the totals but in no interval (sort the file by its first column to place them)",
            s.late_rows,
            report::source::CSV_REORDER_WINDOW_NS / 1_000_000_000
        );
    }
    out!("{}", summary::render(s));
    if let Some(html) = files.first() {
        outln!("  report       {}", html.display());
    }
    outln!(
        "  files        {} {} {} {} {}/ in {}",
        report::names::INTERVALS,
        report::names::SUMMARY,
        report::names::HLOG,
        report::names::HGRM,
        report::names::CHARTS,
        dir.display()
    );
    let ok = check_thresholds(&a.fail_if, s, false);
    Ok(ExitCode::from(if ok { 0 } else { THRESHOLD_FAILED }))
}

fn run_merge(a: &MergeArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let files = rundir::open_run(&a.dirs)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| a.dirs[0].join("results.csv"));
    let steps = rundir::step_names(&a.dirs);
    let columns = match &a.columns {
        Some(s) => Column::parse_list_for(s, !steps.is_empty())?,
        None => Vec::new(),
    };
    let opts = CsvOptions {
        precision: a.precision,
        uncorrected: a.latency_uncorrected,
        columns,
        header: a.header,
        steps: steps.into(),
    };
    let report = ReportOut {
        opts: ReportOptions {
            corrected: !a.latency_uncorrected,
            ..Default::default()
        }
        .summary_only(),
        ..Default::default()
    };
    let merged = merge_and_report(&files, Some((&out, &opts)), report)?;
    outln!(
        "barrage merge: {} from {} -> {}",
        plural(merged.records, "row"),
        plural(files.len() as u64, "sample file"),
        out.display()
    );
    out!("{}", summary::render(&merged.report?.summary));
    Ok(ExitCode::SUCCESS)
}
