//! The launcher: takes the run's time base, forks one worker process per core before
//! any thread exists, and waits for them, forwarding SIGINT and SIGTERM as a graceful
//! stop (a second one stops hard) and printing live progress. Then it merges whatever
//! every process recorded, even a process that crashed or was killed. What a worker
//! process does is `process.rs`; the stop signals `signals.rs`; the clocks `clock.rs`;
//! the progress line `live.rs`. With `--metrics-listen`, the same wait loop serves
//! live metrics (`src/metrics/`): the socket is bound before the fork (a port in use
//! stops the run before any load), polled with the signalfd, served by a thread with
//! the final counts while the results are written (the only thread the launcher
//! starts, after every worker is gone), and closed once they are.
//!
//! `unsafe` here (allowed statement by statement; the crate denies it): `fork` (sound
//! because the parent has no other thread when it forks) and the child's `_exit`.

use std::fs;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use crate::cli::config::RunConfig;
use crate::engine::live::Live;
use crate::engine::plan::Load;
use crate::engine::progress::Board;
use crate::engine::signals::{self, StopSignals};
use crate::engine::{clock, process};
use crate::metrics::{Exporter, Labels, Server};
use crate::record::{CsvOptions, MergeError, rundir};
use crate::report::finish::{Merged, ReportOut, merge_and_report};
use crate::report::{Report, ReportError, ReportOptions};
use crate::time::Clock;

const SIGNALS: Token = Token(0);
/// The live counters' file, removed after the run.
const PROGRESS_FILE: &str = "progress.bin";

/// Why a run failed before or after its load. Load-time problems (refused
/// connections, timeouts...) are not errors: they are samples.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot create run directory {path}: {source} (choose a writable place with -o)")]
    OutDir { path: PathBuf, source: io::Error },
    #[error("run directory {path} already holds samples: choose a fresh one with -o")]
    OutDirUsed { path: PathBuf },
    #[error("cannot set up signal handling: {0}")]
    Signals(nix::Error),
    #[error("cannot fork worker process {index}: {source}")]
    Fork { index: usize, source: nix::Error },
    #[error(
        "each process needs {needed} open files for its connections but the limit is {hard}: raise it (ulimit -Hn, as root), or spread the connections over more processes (-p {processes} or more)"
    )]
    FdLimit {
        needed: u64,
        hard: u64,
        processes: u64,
    },
    #[error(
        "cannot listen on {addr} for --metrics-listen: {source} (choose a free port, or stop what holds it)"
    )]
    MetricsListen {
        addr: std::net::SocketAddr,
        source: io::Error,
    },
    #[error("{0}: start chrony or ntpd and wait for sync, or drop --strict-clock")]
    Clock(String),
    #[error(transparent)]
    Merge(#[from] MergeError),
}

/// What happened to one worker process.
#[derive(Debug, Clone)]
pub struct ChildEnd {
    pub index: usize,
    pub pid: i32,
    /// `None` when it exited with 0.
    pub problem: Option<String>,
}

/// A finished run.
pub struct RunOutcome {
    pub dir: PathBuf,
    pub csv: Option<PathBuf>,
    /// The run's report (its summary is what the terminal shows); `None` only if it
    /// could not be built, and then `report_files` says why.
    pub report: Option<Report>,
    /// The report files written into the run directory, HTML first, or why they
    /// could not be.
    pub report_files: Result<Vec<PathBuf>, ReportError>,
    pub children: Vec<ChildEnd>,
    /// Stop requests (SIGINT/SIGTERM) received.
    pub interrupted: u32,
    /// The first of them (its number), for the exit code.
    pub stop_signal: Option<i32>,
}

/// Runs the load and the merge.
pub fn run(cfg: &RunConfig) -> Result<RunOutcome, RunError> {
    raise_fd_limit(cfg)?;
    let metrics = match cfg.metrics_listen {
        Some(addr) => Some(bind_metrics(cfg, addr)?),
        None => None,
    };
    prepare_dir(cfg)?;
    if cfg.tls.is_some() {
        crate::wire::tls::warm_up();
    }
    let mut stops = StopSignals::block().map_err(RunError::Signals)?;
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();

    let board =
        Board::create(&cfg.out.join(PROGRESS_FILE), cfg.plan.loops()).map_err(|source| {
            RunError::OutDir {
                path: cfg.out.clone(),
                source,
            }
        })?;
    let (base, wall) = clock::time_base(cfg.start_at_ns);
    let clock_start = clock::check(cfg).map_err(RunError::Clock)?;
    let parent = nix::unistd::getpid();
    let mut pids: Vec<Pid> = Vec::new();
    for index in 0..cfg.plan.processes {
        // SAFETY: the parent is single-threaded here (no thread is started before the
        // fork in `barrage run`), so the child inherits a consistent address space;
        // the child only runs `process::main` and leaves with `_exit`.
        #[allow(unsafe_code)]
        let forked = unsafe { fork() };
        match forked {
            Ok(ForkResult::Child) => {
                drop(stops);
                drop(metrics);
                let child = process::Child {
                    index,
                    clock: Clock::new(base),
                    wall,
                    clock_start,
                    parent,
                };
                let code = process::main(cfg, child, &board);
                let _ = io::stderr().flush();
                // SAFETY: `_exit` skips atexit handlers and stdio buffers inherited from
                // the parent (which would otherwise be flushed twice); nothing runs after.
                #[allow(unsafe_code)]
                unsafe {
                    libc::_exit(code)
                };
            }
            Ok(ForkResult::Parent { child }) => pids.push(child),
            Err(source) => {
                for p in &pids {
                    let _ = kill(*p, Signal::SIGKILL);
                    let _ = waitpid(*p, None);
                }
                return Err(RunError::Fork { index, source });
            }
        }
    }

    let mut exporter = metrics.map(|mut server| {
        server.labels.run_id = cfg.run_id_at(wall);
        Exporter {
            server,
            board: &board,
            plan: &cfg.plan,
            base,
            ended: None,
        }
    });
    let mut live = Live::new(&board, base, cfg.plan.duration, cfg.quiet);
    let (children, interrupted, stop_signal) =
        wait_children(&pids, &mut stops, || live.tick(), exporter.as_mut());
    live.finish();
    stops.unblock();
    // Live metrics go on being served, the load's final counters, while the results
    // are written: from a thread now (every worker is gone, so no fork follows).
    if let Some(e) = exporter.as_mut() {
        e.ended = Some(Instant::now());
    }
    let stop = AtomicBool::new(false);
    let merged = thread::scope(|s| {
        let serving = exporter.as_mut().map(|e| {
            let stop = &stop;
            s.spawn(move || e.serve_until(stop))
        });
        let merged = merge(cfg);
        stop.store(true, Ordering::Release);
        if let Some(h) = serving {
            let _ = h.join();
        }
        merged
    });
    drop(exporter);
    drop(board);
    let _ = fs::remove_file(cfg.out.join(PROGRESS_FILE));
    let (report, report_files) = merged?.report_and_files();
    Ok(RunOutcome {
        dir: cfg.out.clone(),
        csv: cfg.write_csv.then(|| cfg.out.join("results.csv")),
        report,
        report_files,
        children,
        interrupted,
        stop_signal,
    })
}

/// One pass over the samples writes results.csv and the report. A report that cannot
/// be built or written is reported, but must not hide the run's outcome: the samples
/// and results.csv are there for `barrage report`.
fn merge(cfg: &RunConfig) -> Result<Merged, RunError> {
    let files = rundir::open_host_run(&cfg.out)?;
    let csv = cfg.write_csv.then(|| cfg.out.join("results.csv"));
    let csv_opts = CsvOptions {
        precision: cfg.precision,
        columns: cfg.columns.clone(),
        uncorrected: cfg.latency_uncorrected,
        steps: match cfg.scenario {
            Some(_) => cfg.target_names.clone().into(),
            None => Vec::new().into(),
        },
        ..Default::default()
    };
    let report = ReportOut {
        opts: ReportOptions {
            corrected: !cfg.latency_uncorrected,
            ..Default::default()
        },
        tls_verified: cfg.tls.as_ref().map(|t| !t.insecure),
        dir: Some(&cfg.out),
    };
    Ok(merge_and_report(
        &files,
        csv.as_deref().map(|p| (p, &csv_opts)),
        report,
    )?)
}

/// Binds the `--metrics-listen` socket and says where it is (port 0 picks one).
fn bind_metrics(cfg: &RunConfig, addr: std::net::SocketAddr) -> Result<Server, RunError> {
    let labels = Labels {
        run_id: String::new(),
        host_id: cfg.host_id.clone(),
        shard: cfg.plan.shard_index,
    };
    let server =
        Server::bind(addr, labels).map_err(|source| RunError::MetricsListen { addr, source })?;
    if !cfg.quiet
        && let Ok(at) = server.local_addr()
    {
        crate::outln!("  metrics      http://{at}/metrics  (live page: http://{at}/)");
    }
    Ok(server)
}

/// Makes sure every process may open its connections: raises the soft (and, as
/// root, the hard) open-file limit as far as this run needs.
fn raise_fd_limit(cfg: &RunConfig) -> Result<(), RunError> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let plan = &cfg.plan;
    let conns = match &plan.load {
        Load::Open {
            max_connections, ..
        } => (*max_connections).max(plan.connections),
        Load::Closed { .. } => plan.connections,
    };
    let per_process = (0..plan.processes)
        .map(|p| {
            (0..plan.threads)
                .map(|t| plan.loop_connections(p * plan.threads + t))
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0);
    // Open loop may open up to --max-connections: scale the closed-loop share.
    let per_process = per_process * conns / plan.connections.max(1);
    let needed = (per_process + 64 + 8 * plan.threads) as u64;
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Ok(());
    };
    if soft >= needed {
        return Ok(());
    }
    if setrlimit(Resource::RLIMIT_NOFILE, needed.max(soft), needed.max(hard)).is_ok()
        || (hard >= needed && setrlimit(Resource::RLIMIT_NOFILE, needed, hard).is_ok())
    {
        return Ok(());
    }
    let room = hard.saturating_sub(64 + 8 * plan.threads as u64).max(1);
    let processes = (conns as u64).div_ceil(room);
    Err(RunError::FdLimit {
        needed,
        hard,
        processes,
    })
}

/// Creates the run directory; refuses one that already holds samples.
fn prepare_dir(cfg: &RunConfig) -> Result<(), RunError> {
    let path = cfg.out.clone();
    fs::create_dir_all(&path).map_err(|source| RunError::OutDir {
        path: path.clone(),
        source,
    })?;
    if rundir::sample_paths(&path).is_ok() {
        return Err(RunError::OutDirUsed { path });
    }
    // Prove the directory is writable now, not after the load.
    let meta = serde_json::json!({
        "url": cfg.url,
        "processes": cfg.plan.processes,
        "threads": cfg.plan.threads,
        "connections": cfg.plan.connections,
        "duration_s": cfg.plan.duration.map(|d| d.as_secs_f64()),
        "requests": cfg.plan.requests,
        "timeout_s": cfg.timeout.as_secs_f64(),
        "keepalive": cfg.keepalive,
        "version": env!("CARGO_PKG_VERSION"),
    });
    let text = serde_json::to_string_pretty(&meta).expect("json");
    fs::write(path.join("run.json"), text + "\n").map_err(|source| RunError::OutDir {
        path: path.clone(),
        source,
    })?;
    if let Some(set) = &cfg.scenario {
        // What names the steps later (`barrage merge`, `barrage report`): records
        // carry only the step's index.
        let scenarios: Vec<_> = set
            .scenarios
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "weight": s.weight,
                    "steps": cfg.target_names[s.steps.start as usize..s.steps.end as usize],
                })
            })
            .collect();
        let meta = serde_json::json!({
            "file": set.file,
            "steps": cfg.target_names,
            "scenarios": scenarios,
        });
        let text = serde_json::to_string_pretty(&meta).expect("json");
        fs::write(path.join(rundir::SCENARIO_FILE), text + "\n")
            .map_err(|source| RunError::OutDir { path, source })?;
    }
    Ok(())
}

/// Waits for every child, forwarding stop requests. Returns how each ended, how
/// many stop requests arrived and the first one's signal number.
fn wait_children(
    pids: &[Pid],
    stops: &mut StopSignals,
    mut tick: impl FnMut() -> Duration,
    mut metrics: Option<&mut Exporter<'_>>,
) -> (Vec<ChildEnd>, u32, Option<i32>) {
    let mut ends: Vec<Option<ChildEnd>> = vec![None; pids.len()];
    let mut live = pids.len();
    let mut interrupted = 0;
    let mut first = None;
    // SIGCHLD is in the signalfd's mask, so a child's exit wakes this poll too.
    let mut poll = Poll::new().ok();
    let mut events = Events::with_capacity(8);
    if let Some(p) = &poll {
        let fd = stops.fd.as_raw_fd();
        if p.registry()
            .register(&mut SourceFd(&fd), SIGNALS, Interest::READABLE)
            .is_err()
        {
            poll = None;
        }
    }
    // Live metrics are served from this same poll (no thread: see the module doc).
    if let (Some(p), Some(m)) = (&poll, metrics.as_mut())
        && m.register(p.registry()).is_err()
    {
        metrics = None;
    }
    // `tick` prints any progress line due and says when the next one is.
    let mut wait = tick();
    while live > 0 {
        match poll.as_mut() {
            Some(p) => {
                let _ = p.poll(&mut events, Some(wait.min(Duration::from_secs(1))));
                if let Some(m) = metrics.as_mut() {
                    for ev in events.iter() {
                        if Exporter::owns(ev.token()) {
                            m.on_ready(p.registry(), ev.token());
                        }
                    }
                    m.expire(p.registry());
                }
            }
            // Without a poll, look again shortly.
            None => thread::sleep(Duration::from_millis(50)),
        }
        wait = tick();
        for sig in stops.stops() {
            interrupted += 1;
            first = first.or(Some(sig));
            for (i, pid) in pids.iter().enumerate() {
                if ends[i].is_none() {
                    signals::forward_stop(*pid);
                }
            }
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(status) => {
                    let Some(pid) = status.pid() else { break };
                    let Some(i) = pids.iter().position(|p| *p == pid) else {
                        continue;
                    };
                    let problem = match status {
                        WaitStatus::Exited(_, 0) => None,
                        WaitStatus::Exited(_, code) => Some(format!("exited with status {code}")),
                        WaitStatus::Signaled(_, sig, _) => {
                            Some(format!("was killed by {}", sig.as_str()))
                        }
                        _ => continue,
                    };
                    if ends[i].is_none() {
                        live -= 1;
                    }
                    ends[i] = Some(ChildEnd {
                        index: i,
                        pid: pid.as_raw(),
                        problem,
                    });
                }
            }
        }
    }
    // The server moves to the merge's serving thread, and its own poll.
    if let (Some(p), Some(m)) = (&poll, metrics.as_mut()) {
        m.deregister(p.registry());
    }
    (
        ends.into_iter()
            .map(|e| e.expect("every child reaped"))
            .collect(),
        interrupted,
        first,
    )
}
