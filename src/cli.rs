//! The command line as typed: clap structs and the small value parsers they use.
//! Nothing here checks how options combine; `config.rs` turns a `RunArgs` into a
//! validated run.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "barrage",
    version,
    about = "HTTP/1.1 load generator: every core, every request recorded"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load a URL and record every request (results.csv + summary).
    Run(Box<RunArgs>),
    /// Turn a run directory's sample files into results.csv.
    Merge(MergeArgs),
    /// Serve a small fixed response, as a load target for tests and scripts/run.sh.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Target URL (http:// or https://).
    pub url: String,

    /// Worker processes, one pinned per core [default: number of cores]. Seed: PROCESSES.
    #[arg(short = 'p', long)]
    pub processes: Option<usize>,

    /// Threads (event loops) per process. Seed: PROCESS_THREADS.
    #[arg(short = 't', long, default_value_t = 2)]
    pub threads: usize,

    /// Connections in total, spread evenly over all threads [default: 64, or one per
    /// thread if there are more threads].
    #[arg(short = 'c', long)]
    pub connections: Option<usize>,

    /// How long to send requests: 10s, 1m, 500ms ... Seed: RUN_TIME. [default: 10s
    /// unless -n is given]
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Total requests to send (the run stops at whichever of -d and -n comes first).
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,

    /// Per-request timeout, connect included; a request that takes longer is recorded
    /// as a failure of kind "timeout".
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Run directory for sample files and results [default: ./barrage-runs/<UTC time>].
    #[arg(short = 'o', long)]
    pub out: Option<PathBuf>,

    /// Open a new connection for every request (the original tool's behaviour).
    #[arg(long)]
    pub no_keepalive: bool,

    /// Decimals of the time columns of results.csv (3 gives the seed's exact format).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub precision: u32,

    /// Extra results.csv columns, comma-separated, or "all": start, intended, connect,
    /// tls, ttfb, bytes, error, target, new_conn, resumed, process, host.
    #[arg(long)]
    pub columns: Option<String>,

    /// Skip writing results.csv (the sample files are kept; `barrage merge` writes it later).
    #[arg(long)]
    pub no_csv: bool,

    /// Print nothing but errors and the run directory.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Run directories to merge (several hosts' directories of one run may be given).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,

    /// Output file [default: results.csv in the first directory].
    #[arg(short = 'o', long)]
    pub out: Option<PathBuf>,

    /// Decimals of the time columns (3 gives the seed's exact format).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub precision: u32,

    /// Extra columns, comma-separated, or "all" (see `barrage run --help`).
    #[arg(long)]
    pub columns: Option<String>,

    /// Write a header line naming the columns.
    #[arg(long)]
    pub header: bool,

    /// Report service time for open-loop requests instead of latency from their
    /// intended start.
    #[arg(long)]
    pub latency_uncorrected: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(short = 'l', long, default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Event-loop threads, each with its own SO_REUSEPORT listener.
    #[arg(short = 't', long, default_value_t = 1)]
    pub threads: usize,

    /// Stop after this long (default: until SIGINT/SIGTERM).
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

/// Parses `10s`, `1m`, `250ms`, `1.5s`, `2h`, `100us`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| {
        format!("invalid duration {s:?}: use a number with a unit, like 10s, 500ms or 2m")
    })?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "invalid duration unit {other:?} in {s:?}: use ns, us, ms, s, m or h"
            ));
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("duration {s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok = [
            ("10s", 10_000),
            ("1m", 60_000),
            ("250ms", 250),
            ("1.5s", 1500),
            ("2", 2000),
            ("1h", 3_600_000),
        ];
        for (s, ms) in ok {
            assert_eq!(parse_duration(s).unwrap(), Duration::from_millis(ms), "{s}");
        }
        for bad in ["", "s", "10x", "-1s", "1e999s", "ten"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
