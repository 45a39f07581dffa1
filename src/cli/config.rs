//! The validated run: what `barrage run` was asked to do, checked and resolved before
//! any process forks. Every bad input is caught here with a message that names the
//! problem and the fix; nothing after this point re-validates.
//!
//! [`RunConfig::from_args`] goes in steps, each checking one group of flags in the
//! order their errors are reported: the layout (`-p`, `-t`), the distributed options,
//! the connections and bounds, the load model (into the [`Plan`] the engine reads),
//! the requests (one origin, their bytes and checks), TLS and `--bind`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::args::{OnOff, RunArgs, TargetsMode};
use crate::cli::distributed::{host_name, resolve_shard, resolve_start_at};
use crate::cli::targets::{RequestSpec, request_specs};
use crate::cli::url::{Target, parse_bind, url_string};
use crate::engine::plan::{Load, Plan};
use crate::engine::schedule::{Pick, Picker, Profile};
use crate::record::Column;
use crate::scenario::compile::{LoadOptions, ScenarioSet};
use crate::wire::expect::ExpectSpec;
use crate::wire::request::Template;
use crate::wire::tls::{ClientTls, TlsOptions};

mod requests;
use requests::{requests, scenario_requests, sni_warnings};

/// Why a run could not start. Each message names the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid URL {url:?}: {why}")]
    Url { url: String, why: String },
    #[error("unsupported scheme {scheme:?} in {url:?}: use http:// or https://")]
    Scheme { url: String, scheme: String },
    #[error("cannot resolve host {host:?}: {why} (check the name, or use an IP address)")]
    Resolve { host: String, why: String },
    #[error("{what} must be at least 1 (got {got})")]
    Zero { what: &'static str, got: String },
    /// A duration that must be positive was 0.
    #[error("{what} must be longer than 0s: give a duration like 10s, 500ms or 2m")]
    ZeroDuration { what: &'static str },
    #[error(
        "{connections} connections cannot be spread over {processes} processes x {threads} threads: use -c {min} or more, or fewer -p/-t"
    )]
    TooFewConnections {
        connections: usize,
        processes: usize,
        threads: usize,
        min: usize,
    },
    #[error("{0}")]
    Invalid(String),
}

/// A validated `barrage run`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The URL as given (the first target's, with --targets).
    pub url: String,
    /// Where every connection goes.
    pub target: Target,
    /// The load: its model, bounds, and its layout over hosts, processes and threads.
    pub plan: Plan,
    pub timeout: Duration,
    pub out: PathBuf,
    pub keepalive: bool,
    /// Requests each connection keeps in flight (`--pipeline`; 1: no pipelining).
    pub pipeline: usize,
    /// Pipelines are read in batches (`engine/worker/closed.rs`): closed loop,
    /// unpaced, `--pipeline` 3 or more, no scenario, no `--no-read-batching`.
    pub read_batching: bool,
    /// Every request, byte for byte, built once.
    pub templates: Arc<[Template]>,
    /// "METHOD URL" of each template, for reports.
    pub target_names: Vec<String>,
    pub picker: Arc<Picker>,
    pub tls: Option<ClientTls>,
    pub latency_uncorrected: bool,
    pub precision: u32,
    pub columns: Vec<Column>,
    pub write_csv: bool,
    pub quiet: bool,
    /// Cores to pin processes to (process i gets core `i % cores`).
    pub cores: usize,
    /// Things the user asked for that look inconsistent; printed before the load.
    pub warnings: Vec<String>,
    /// Unix time (ns) the load starts at (`--start-at`).
    pub start_at_ns: Option<u64>,
    pub host_id: String,
    pub run_id: Option<String>,
    pub max_clock_error: Option<Duration>,
    pub strict_clock: bool,
    /// Source addresses for connections (`--bind`); empty: the kernel chooses.
    pub bind: Arc<[IpAddr]>,
    /// Where the launcher serves live metrics (`--metrics-listen`).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `--scenario`: the compiled scenario file. Then `templates` holds one template
    /// per step (no bytes: its HEAD flag and checks) and `target_names` the steps'
    /// names, and `-n` counts iterations.
    pub scenario: Option<Arc<ScenarioSet>>,
    /// The seed of the scenarios' random numbers (think times, random rows, uuids).
    pub seed: u64,
    /// `--max-body`: the most body a check or a scenario's capture keeps.
    pub max_body: usize,
}

pub(crate) fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

impl RunConfig {
    pub fn from_args(a: &RunArgs) -> Result<RunConfig, ConfigError> {
        let (cores, processes) = layout(a)?;
        let (shard_index, shard_count, start_at_ns) = distributed(a)?;
        // Every loop of every host needs a connection.
        let connections = connections(a, processes, processes * a.threads * shard_count as usize)?;
        check_bounds(a)?;
        let load = load(a, connections)?;
        let duration = duration(a, &load)?;
        let plan = Plan {
            load,
            connections,
            duration,
            requests: a.requests,
            processes,
            threads: a.threads,
            shard_index,
            shard_count,
        };
        let columns = match &a.columns {
            Some(s) => {
                Column::parse_list_for(s, a.scenario.is_some()).map_err(ConfigError::Invalid)?
            }
            None => Vec::new(),
        };
        let keepalive = !a.no_keepalive;
        let pipeline = pipeline(a)?;
        let mut warnings = Vec::new();
        let (requests, scenario, url) = match &a.scenario {
            Some(path) => {
                let (requests, set) = scenario_requests(a, path, &plan)?;
                let url = a.url.clone().unwrap_or_else(|| url_string(&set.origin));
                (requests, Some(Arc::new(set)), url)
            }
            None => {
                let specs = request_specs(a)?;
                let requests = requests(a, &specs, keepalive, &mut warnings)?;
                if requests.target.tls && a.sni.is_none() {
                    warnings.extend(sni_warnings(&specs, &requests.target));
                }
                let url = a.url.clone().unwrap_or_else(|| url_string(&specs[0].url));
                (requests, None, url)
            }
        };
        let target = requests.target;
        let tls = tls_config(a, &target)?;
        let batchable = pipeline >= 3
            && scenario.is_none()
            && matches!(plan.load, Load::Closed { interval: None, .. });
        let read_batching = batchable && !a.no_read_batching;
        if a.no_read_batching && !batchable {
            warnings.push("--no-read-batching ignored: closed-loop --pipeline 3+ only".to_string());
        }
        let bind = bind(a, &target)?;
        Ok(RunConfig {
            url,
            target,
            plan,
            timeout: a.timeout,
            out: a.out.clone().unwrap_or_else(default_run_dir),
            keepalive,
            pipeline,
            read_batching,
            templates: requests.templates.into(),
            target_names: requests.names,
            picker: Arc::new(requests.picker),
            tls,
            latency_uncorrected: a.latency_uncorrected,
            precision: a.precision,
            columns,
            write_csv: !a.no_csv,
            quiet: a.quiet,
            cores,
            warnings,
            start_at_ns,
            host_id: a.host_id.clone().unwrap_or_else(host_name),
            run_id: a.run_id.clone(),
            metrics_listen: a.metrics_listen,
            max_clock_error: a.max_clock_error,
            strict_clock: a.strict_clock,
            bind,
            scenario,
            seed: crate::time::wall_ns(),
            max_body: a.max_body,
        })
    }

    /// FNV-1a over the settings that must agree for sample files to belong to one run
    /// (stored in every sample header, checked by the merge): stable across hosts and
    /// builds, unlike std's hasher.
    pub fn hash(&self) -> u64 {
        self.canonical()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
            })
    }

    /// The test's settings as text, not this host's (processes and threads may differ).
    /// Older runs' files carry the hash of exactly this text: it must not change.
    fn canonical(&self) -> String {
        let p = &self.plan;
        let text = format!(
            "{:?}|{}|{:?}|{:?}|{:?}|{}|{:?}|{}",
            self.target_names,
            p.connections,
            p.duration,
            p.requests,
            self.timeout,
            self.keepalive,
            p.load,
            p.shard_count
        );
        // Appended only when pipelining, so runs without it keep their hash.
        match self.pipeline {
            1 => text,
            n => format!("{text}|pipeline {n}"),
        }
    }

    /// The run's id unless `--run-id` gave one: the start's UTC date and time and the
    /// configuration's hash.
    pub fn run_id_at(&self, wall_ns: u64) -> String {
        self.run_id.clone().unwrap_or_else(|| {
            format!(
                "{}-{:08x}",
                crate::time::utc_stamp(wall_ns / 1_000_000_000),
                self.hash() as u32
            )
        })
    }
}

/// `-p` (default: one process per core) and `-t`: the cores and the processes.
fn layout(a: &RunArgs) -> Result<(usize, usize), ConfigError> {
    let cores = core_affinity::get_core_ids()
        .map(|c| c.len())
        .unwrap_or(1)
        .max(1);
    let processes = a.processes.unwrap_or(cores);
    if processes == 0 {
        return Err(ConfigError::Zero {
            what: "--processes",
            got: "0".into(),
        });
    }
    if a.threads == 0 {
        return Err(ConfigError::Zero {
            what: "--threads",
            got: "0".into(),
        });
    }
    Ok((cores, processes))
}

/// This host's shard, the shard count, and the common start (`--start-at`), which a
/// sharded run needs.
fn distributed(a: &RunArgs) -> Result<(u32, u32, Option<u64>), ConfigError> {
    let (shard_index, shard_count) = resolve_shard(
        a.shard.as_deref(),
        std::env::var("BARRAGE_SHARD").ok(),
        std::env::var("JOB_COMPLETION_INDEX").ok(),
        a.shards,
    )?;
    let start_at_ns = match &a.start_at {
        Some(s) => Some(resolve_start_at(
            s,
            crate::time::wall_ns(),
            a.start_tolerance,
        )?),
        None => None,
    };
    if shard_count > 1 && start_at_ns.is_none() {
        return Err(invalid(
            "--shard needs --start-at, so every host starts the test at the same instant",
        ));
    }
    Ok((shard_index, shard_count, start_at_ns))
}

/// `-c` (default 64, or one per loop), at least one for each of the test's `loops`.
fn connections(a: &RunArgs, processes: usize, loops: usize) -> Result<usize, ConfigError> {
    let connections = a.connections.unwrap_or(loops.max(64));
    if connections == 0 {
        return Err(ConfigError::Zero {
            what: "--connections",
            got: "0".into(),
        });
    }
    if connections < loops {
        return Err(ConfigError::TooFewConnections {
            connections,
            processes,
            threads: a.threads,
            min: loops,
        });
    }
    Ok(connections)
}

/// `-n`, `-d` and `--timeout` must be above zero.
fn check_bounds(a: &RunArgs) -> Result<(), ConfigError> {
    if a.requests == Some(0) {
        return Err(ConfigError::Zero {
            what: "--requests",
            got: "0".into(),
        });
    }
    if a.duration == Some(Duration::ZERO) {
        return Err(ConfigError::ZeroDuration { what: "--duration" });
    }
    if a.timeout.is_zero() {
        return Err(ConfigError::ZeroDuration { what: "--timeout" });
    }
    Ok(())
}

/// How long requests start: `-d`, else the stages' length, else 10 s unless `-n`
/// bounds the run.
fn duration(a: &RunArgs, load: &Load) -> Result<Option<Duration>, ConfigError> {
    let duration = match (a.duration, a.requests, load) {
        (Some(d), _, _) => Some(d),
        (None, _, Load::Open { rate, .. }) if a.rate_stages.is_some() => {
            Some(Duration::from_nanos(rate.end()))
        }
        (
            None,
            _,
            Load::Closed {
                stages: Some(p), ..
            },
        ) => Some(Duration::from_nanos(p.end())),
        (None, None, _) => Some(Duration::from_secs(10)),
        (None, Some(_), _) => None,
    };
    if duration == Some(Duration::ZERO) {
        return Err(invalid(
            "the stages last 0s: give them a duration, like 10s:1000",
        ));
    }
    Ok(duration)
}

/// `--bind`'s source addresses, of the target's IP version.
fn bind(a: &RunArgs, target: &Target) -> Result<Arc<[IpAddr]>, ConfigError> {
    let Some(b) = &a.bind else {
        return Ok(Arc::from(Vec::new()));
    };
    let ips = parse_bind(b)?;
    if let Some(ip) = ips
        .iter()
        .find(|ip| ip.is_ipv4() != target.addrs[0].is_ipv4())
    {
        return Err(invalid(format!(
            "--bind {ip} is not the same IP version as the target {}",
            target.addrs[0]
        )));
    }
    Ok(ips.into())
}

/// The load model the flags ask for: open loop with `--rate`/`--rate-stages`, else
/// closed loop with `--interval`, `--rampup` or `--conn-stages`.
fn load(a: &RunArgs, connections: usize) -> Result<Load, ConfigError> {
    let open = a.rate.is_some() || a.rate_stages.is_some();
    if a.rate.is_some() && a.rate_stages.is_some() {
        return Err(invalid("give either --rate or --rate-stages, not both"));
    }
    if open {
        for (set, flag) in [
            (a.interval.is_some(), "--interval"),
            (a.rampup.is_some(), "--rampup"),
            (a.conn_stages.is_some(), "--conn-stages"),
        ] {
            if set {
                return Err(invalid(format!(
                    "{flag} shapes a closed loop; with --rate/--rate-stages the schedule sets every start (use --rate-stages to ramp)"
                )));
            }
        }
        let rate = match (a.rate, &a.rate_stages) {
            (Some(r), _) => {
                if !r.is_finite() || r <= 0.0 {
                    return Err(invalid(format!(
                        "--rate {r} must be positive: a number of requests per second above 0, like -R 1000"
                    )));
                }
                Profile::constant(r)
            }
            (None, Some(spec)) => {
                let p = Profile::parse(spec).map_err(|e| invalid(format!("--rate-stages: {e}")))?;
                if p.max() <= 0.0 {
                    return Err(invalid("--rate-stages never rises above 0 requests/s"));
                }
                p
            }
            (None, None) => unreachable!("open"),
        };
        let max_connections = a.max_connections.unwrap_or(connections);
        if max_connections < connections {
            return Err(invalid(format!(
                "--max-connections {max_connections} is below -c {connections}: it bounds the extra connections, so give at least -c"
            )));
        }
        return Ok(Load::Open {
            rate,
            max_connections,
        });
    }
    if a.max_connections.is_some() {
        return Err(invalid(
            "--max-connections applies to open loop (--rate); in a closed loop -c sets the connections",
        ));
    }
    if a.latency_uncorrected {
        return Err(invalid(
            "--latency-uncorrected applies to open loop (--rate); closed-loop latency is already service time",
        ));
    }
    if a.rampup.is_some() && a.conn_stages.is_some() {
        return Err(invalid("give either --rampup or --conn-stages, not both"));
    }
    let stages = match &a.conn_stages {
        Some(spec) => {
            let p = Profile::parse(spec).map_err(|e| invalid(format!("--conn-stages: {e}")))?;
            if p.max() > connections as f64 {
                return Err(invalid(format!(
                    "--conn-stages goes up to {} connections but -c is {connections}: raise -c",
                    p.max()
                )));
            }
            Some(Arc::new(p))
        }
        None => None,
    };
    Ok(Load::Closed {
        interval: a.interval.filter(|d| !d.is_zero()),
        rampup: a.rampup.filter(|d| !d.is_zero()),
        stages,
    })
}

fn tls_config(a: &RunArgs, target: &Target) -> Result<Option<ClientTls>, ConfigError> {
    let opts = TlsOptions {
        sni: a.sni.clone(),
        cacert: a.cacert.clone(),
        insecure: a.insecure,
        cert: a.cert.clone(),
        key: a.key.clone(),
        version: a.tls_version.clone(),
        ciphers: a.cipher.clone(),
        kx_groups: a.kx_group.clone(),
        resume: a.tls_resume == OnOff::On,
    };
    if !target.tls {
        let used = [
            (opts.sni.is_some(), "--sni"),
            (opts.cacert.is_some(), "--cacert"),
            (opts.cert.is_some() || opts.key.is_some(), "--cert/--key"),
            (opts.version.is_some(), "--tls-version"),
            (!opts.ciphers.is_empty(), "--cipher"),
            (!opts.kx_groups.is_empty(), "--kx-group"),
        ];
        if let Some((_, flag)) = used.iter().find(|(u, _)| *u) {
            return Err(invalid(format!("{flag} needs an https:// URL")));
        }
        return Ok(None);
    }
    ClientTls::build(&opts, &target.host)
        .map(Some)
        .map_err(|e| invalid(e.to_string()))
}

/// `./barrage-runs/<UTC date-time>`.
fn default_run_dir() -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let base = PathBuf::from("barrage-runs").join(crate::time::utc_stamp(now.as_secs()));
    // Runs started within the same second get -2, -3 ...: a default never collides
    // with an earlier run (an explicit -o that holds samples is refused instead).
    (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                base.with_file_name(format!("{}-{n}", crate::time::utc_stamp(now.as_secs())))
            }
        })
        .find(|p| !p.exists())
        .expect("an unused name")
}

/// Most requests one connection may keep in flight.
pub const MAX_PIPELINE: usize = 1024;

/// `--pipeline N`: 1 to [`MAX_PIPELINE`], and only with keep-alive.
fn pipeline(a: &RunArgs) -> Result<usize, ConfigError> {
    let n = a.pipeline;
    if n == 0 || n > MAX_PIPELINE {
        return Err(invalid(format!(
            "--pipeline {n} is out of range: give 1 (no pipelining) to {MAX_PIPELINE}"
        )));
    }
    if n > 1 && a.no_keepalive {
        return Err(invalid(format!(
            "--pipeline {n} needs keep-alive: every request with --no-keepalive asks the server to close, so nothing can follow it; drop one of the two"
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::{Cli, Command};
    use clap::Parser;

    fn config(flags: &[&str]) -> RunConfig {
        let mut argv = vec!["barrage", "run", "-o", "/nonexistent/barrage-test"];
        argv.extend_from_slice(flags);
        let Command::Run(a) = Cli::parse_from(argv).command else {
            panic!("not a run");
        };
        RunConfig::from_args(&a).unwrap()
    }

    /// The hash in every sample header is over this text; runs recorded before the load
    /// plan had its own type (when it was `LoadSpec`) must still merge with new ones.
    #[test]
    fn configuration_text_is_what_older_runs_hashed() {
        let c = config(&[
            "http://127.0.0.1:9/", "-c", "8", "-d", "3s", "-p", "2", "-t", "1",
        ]);
        assert_eq!(
            c.canonical(),
            "[\"GET http://127.0.0.1:9/\"]|8|Some(3s)|None|10s|true|Closed { interval: None, rampup: None, stages: None }|1"
        );
        let c = config(&[
            "http://127.0.0.1:9/x", "-c", "4", "-n", "100", "-p", "1", "-t", "1", "--interval",
            "10ms", "--rampup", "1s", "--no-keepalive", "--timeout", "2s",
        ]);
        assert_eq!(
            c.canonical(),
            "[\"GET http://127.0.0.1:9/x\"]|4|None|Some(100)|2s|false|Closed { interval: Some(10ms), rampup: Some(1s), stages: None }|1"
        );
    }

    /// Issue 15: --pipeline is checked, and enters the hash only when used.
    #[test]
    fn pipeline_depth_is_checked_and_hashed_only_when_used() {
        let base = [
            "http://127.0.0.1:9/", "-c", "8", "-d", "3s", "-p", "2", "-t", "1",
        ];
        let one = config(&base);
        assert_eq!(one.pipeline, 1);
        let mut flags = base.to_vec();
        flags.extend(["--pipeline", "16"]);
        let deep = config(&flags);
        assert_eq!(deep.pipeline, 16);
        assert_eq!(deep.canonical(), format!("{}|pipeline 16", one.canonical()));
        let err = |extra: &[&str]| {
            let mut argv = vec!["barrage", "run", "-o", "/nonexistent/barrage-test"];
            argv.extend_from_slice(&base);
            argv.extend_from_slice(extra);
            let Command::Run(a) = Cli::parse_from(argv).command else {
                panic!("not a run");
            };
            RunConfig::from_args(&a).unwrap_err().to_string()
        };
        assert!(err(&["--pipeline", "0"]).contains("out of range"));
        assert!(err(&["--pipeline", "1025"]).contains("out of range"));
        assert!(err(&["--pipeline", "2", "--no-keepalive"]).contains("needs keep-alive"));
    }

    /// Pipelines are read in batches only where the next requests wait for half of
    /// them anyway: closed loop, unpaced, half a pipeline more than one request.
    #[test]
    fn pipelines_are_read_in_batches_only_in_an_unpaced_closed_loop() {
        let batched = |extra: &[&str]| {
            let mut flags = vec!["http://127.0.0.1:9/", "-c", "8", "-d", "3s"];
            flags.extend_from_slice(extra);
            config(&flags).read_batching
        };
        assert!(batched(&["--pipeline", "16"]));
        assert!(batched(&["--pipeline", "3", "--rampup", "1s"]));
        assert!(!batched(&[]));
        assert!(!batched(&["--pipeline", "2"]));
        assert!(!batched(&["--pipeline", "16", "--no-read-batching"]));
        assert!(!batched(&["--pipeline", "16", "--interval", "10ms"]));
        assert!(!batched(&["--pipeline", "16", "-R", "1000"]));
        // Where it changes nothing, --no-read-batching says so.
        let warned = |extra: &[&str]| {
            let mut flags = vec!["http://127.0.0.1:9/", "-c", "8", "-d", "3s"];
            flags.extend_from_slice(extra);
            config(&flags)
                .warnings
                .iter()
                .any(|w| w.contains("--no-read-batching"))
        };
        assert!(warned(&["--no-read-batching"]));
        assert!(warned(&[
            "--pipeline", "16", "-R", "100", "--no-read-batching"
        ]));
        assert!(!warned(&["--pipeline", "16", "--no-read-batching"]));
        assert!(!warned(&["--pipeline", "16"]));
    }
}
