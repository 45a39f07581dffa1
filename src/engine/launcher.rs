//! The launcher: takes the run's time base, forks one worker process per core before
//! any thread exists, pins each to its core, and waits for them, forwarding SIGINT and
//! SIGTERM as a graceful stop (a second one stops hard). Then it merges whatever every
//! process recorded, even a process that crashed or was killed.
//!
//! Signals are blocked in every process and read from a signalfd, so no handler runs
//! in signal context. Children ignore the terminal's SIGINT (their blocked, unread
//! copy stays pending) and obey only the parent's SIGTERM, so one Ctrl-C is exactly
//! one stop request wherever it was delivered.
//!
//! `unsafe` here (allowed statement by statement; the crate denies it): `fork`
//! (sound because the parent has no other thread when it forks), the child's `_exit`,
//! and `adjtimex` (a plain syscall nix does not wrap).

use std::fs;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, pthread_sigmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use crate::cli::config::RunConfig;
use crate::engine::plan::Load;
use crate::engine::progress::{Board, Snapshot};
use crate::engine::transport::TlsCtx;
use crate::engine::worker::{self, Sink, Traffic, Worker};
use crate::record::merge::{self, CsvOptions, MergeError};
use crate::record::sample::{self, ClockState, Header, ProcessStats, SampleLog};
use crate::report::{self, Report, ReportError, ReportOptions};
use crate::time::{Clock, wall_ns};
use crate::{errln, out, outln};

const SIGNALS: Token = Token(0);
/// The live counters' file, removed after the run.
const PROGRESS_FILE: &str = "progress.bin";
const THREAD_DONE: Token = Token(1);

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
    prepare_dir(cfg)?;
    if cfg.tls.is_some() {
        crate::wire::tls::warm_up();
    }
    let mask = stop_signals();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), None).map_err(RunError::Signals)?;
    let mut sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(RunError::Signals)?;
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();

    let board =
        Board::create(&cfg.out.join(PROGRESS_FILE), cfg.plan.loops()).map_err(|source| {
            RunError::OutDir {
                path: cfg.out.clone(),
                source,
            }
        })?;
    // The time base: now, or the --start-at instant (which may be in the future: the
    // loops wait for it after setting up, so every host starts together).
    let now_wall = wall_ns();
    let (base, wall) = match cfg.start_at_ns {
        Some(at) if at > now_wall => (Instant::now() + Duration::from_nanos(at - now_wall), at),
        Some(at) => {
            let now = Instant::now();
            (
                now.checked_sub(Duration::from_nanos(now_wall - at))
                    .unwrap_or(now),
                at,
            )
        }
        None => (Instant::now(), now_wall),
    };
    let clock_start = clock_state();
    if let Some(max) = cfg.max_clock_error {
        let err_us = clock_start.max_error_us.max(0) as u64;
        if clock_start.unsynced || err_us > max.as_micros() as u64 {
            let why = if clock_start.unsynced {
                "the system clock is not synchronised (adjtimex: STA_UNSYNC)".to_string()
            } else {
                format!(
                    "the clock's error bound is {} ms, above --max-clock-error {:?}",
                    err_us / 1000,
                    max
                )
            };
            if cfg.strict_clock {
                return Err(RunError::Clock(why));
            }
            errln!(
                "barrage: warning: {why}; hosts' time axes may not line up (run chrony or ntpd)"
            );
        }
    }
    let parent = nix::unistd::getpid();
    let mut pids: Vec<Pid> = Vec::new();
    for index in 0..cfg.plan.processes {
        // SAFETY: the parent is single-threaded here (no thread is started before the
        // fork in `barrage run`), so the child inherits a consistent address space;
        // the child only runs `child_main` and leaves with `_exit`.
        #[allow(unsafe_code)]
        let forked = unsafe { fork() };
        match forked {
            Ok(ForkResult::Child) => {
                drop(sigfd);
                let code = child_main(
                    cfg,
                    index,
                    Clock::new(base),
                    wall,
                    clock_start,
                    parent,
                    &board,
                );
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

    let mut progress = Progress::new(&board, base, cfg.plan.duration, cfg.quiet);
    let (children, interrupted, stop_signal) = wait_children(&pids, &mut sigfd, || progress.tick());
    progress.finish();
    drop(board);
    let _ = fs::remove_file(cfg.out.join(PROGRESS_FILE));
    drop(sigfd);
    let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&mask), None);

    // One pass over the samples writes results.csv and feeds the report.
    let files = merge::open_host_run(&cfg.out)?;
    let (mut acc, mut source) = report::source::for_run(
        &files,
        ReportOptions {
            corrected: !cfg.latency_uncorrected,
            ..Default::default()
        },
    );
    source.tls_verified = cfg.tls.as_ref().map(|t| !t.insecure);
    let csv = if cfg.write_csv {
        let path = cfg.out.join("results.csv");
        let opts = CsvOptions {
            precision: cfg.precision,
            columns: cfg.columns.clone(),
            uncorrected: cfg.latency_uncorrected,
            ..Default::default()
        };
        merge::write_csv(&files, &path, &opts, |r, _| acc.add_record(r))?;
        Some(path)
    } else {
        let mut m = merge::Merger::new(&files)?;
        while let Some((r, _)) = m.next_record()? {
            acc.add_record(&r);
        }
        None
    };
    // A report that cannot be built or written is reported, but must not hide the
    // run's outcome: the samples and results.csv are there for `barrage report`.
    let (report, report_files) = match acc.finish(source) {
        Ok(r) => {
            let files = report::write_files(&r, &cfg.out);
            (Some(r), files)
        }
        Err(e) => (None, Err(e)),
    };
    Ok(RunOutcome {
        dir: cfg.out.clone(),
        csv,
        report,
        report_files,
        children,
        interrupted,
        stop_signal,
    })
}

/// Prints live progress at every whole second of the run, and at the end of `-d`:
/// one rewritten line on a terminal, a line per tick otherwise.
struct Progress<'a> {
    board: &'a Board,
    base: Instant,
    total: Option<Duration>,
    quiet: bool,
    tty: bool,
    last: Snapshot,
    last_at: Instant,
    /// The next tick, as an offset from `base`.
    next: Duration,
}

impl<'a> Progress<'a> {
    fn new(board: &'a Board, base: Instant, total: Option<Duration>, quiet: bool) -> Progress<'a> {
        use std::io::IsTerminal;
        Progress {
            board,
            base,
            total,
            quiet,
            tty: io::stdout().is_terminal(),
            last: board.snapshot(),
            last_at: base,
            next: crate::engine::progress::next_tick(Duration::ZERO, total),
        }
    }

    /// Prints a line if a tick is due; returns how long until the next one.
    fn tick(&mut self) -> Duration {
        let now = Instant::now();
        let since_base = now.saturating_duration_since(self.base);
        if self.quiet || now < self.base || since_base < self.next {
            return self.until_next(now);
        }
        let snap = self.board.snapshot();
        let dt = now
            .saturating_duration_since(self.last_at)
            .as_secs_f64()
            .max(1e-3);
        let line = crate::engine::progress::line(
            since_base,
            self.total,
            (snap.requests - self.last.requests) as f64 / dt,
            snap.p99_since(&self.last),
            snap.requests,
            snap.errors,
        );
        if self.tty {
            out!("\r\x1b[2K{line}");
        } else {
            outln!("{line}");
        }
        self.last = snap;
        self.last_at = now;
        // A late wake-up skips the ticks it missed rather than printing them at once.
        self.next = crate::engine::progress::next_tick(since_base, self.total);
        self.until_next(now)
    }

    fn until_next(&self, now: Instant) -> Duration {
        if self.quiet {
            return Duration::from_secs(1);
        }
        (self.base + self.next).saturating_duration_since(now)
    }

    fn finish(&mut self) {
        if self.tty && !self.quiet {
            out!("\r\x1b[2K");
        }
    }
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

fn stop_signals() -> SigSet {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGCHLD);
    mask
}

/// Creates the run directory; refuses one that already holds samples.
fn prepare_dir(cfg: &RunConfig) -> Result<(), RunError> {
    let path = cfg.out.clone();
    fs::create_dir_all(&path).map_err(|source| RunError::OutDir {
        path: path.clone(),
        source,
    })?;
    if merge::sample_paths(&path).is_ok() {
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
    fs::write(path.join("run.json"), text + "\n")
        .map_err(|source| RunError::OutDir { path, source })?;
    Ok(())
}

/// Waits for every child, forwarding stop requests. Returns how each ended, how
/// many stop requests arrived and the first one's signal number.
fn wait_children(
    pids: &[Pid],
    sigfd: &mut SignalFd,
    mut tick: impl FnMut() -> Duration,
) -> (Vec<ChildEnd>, u32, Option<i32>) {
    let mut ends: Vec<Option<ChildEnd>> = vec![None; pids.len()];
    let mut live = pids.len();
    let mut interrupted = 0;
    let mut first = None;
    // SIGCHLD is in the signalfd's mask, so a child's exit wakes this poll too.
    let mut poll = Poll::new().ok();
    let mut events = Events::with_capacity(8);
    if let Some(p) = &poll {
        let fd = sigfd.as_raw_fd();
        if p.registry()
            .register(&mut SourceFd(&fd), SIGNALS, Interest::READABLE)
            .is_err()
        {
            poll = None;
        }
    }
    // `tick` prints any progress line due and says when the next one is.
    let mut wait = tick();
    while live > 0 {
        match poll.as_mut() {
            Some(p) => {
                let _ = p.poll(&mut events, Some(wait.min(Duration::from_secs(1))));
            }
            // Without a poll, look again shortly.
            None => thread::sleep(Duration::from_millis(50)),
        }
        wait = tick();
        while let Ok(Some(info)) = sigfd.read_signal() {
            let sig = info.ssi_signo as i32;
            if sig == Signal::SIGINT as i32 || sig == Signal::SIGTERM as i32 {
                interrupted += 1;
                first = first.or(Some(sig));
                for (i, pid) in pids.iter().enumerate() {
                    if ends[i].is_none() {
                        let _ = kill(*pid, Signal::SIGTERM);
                    }
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
    (
        ends.into_iter()
            .map(|e| e.expect("every child reaped"))
            .collect(),
        interrupted,
        first,
    )
}

/// The body of one worker process. Returns its exit status.
fn child_main(
    cfg: &RunConfig,
    index: usize,
    clock: Clock,
    wall: u64,
    clock_start: ClockState,
    parent: Pid,
    board: &Board,
) -> i32 {
    // Stop with the parent: if it dies, we get SIGTERM (a graceful stop).
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
    if nix::unistd::getppid() != parent {
        return 1;
    }
    if let Some(ids) = core_affinity::get_core_ids()
        && !ids.is_empty()
    {
        core_affinity::set_for_current(ids[index % ids.len()]);
    }
    let header = Header {
        chunk_records: sample::CHUNK_RECORDS as u32,
        process_index: index as u32,
        process_count: cfg.plan.processes as u32,
        flags: if cfg.plan.load.is_open() {
            sample::HDR_OPEN_LOOP
        } else {
            0
        } | if cfg.latency_uncorrected {
            sample::HDR_UNCORRECTED
        } else {
            0
        },
        wall_start_ns: wall,
        claimed_chunks: 0,
        shard_index: cfg.plan.shard_index,
        shard_count: cfg.plan.shard_count,
        config_hash: cfg.hash(),
        host_id: cfg.host_id.clone(),
        run_id: cfg.run_id_at(wall),
        clock_start,
        ..Default::default()
    };
    let path = cfg.out.join(sample::file_name(index as u32));
    let log = match SampleLog::create(&path, &header) {
        Ok(l) => l,
        Err(e) => {
            errln!(
                "barrage: worker {index}: cannot create {}: {e}",
                path.display()
            );
            return 2;
        }
    };
    match run_threads(cfg, index, clock, &log, board) {
        Ok(ProcessEnd { stats, tls, error }) => {
            // Noted by this process's connections and verifier (one copy per process).
            let reasons = cfg.tls.as_ref().map_or_else(Vec::new, |t| t.reasons.all());
            let finish = log.finish(&stats, &tls, &reasons, &clock_state(), wall_ns());
            if let Err(e) = finish {
                errln!(
                    "barrage: worker {index}: cannot finish {}: {e}",
                    path.display()
                );
                return 2;
            }
            match error {
                Some(e) => {
                    errln!("barrage: worker {index}: {e}");
                    3
                }
                None => 0,
            }
        }
        Err(e) => {
            errln!("barrage: worker {index}: {e}");
            2
        }
    }
}

/// What a process's loops report, summed.
struct ProcessEnd {
    stats: ProcessStats,
    tls: [u16; 3],
    error: Option<String>,
}

/// Starts the process's loops and waits for them, turning SIGTERM into stop levels.
fn run_threads(
    cfg: &RunConfig,
    index: usize,
    clock: Clock,
    log: &Arc<SampleLog>,
    board: &Board,
) -> io::Result<ProcessEnd> {
    let mut term = SigSet::empty();
    term.add(Signal::SIGTERM);
    let sigfd = SignalFd::with_flags(&term, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(io::Error::from)?;
    let mut poll = Poll::new()?;
    let fd = sigfd.as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&fd), SIGNALS, Interest::READABLE)?;
    let done = Waker::new(poll.registry(), THREAD_DONE)?;
    // Counted before the wake, so the count is right whenever the wake is seen.
    let finished = AtomicUsize::new(0);
    let stop = Arc::new(AtomicU8::new(worker::RUNNING));

    let mut workers = Vec::new();
    let mut wakers = Vec::new();
    for t in 0..cfg.plan.threads {
        let l = index * cfg.plan.threads + t;
        let traffic = Traffic {
            addr: cfg.target.addrs[0],
            targets: Arc::clone(&cfg.templates),
            picker: Arc::clone(&cfg.picker),
            tls: cfg.tls.as_ref().map(|t| TlsCtx {
                config: t.thread_config(),
                server_name: t.server_name.clone(),
                reasons: Arc::clone(&t.reasons),
            }),
            keepalive: cfg.keepalive,
            bind: Arc::clone(&cfg.bind),
            timeout: cfg.timeout,
        };
        let wpoll = Poll::new()?;
        wakers.push(Waker::new(wpoll.registry(), worker::WAKER)?);
        workers.push(Worker::new(
            wpoll,
            &cfg.plan,
            l,
            traffic,
            clock,
            Arc::clone(&stop),
            Sink {
                writer: log.writer(),
                progress: Some(board.slot(l)),
            },
        )?);
    }

    thread::scope(|scope| {
        let mut handles = Vec::new();
        for (t, w) in workers.into_iter().enumerate() {
            let (done, finished) = (&done, &finished);
            let h = thread::Builder::new()
                .name(format!("barrage-{index}-{t}"))
                .spawn_scoped(scope, move || {
                    let r = w.run();
                    finished.fetch_add(1, Ordering::AcqRel);
                    let _ = done.wake();
                    r
                })?;
            handles.push(h);
        }
        let mut events = Events::with_capacity(8);
        let mut level = worker::RUNNING;
        while finished.load(Ordering::Acquire) < handles.len() {
            if let Err(e) = poll.poll(&mut events, None)
                && e.kind() != io::ErrorKind::Interrupted
            {
                // Without the poll we cannot hear signals; stop the loops cleanly.
                stop.store(worker::GRACEFUL, Ordering::Release);
                wakers.iter().for_each(|w| drop(w.wake()));
                return Err(e);
            }
            while let Ok(Some(_)) = sigfd.read_signal() {
                level = (level + 1).min(worker::HARD);
                stop.store(level, Ordering::Release);
                for w in &wakers {
                    let _ = w.wake();
                }
            }
        }
        let mut end = ProcessEnd {
            stats: ProcessStats::default(),
            tls: [0; 3],
            error: None,
        };
        for h in handles {
            match h.join() {
                Ok(r) => {
                    end.stats.add(&r.stats);
                    if let (Some(n), [0, 0, 0]) = (r.negotiated, end.tls) {
                        end.tls = [n.version, n.suite, n.group];
                    }
                    end.error = end.error.or(r.error);
                }
                Err(_) => end.error = Some("a worker thread panicked".to_string()),
            }
        }
        Ok(end)
    })
}

/// The kernel's view of clock synchronisation, for the sample header.
#[allow(unsafe_code)]
pub fn clock_state() -> ClockState {
    // SAFETY: `timex` is plain integers, for which all-zero bytes are a valid value.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: adjtimex with modes = 0 only reads, into the struct we own.
    let state = unsafe { libc::adjtimex(&mut tx) };
    ClockState {
        state,
        unsynced: tx.status & libc::STA_UNSYNC != 0,
        max_error_us: tx.maxerror,
        est_error_us: tx.esterror,
    }
}
