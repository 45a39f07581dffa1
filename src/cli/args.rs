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
    /// Reports from a run directory or a results.csv: intervals.csv, summary.json,
    /// report.html, charts, HdrHistogram logs; or compare two runs.
    Report(ReportArgs),
    /// Serve a small fixed response, as a load target for tests and scripts/run.sh.
    Serve(ServeArgs),
    /// Find the highest request rate that holds an SLO: open-loop steps at rising
    /// rates, then bisection (every request option of `run` applies).
    Search(Box<SearchArgs>),
    /// Print shell completions for bash, zsh or fish (README says where to put them).
    Completions(CompletionsArgs),
    /// Write the man page: to stdout, or with --out DIR barrage.1 and one page per
    /// subcommand (barrage-run.1, ...) into DIR.
    Manpage(ManpageArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish (also elvish, powershell).
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManpageArgs {
    /// Write barrage.1 and barrage-SUBCOMMAND.1 into this directory (e.g.
    /// /usr/local/share/man/man1) instead of barrage.1 to stdout.
    #[arg(short = 'o', long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = crate::cli::exit::HELP)]
pub struct RunArgs {
    /// Target URL (http:// or https://); optional with --targets.
    pub url: Option<String>,

    /// Worker processes, one pinned per core [default: number of cores]. Seed: PROCESSES.
    #[arg(short = 'p', long, value_parser = parse_count::<usize>, allow_negative_numbers = true)]
    pub processes: Option<usize>,

    /// Threads (event loops) per process. Seed: PROCESS_THREADS.
    #[arg(short = 't', long, default_value_t = 2, value_parser = parse_count::<usize>, allow_negative_numbers = true)]
    pub threads: usize,

    /// Connections in total, spread evenly over all threads [default: 64, or one per
    /// thread if there are more threads].
    #[arg(short = 'c', long, value_parser = parse_count::<usize>, allow_negative_numbers = true)]
    pub connections: Option<usize>,

    /// How long to send requests: 10s, 1m, 500ms ... Seed: RUN_TIME. [default: 10s
    /// unless -n is given]
    #[arg(short = 'd', long, value_parser = parse_duration, allow_hyphen_values = true)]
    pub duration: Option<Duration>,

    /// Total requests to send (the run stops at whichever of -d and -n comes first).
    #[arg(short = 'n', long, value_parser = parse_count::<u64>, allow_negative_numbers = true)]
    pub requests: Option<u64>,

    /// Per-request timeout, connect included; a request that takes longer is recorded
    /// as a failure of kind "timeout".
    #[arg(long, default_value = "10s", value_parser = parse_duration, allow_hyphen_values = true)]
    pub timeout: Duration,

    /// Run directory for sample files and results [default: ./barrage-runs/YYYYMMDD-HHMMSS, UTC].
    #[arg(short = 'o', long)]
    pub out: Option<PathBuf>,

    /// Open a new connection for every request (the original tool's behaviour).
    #[arg(long)]
    pub no_keepalive: bool,

    /// HTTP/1.1 pipelining: each connection keeps up to N requests in flight, written
    /// back to back (one write where they fit), answered in order. Every request keeps
    /// its own row and latency. Needs keep-alive.
    #[arg(long, default_value_t = 1, value_parser = parse_count::<usize>, allow_negative_numbers = true)]
    pub pipeline: usize,

    /// With --pipeline 3 or more in closed loop, read every response as soon as it
    /// arrives. By default a connection's socket gathers the responses its next refill
    /// waits for (half the pipeline) before waking barrage, holding one at most 1 ms
    /// (2 ms with the poll's granularity): about half the CPU per request.
    #[arg(long)]
    pub no_read_batching: bool,

    /// Decimals of the time columns of results.csv (3 gives the seed's exact format).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub precision: u32,

    /// Extra results.csv columns, comma-separated, or "all": start, intended, connect,
    /// tls, ttfb, bytes, error, target, new_conn, resumed, process, host, partial_status,
    /// and step (scenario runs: the step's name; part of "all" for them).
    #[arg(long)]
    pub columns: Option<String>,

    /// Skip writing results.csv (the sample files are kept; `barrage merge` writes it later).
    #[arg(long)]
    pub no_csv: bool,

    /// Connect from these source addresses, spreading connections over them
    /// (comma-separated, or a range like 127.0.0.2-127.0.0.9): each address has its
    /// own ephemeral ports, for tens of thousands of connections to one target.
    #[arg(long, alias = "source-ip")]
    pub bind: Option<String>,

    /// Print nothing but errors and the run directory.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Fail the run (exit code 4) if this holds for its summary: 'p99 > 50ms',
    /// 'errors > 0.1%', 'rps < 10000'; generator-bound (the self-check's verdict says
    /// the figures describe barrage), 'generator-busy > 90%', 'loop-delay > 10ms'.
    /// Repeatable; see `barrage report --help`.
    #[arg(long = "fail-if", value_name = "EXPR", value_parser = crate::report::thresholds::parse)]
    pub fail_if: Vec<crate::report::thresholds::Threshold>,

    /// Serve live metrics at this address (e.g. 127.0.0.1:9464; port 0 picks one)
    /// from the start of the load until the results are written: GET /metrics in the
    /// Prometheus text format (OpenMetrics when Accept asks for it), GET / a live page.
    /// Point Prometheus at it with a scrape config such as
    /// `scrape_configs: [{job_name: barrage, scrape_interval: 1s, static_configs:
    /// [{targets: ["HOST:9464"]}]}]` (docs/metrics.md).
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    pub metrics_listen: Option<std::net::SocketAddr>,

    // ---- Load model ----
    /// Open loop: this many requests per second in total, on a fixed schedule;
    /// latency counts from each request's intended start (wrk2's -R).
    #[arg(
        short = 'R',
        long,
        allow_negative_numbers = true,
        help_heading = "Load model"
    )]
    pub rate: Option<f64>,

    /// Open loop with a rate profile: "10s:1000,30s:5000,10s:0" ramps linearly from
    /// 0 to 1000/s over 10s, to 5000/s over 30s, then down to 0 (sets -d if absent).
    #[arg(long, help_heading = "Load model")]
    pub rate_stages: Option<String>,

    /// Closed loop with a connection-count profile, same syntax as --rate-stages.
    #[arg(long, help_heading = "Load model")]
    pub conn_stages: Option<String>,

    /// Closed loop: start connections evenly over this long. Seed: RAMPUP.
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true, help_heading = "Load model")]
    pub rampup: Option<Duration>,

    /// Closed loop: minimum start-to-start time of one connection's requests (a
    /// connection waits out the rest after a faster response). Seed: INTERVAL.
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true, help_heading = "Load model")]
    pub interval: Option<Duration>,

    /// Open loop: connections barrage may open, in total, to keep the schedule when
    /// all -c connections are busy [default: -c].
    #[arg(long, value_parser = parse_count::<usize>, allow_negative_numbers = true, help_heading = "Load model")]
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

    /// Run the scenarios of this TOML file (docs/scenarios.md): -c virtual users,
    /// each on its own keep-alive connection, running iterations of steps (closed
    /// loop), or -R iterations started per second (open loop). -n counts iterations.
    /// A URL given too replaces the file's base.
    #[arg(long, value_name = "FILE", help_heading = "Requests")]
    pub scenario: Option<PathBuf>,

    /// With --scenario: print the first iteration's requests of every scenario (data
    /// row 1, virtual user 1) without sending anything.
    #[arg(long, requires = "scenario", help_heading = "Requests")]
    pub dry_run: bool,

    /// How requests pick targets from --targets.
    #[arg(
        long,
        value_enum,
        default_value = "round-robin",
        help_heading = "Requests"
    )]
    pub targets_mode: TargetsMode,

    // ---- Response checks ----
    /// A response whose status is not in this list fails ("unexpected status"):
    /// 200, 2xx, 200,301, 200-299.
    #[arg(long, help_heading = "Response checks")]
    pub expect_status: Option<String>,

    /// A response whose body does not contain this text fails ("body mismatch").
    #[arg(long, help_heading = "Response checks")]
    pub expect_body: Option<String>,

    /// A response whose body does not match this regex fails (bodies above
    /// --max-body cannot be checked and fail as "body too large to check").
    #[arg(long, help_heading = "Response checks")]
    pub expect_body_regex: Option<String>,

    /// A response whose body size (bytes, after chunked decoding) is not N, or in
    /// N..M, fails ("size mismatch").
    #[arg(long, help_heading = "Response checks")]
    pub expect_size: Option<String>,

    /// Most body bytes a regex check buffers per response: 1048576, 64k, 2M.
    #[arg(long, default_value = "1M", value_parser = parse_bytes, help_heading = "Response checks")]
    pub max_body: usize,

    // ---- TLS ----
    /// Server name to send (SNI) and verify, instead of the URL's host.
    #[arg(long, help_heading = "TLS")]
    pub sni: Option<String>,

    /// Also trust this CA certificate (PEM; may hold several). A server certificate
    /// identical to one in it is pinned: trusted, with its dates and name checked.
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

    // ---- Distributed ----
    /// This host's share of a test spread over N hosts: I/N, 0-based (also from
    /// BARRAGE_SHARD, or JOB_COMPLETION_INDEX with --shards). -c, -n and the rate are
    /// the whole test's; each host runs its exact share.
    #[arg(long, help_heading = "Distributed")]
    pub shard: Option<String>,

    /// Number of shards, with the index from JOB_COMPLETION_INDEX (Kubernetes
    /// Indexed Jobs).
    #[arg(long, help_heading = "Distributed")]
    pub shards: Option<u32>,

    /// Start the load at this Unix time (seconds, fractions allowed): every process of
    /// every host starts together.
    #[arg(long, help_heading = "Distributed")]
    pub start_at: Option<String>,

    /// Refuse to start when --start-at is already this far in the past.
    #[arg(long, default_value = "1s", value_parser = parse_duration, help_heading = "Distributed")]
    pub start_tolerance: Duration,

    /// This host's name in the sample files [default: hostname].
    #[arg(long, help_heading = "Distributed")]
    pub host_id: Option<String>,

    /// The run's id in the sample files; hosts of one test must share it [default:
    /// derived from the start time and the settings].
    #[arg(long, help_heading = "Distributed")]
    pub run_id: Option<String>,

    /// Warn when the kernel's clock error bound (adjtimex) is above this, or the clock
    /// is not synchronised.
    #[arg(long, value_parser = parse_duration, help_heading = "Distributed")]
    pub max_clock_error: Option<Duration>,

    /// With --max-clock-error: refuse to start instead of warning.
    #[arg(long, requires = "max_clock_error", help_heading = "Distributed")]
    pub strict_clock: bool,
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
#[command(after_help = "\
Thresholds (--fail-if, repeatable) fail the command with exit code 4:
  METRIC OP VALUE, OP one of > >= < <=
  latency: min mean p50 p80 p90 p95 p99 p99.9 max stdev, VALUE with a unit (ns us ms s)
  rps, requests: a number (10k and 1.5M work too)
  errors: a count, or a share of all requests with %
  e.g. --fail-if 'p99 > 50ms' --fail-if 'errors > 0.1%' --fail-if 'rps < 10000'")]
pub struct ReportArgs {
    /// A run directory (several for one run's hosts), or a results.csv (barrage's, or
    /// the original tool's headerless one).
    #[arg(
        value_name = "RUN_DIR|results.csv",
        required_unless_present = "compare"
    )]
    pub input: Vec<PathBuf>,

    /// Length of one interval of the time series: 1s, 100ms, 1m ...
    #[arg(short = 'i', long, default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,

    /// Where to write the report [default: the run directory, or beside the csv].
    #[arg(short = 'o', long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Compare two runs (run directories, results.csv or summary.json files): print
    /// their summaries side by side with the relative change of rates and latencies
    /// (counts are shown, not compared; a rate set with -R is not judged). Writes no
    /// files.
    #[arg(long, num_args = 2, value_names = ["RUN_A", "RUN_B"], conflicts_with = "input")]
    pub compare: Option<Vec<PathBuf>>,

    /// Fail (exit code 4) if this holds; repeatable. With --compare, checked on RUN_B.
    /// METRIC OP VALUE: min mean p50 p80 p90 p95 p99 p99.9 max stdev (with a unit),
    /// rps, requests, errors (a count or a %), generator-busy (a %), loop-delay (with
    /// a unit); or generator-bound alone (the run's verdict puts the limit in barrage).
    #[arg(long = "fail-if", value_name = "EXPR", value_parser = crate::report::thresholds::parse)]
    pub fail_if: Vec<crate::report::thresholds::Threshold>,

    /// Skip results.csv lines that cannot be parsed (and count them) instead of failing.
    #[arg(long)]
    pub skip_bad_lines: bool,

    /// Report service time for open-loop requests instead of latency from their
    /// intended start.
    #[arg(long)]
    pub latency_uncorrected: bool,
}

/// `--metrics-listen`: an IP address and a port (a name would need a resolver in the
/// launcher, and which of its addresses to bind would be a guess).
fn parse_listen(s: &str) -> Result<std::net::SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("{s:?} is not IP:PORT: give an address and a port, like 127.0.0.1:9464 or [::1]:9464 (port 0 picks a free one)")
    })
}

/// An interval for `barrage report`: a duration of at least 1 ms.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(1) {
        return Err(format!("interval {s:?} is too short: use 1ms or more"));
    }
    Ok(d)
}

/// `barrage search`: its own options, then every option of `run` (whose `--precision`
/// is `--csv-precision` here: `--precision` is the search's).
#[derive(Debug, Args)]
#[command(mut_arg("precision", |a| a.long("csv-precision")))]
pub struct SearchArgs {
    /// A service-level objective every accepted step must hold, in `--fail-if`'s
    /// syntax but stating what must be true: 'p99 < 50ms', 'errors < 0.1%'.
    /// Repeatable; at least one.
    #[arg(long = "slo", value_name = "EXPR", value_parser = crate::report::thresholds::parse, help_heading = "Search")]
    pub slo: Vec<crate::report::thresholds::Threshold>,

    /// The first step's rate, requests per second [default: 100].
    #[arg(
        long,
        value_name = "RATE",
        allow_negative_numbers = true,
        help_heading = "Search"
    )]
    pub from: Option<f64>,

    /// The highest rate to try [default: no limit].
    #[arg(
        long,
        value_name = "RATE",
        allow_negative_numbers = true,
        help_heading = "Search"
    )]
    pub to: Option<f64>,

    /// How long each step loads the target.
    #[arg(long, default_value = "10s", value_parser = parse_duration, help_heading = "Search")]
    pub step_duration: Duration,

    /// Stop bisecting when the last passing and the first failing rate are this close
    /// (relative to the passing one).
    #[arg(long = "precision", value_name = "PERCENT", default_value = "5%", value_parser = parse_percent, help_heading = "Search")]
    pub search_precision: f64,

    #[command(flatten)]
    pub run: RunArgs,
}

/// Parses a percentage above 0 and below 100: `5%` (or `5`) is 0.05.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let num = t.strip_suffix('%').unwrap_or(t).trim();
    match num.parse::<f64>() {
        Ok(v) if v > 0.0 && v < 100.0 => Ok(v / 100.0),
        _ => Err(format!(
            "invalid precision {s:?}: give a percentage between 0 and 100, like 5%"
        )),
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(short = 'l', long, default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Event-loop threads, sharing one listening socket.
    #[arg(short = 't', long, default_value_t = 1)]
    pub threads: usize,

    /// Serve HTTPS. Without --cert/--key, a CA and a certificate for localhost,
    /// 127.0.0.1 and ::1 are generated and the CA certificate is written to --ca-out.
    #[arg(long)]
    pub tls: bool,

    /// Certificate chain to serve (PEM), with --tls.
    #[arg(long)]
    pub cert: Option<PathBuf>,

    /// Private key of --cert (PEM).
    #[arg(long)]
    pub key: Option<PathBuf>,

    /// Answer every request this much later.
    #[arg(long, value_parser = parse_duration)]
    pub delay: Option<Duration>,

    /// Serve requests one at a time, each taking this long (across every connection
    /// and thread): a server of known capacity, 1/TIME requests per second (10ms:
    /// 100/s); beyond it, answers queue and their latency grows without bound.
    #[arg(long, value_parser = parse_duration)]
    pub service_time: Option<Duration>,

    /// Stall: requests arriving between AT and AT+FOR after start are all answered at
    /// AT+FOR, like a server pausing (e.g. "2s:1s").
    #[arg(long, value_parser = parse_stall)]
    pub stall: Option<(Duration, Duration)>,

    /// Append the raw bytes of every request received to this file.
    #[arg(long)]
    pub capture: Option<PathBuf>,

    /// When stopped, also print how many requests came from each client address.
    #[arg(long)]
    pub peers: bool,

    /// Where --tls writes the generated CA certificate (give it to `barrage run
    /// --cacert`) [default: ./barrage-serve-ca.pem].
    #[arg(long)]
    pub ca_out: Option<PathBuf>,

    /// Stop after this long (default: until SIGINT/SIGTERM).
    #[arg(short = 'd', long, value_parser = parse_duration, allow_hyphen_values = true)]
    pub duration: Option<Duration>,
}

/// Parses a byte count: `4096`, `64k`, `2M` (powers of 1024).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let bad = || format!("invalid size {s:?}: use bytes, or k/M/G like 64k");
    let (num, mult) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        None => (t, 1usize),
        Some((i, _)) => {
            let unit = t[i..].to_ascii_lowercase();
            let m = match unit.trim_end_matches('b').trim_end_matches('i') {
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                _ => return Err(bad()),
            };
            (&t[..i], m)
        }
    };
    let n: usize = num.parse().map_err(|_| bad())?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Parses `AT:FOR`, two durations.
pub fn parse_stall(s: &str) -> Result<(Duration, Duration), String> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("invalid --stall {s:?}: write AT:FOR, like 2s:1s"))?;
    Ok((parse_duration(a)?, parse_duration(b)?))
}

/// Parses a count (`-c`, `-n`, `-p`, `-t`): a whole number; a negative one is named
/// as such instead of being taken for a flag.
pub fn parse_count<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!("{t} is negative: give a whole number, 1 or more"));
    }
    t.parse()
        .map_err(|_| format!("{t:?} is not a whole number: give one like 64"))
}

/// Parses `10s`, `1m`, `250ms`, `1.5s`, `2h`, `100us`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let secs = parse_seconds(s)?;
    // Rounded to the nanosecond: from_secs_f64 truncates, and 999us is 0.000998999...
    Ok(Duration::from_nanos((secs * 1e9).round() as u64))
}

/// [`parse_duration`]'s syntax, as seconds (`--fail-if` compares floats).
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    let s = s.trim();
    if s.starts_with('-') {
        return Err(format!(
            "{s:?} is negative: give a positive duration, like 10s, 500ms or 2m"
        ));
    }
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
                "invalid duration {s:?}: unknown unit {other:?}, use ns, us, ms, s, m or h"
            ));
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("duration {s:?} is out of range"));
    }
    Ok(secs)
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
