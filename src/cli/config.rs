//! The validated run: what `barrage run` was asked to do, checked and resolved before
//! any process forks. Every bad input is caught here with a message that names the
//! problem and the fix; nothing after this point re-validates.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::args::{OnOff, RunArgs, TargetsMode};
use crate::cli::distributed::{host_name, resolve_shard, resolve_start_at};
use crate::cli::targets::request_specs;
use crate::cli::url::{Target, parse_bind, url_string};
use crate::engine::schedule::{Pick, Picker, Profile};
use crate::record::merge::Column;
use crate::wire::expect::ExpectSpec;
use crate::wire::request::Template;
use crate::wire::tls::{ClientTls, TlsOptions};

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

/// How requests are started (see `worker.rs`).
#[derive(Debug, Clone)]
pub enum LoadSpec {
    Closed {
        interval: Option<Duration>,
        rampup: Option<Duration>,
        stages: Option<Arc<Profile>>,
    },
    Open {
        rate: Profile,
        max_connections: usize,
    },
}

impl LoadSpec {
    pub fn is_open(&self) -> bool {
        matches!(self, LoadSpec::Open { .. })
    }
}

/// A validated `barrage run`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The URL as given (the first target's, with --targets).
    pub url: String,
    /// Where every connection goes.
    pub target: Target,
    pub processes: usize,
    pub threads: usize,
    pub connections: usize,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub timeout: Duration,
    pub out: PathBuf,
    pub keepalive: bool,
    /// Every request, byte for byte, built once.
    pub templates: Arc<[Template]>,
    /// "METHOD URL" of each template, for reports.
    pub target_names: Vec<String>,
    pub picker: Arc<Picker>,
    pub tls: Option<ClientTls>,
    pub load: LoadSpec,
    pub latency_uncorrected: bool,
    pub precision: u32,
    pub columns: Vec<Column>,
    pub write_csv: bool,
    pub quiet: bool,
    /// Cores to pin processes to (process i gets core `i % cores`).
    pub cores: usize,
    /// Things the user asked for that look inconsistent; printed before the load.
    pub warnings: Vec<String>,
    /// This host's shard and the number of shards (0 and 1 when not distributed).
    pub shard_index: u32,
    pub shard_count: u32,
    /// Unix time (ns) the load starts at (`--start-at`).
    pub start_at_ns: Option<u64>,
    pub host_id: String,
    pub run_id: Option<String>,
    pub max_clock_error: Option<Duration>,
    pub strict_clock: bool,
    /// Source addresses for connections (`--bind`); empty: the kernel chooses.
    pub bind: Arc<[std::net::IpAddr]>,
}

/// `floor(total*(i+1)/n) - floor(total*i/n)`: shares that differ by at most one and
/// sum exactly to `total`.
pub fn share(total: u64, n: usize, i: usize) -> u64 {
    let (t, n, i) = (total as u128, n as u128, i as u128);
    ((t * (i + 1)) / n - (t * i) / n) as u64
}

pub(crate) fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

impl RunConfig {
    pub fn from_args(a: &RunArgs) -> Result<RunConfig, ConfigError> {
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
        // Every loop of every host needs a connection.
        let loops = processes * a.threads * shard_count as usize;
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
        let load = load_spec(a, connections)?;
        let duration = match (a.duration, a.requests, &load) {
            (Some(d), _, _) => Some(d),
            (None, _, LoadSpec::Open { rate, .. }) if a.rate_stages.is_some() => {
                Some(Duration::from_nanos(rate.end()))
            }
            (
                None,
                _,
                LoadSpec::Closed {
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
        let columns = match &a.columns {
            Some(s) => Column::parse_list(s).map_err(ConfigError::Invalid)?,
            None => Vec::new(),
        };
        let keepalive = !a.no_keepalive;
        let specs = request_specs(a)?;
        let first = &specs[0];
        let target = Target::resolve_url(&first.url)?;
        for s in &specs[1..] {
            if (s.url.tls, &s.url.host, s.url.port)
                != (first.url.tls, &first.url.host, first.url.port)
            {
                return Err(invalid(format!(
                    "{}: every target must share one scheme://host:port ({}); run one barrage per origin",
                    s.origin, first.url.authority
                )));
            }
        }
        let mut warnings = Vec::new();
        let mut templates = Vec::new();
        let flags = ExpectSpec {
            status: a.expect_status.clone(),
            body: a.expect_body.clone(),
            regex: a.expect_body_regex.clone(),
            size: a.expect_size.clone(),
        };
        for s in &specs {
            warnings.extend(s.length_warnings());
            let expect = s
                .expect
                .or(&flags)
                .compile(a.max_body)
                .map_err(|e| match s.origin.as_str() {
                    "the command line" => invalid(e),
                    origin => invalid(format!("{origin}: {e}")),
                })?
                .map(Arc::new);
            templates.push(Template::new(&s.parts(), keepalive, expect));
        }
        let target_names = specs
            .iter()
            .map(|s| format!("{} {}", s.method, url_string(&s.url)))
            .collect();
        let weights: Vec<u32> = specs.iter().map(|s| s.weight).collect();
        let pick = match a.targets_mode {
            TargetsMode::RoundRobin => Pick::RoundRobin,
            TargetsMode::Random => Pick::Random,
        };
        let tls = tls_config(a, &target)?;
        if target.tls && a.sni.is_none() {
            // A Host header naming another site than the URL: SNI and the certificate
            // check still use the URL's host, which the server may not expect.
            for s in &specs {
                if let Some((_, host)) = s
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("host"))
                {
                    let name = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
                    if !name.eq_ignore_ascii_case(&target.host) {
                        warnings.push(format!(
                            "{}: Host: {host} but TLS sends and verifies the name {}; add --sni {name} if the server expects it",
                            s.origin, target.host
                        ));
                    }
                }
            }
        }
        let bind: Arc<[std::net::IpAddr]> = match &a.bind {
            Some(b) => {
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
                ips.into()
            }
            None => Arc::from(Vec::new()),
        };
        let url = a.url.clone().unwrap_or_else(|| url_string(&first.url));
        Ok(RunConfig {
            url,
            target,
            processes,
            threads: a.threads,
            connections,
            duration,
            requests: a.requests,
            timeout: a.timeout,
            out: a.out.clone().unwrap_or_else(default_run_dir),
            keepalive,
            templates: templates.into(),
            target_names,
            picker: Arc::new(Picker::new(&weights, pick)),
            tls,
            load,
            latency_uncorrected: a.latency_uncorrected,
            precision: a.precision,
            columns,
            write_csv: !a.no_csv,
            quiet: a.quiet,
            cores,
            warnings,
            shard_index,
            shard_count,
            start_at_ns,
            host_id: a.host_id.clone().unwrap_or_else(host_name),
            run_id: a.run_id.clone(),
            max_clock_error: a.max_clock_error,
            strict_clock: a.strict_clock,
            bind,
        })
    }

    /// Worker loops on this host.
    pub fn loops(&self) -> usize {
        self.processes * self.threads
    }

    /// Worker loops of the whole test (all shards).
    pub fn global_loops(&self) -> usize {
        self.loops() * self.shard_count as usize
    }

    /// Index among all loops of the test of this host's loop `l`.
    pub fn global_loop(&self, l: usize) -> usize {
        self.shard_index as usize * self.loops() + l
    }

    /// Connections of this host's loop `l`.
    pub fn loop_connections(&self, l: usize) -> usize {
        share(
            self.connections as u64,
            self.global_loops(),
            self.global_loop(l),
        ) as usize
    }

    /// Request quota of this host's loop `l`, when the run is count-bounded.
    pub fn loop_requests(&self, l: usize) -> Option<u64> {
        self.requests
            .map(|n| share(n, self.global_loops(), self.global_loop(l)))
    }

    /// Open loop: loop `l`'s requests are global numbers `offset + stride * j`, so
    /// request `k` goes to host `k mod N`, and loops interleave within the host.
    pub fn loop_schedule_slots(&self, l: usize) -> (u64, u64) {
        let n = self.shard_count as u64;
        (
            self.shard_index as u64 + n * l as u64,
            n * self.loops() as u64,
        )
    }
}

fn load_spec(a: &RunArgs, connections: usize) -> Result<LoadSpec, ConfigError> {
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
        return Ok(LoadSpec::Open {
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
    Ok(LoadSpec::Closed {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_exactly() {
        for total in [0u64, 1, 7, 64, 1000, 12345] {
            for n in 1..10 {
                let parts: Vec<u64> = (0..n).map(|i| share(total, n, i)).collect();
                assert_eq!(parts.iter().sum::<u64>(), total);
                let (min, max) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
                assert!(max - min <= 1);
            }
        }
    }
}
