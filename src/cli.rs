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
    /// Target URL (http:// or https://); optional with --targets.
    pub url: Option<String>,

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

    // ---- Load model ----
    /// Open loop: this many requests per second in total, on a fixed schedule;
    /// latency counts from each request's intended start (wrk2's -R).
    #[arg(short = 'R', long, help_heading = "Load model")]
    pub rate: Option<f64>,

    /// Open loop with a rate profile: "10s:1000,30s:5000,10s:0" ramps linearly from
    /// 0 to 1000/s over 10s, to 5000/s over 30s, then down to 0 (sets -d if absent).
    #[arg(long, help_heading = "Load model")]
    pub rate_stages: Option<String>,

    /// Closed loop with a connection-count profile, same syntax as --rate-stages.
    #[arg(long, help_heading = "Load model")]
    pub conn_stages: Option<String>,

    /// Closed loop: start connections evenly over this long. Seed: RAMPUP.
    #[arg(long, value_parser = parse_duration, help_heading = "Load model")]
    pub rampup: Option<Duration>,

    /// Closed loop: minimum start-to-start time of one connection's requests (a
    /// connection waits out the rest after a faster response). Seed: INTERVAL.
    #[arg(long, value_parser = parse_duration, help_heading = "Load model")]
    pub interval: Option<Duration>,

    /// Open loop: connections barrage may open, in total, to keep the schedule when
    /// all -c connections are busy [default: -c].
    #[arg(long, help_heading = "Load model")]
    pub max_connections: Option<usize>,

    /// Open loop: record service time (from the actual send) instead of latency from
    /// the intended start.
    #[arg(long, help_heading = "Load model")]
    pub latency_uncorrected: bool,

    // ---- Requests ----
    /// Request method.
    #[arg(short = 'm', long, default_value = "GET", help_heading = "Requests")]
    pub method: String,

    /// Extra header, "Name: value" (repeatable; overrides Host, User-Agent,
    /// Content-Type or Content-Length).
    #[arg(short = 'H', long = "header", help_heading = "Requests")]
    pub headers: Vec<String>,

    /// Request body.
    #[arg(
        short = 'b',
        long,
        conflicts_with = "body_file",
        help_heading = "Requests"
    )]
    pub body: Option<String>,

    /// Request body from a file (read once, at start-up).
    #[arg(long, help_heading = "Requests")]
    pub body_file: Option<PathBuf>,

    /// Content-Type of the body.
    #[arg(short = 'T', long, help_heading = "Requests")]
    pub content_type: Option<String>,

    /// Many requests: a file with one "METHOD URL [weight=N]" line per target,
    /// then optional "Name: value" header lines and an "@bodyfile" line; targets
    /// separated by blank lines (vegeta's format).
    #[arg(long, help_heading = "Requests")]
    pub targets: Option<PathBuf>,

    /// How requests pick targets from --targets.
    #[arg(
        long,
        value_enum,
        default_value = "round-robin",
        help_heading = "Requests"
    )]
    pub targets_mode: TargetsMode,

    // ---- TLS ----
    /// Server name to send (SNI) and verify, instead of the URL's host.
    #[arg(long, help_heading = "TLS")]
    pub sni: Option<String>,

    /// Also trust this CA certificate (PEM).
    #[arg(long, help_heading = "TLS")]
    pub cacert: Option<PathBuf>,

    /// Do not verify the server's certificate chain or name (handshake signatures
    /// are still checked).
    #[arg(short = 'k', long, help_heading = "TLS")]
    pub insecure: bool,

    /// Client certificate chain (PEM), for servers that ask for one (mTLS).
    #[arg(long, help_heading = "TLS")]
    pub cert: Option<PathBuf>,

    /// Private key of --cert (PEM).
    #[arg(long, help_heading = "TLS")]
    pub key: Option<PathBuf>,

    /// Only this TLS version: 1.2 or 1.3 [default: both].
    #[arg(long, help_heading = "TLS")]
    pub tls_version: Option<String>,

    /// Only these cipher suites (comma-separated or repeated), e.g.
    /// TLS13_AES_128_GCM_SHA256.
    #[arg(long, value_delimiter = ',', help_heading = "TLS")]
    pub cipher: Vec<String>,

    /// Only these key-exchange groups (comma-separated or repeated), e.g. X25519,
    /// secp256r1, X25519MLKEM768.
    #[arg(long, value_delimiter = ',', help_heading = "TLS")]
    pub kx_group: Vec<String>,

    /// Resume TLS sessions (tickets / session ids) on new connections.
    #[arg(long, value_enum, default_value = "on", help_heading = "TLS")]
    pub tls_resume: OnOff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetsMode {
    RoundRobin,
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
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
