//! One worker process, from the fork to its exit status: it stops with the launcher,
//! pins itself to its core, creates its sample file (whose header says which run,
//! shard and process it belongs to), starts its loops (`-t` threads, one `Worker`
//! each) and waits for them, turning SIGTERM into the loops' stop levels (graceful
//! first, hard the second time). Then it finishes the sample file with the process's
//! counters and the reasons its TLS handshakes failed.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::thread;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::cli::config::RunConfig;
use crate::engine::clock::clock_state;
use crate::engine::progress::Board;
use crate::engine::scenario_loop::ScenarioRun;
use crate::engine::signals;
use crate::engine::transport::TlsCtx;
use crate::engine::worker::{self, Sink, Traffic, Worker};
use crate::errln;
use crate::record::checks::{CheckLog, check_file_name};
use crate::record::{self, ClockState, Header, ProcessStats, SampleLog, rundir};
use crate::time::{Clock, wall_ns};

const SIGNALS: Token = Token(0);
const THREAD_DONE: Token = Token(1);

/// What a worker process is given at the fork.
pub struct Child {
    /// Its number on this host.
    pub index: usize,
    /// The run's time base.
    pub clock: Clock,
    /// The time base's wall-clock time (Unix ns).
    pub wall: u64,
    /// The clock's synchronisation at the start.
    pub clock_start: ClockState,
    /// The launcher.
    pub parent: Pid,
}

/// The body of one worker process. Returns its exit status.
pub fn main(cfg: &RunConfig, child: Child, board: &Board) -> i32 {
    let Child {
        index,
        clock,
        wall,
        clock_start,
        parent,
    } = child;
    // Stop with the parent: if it dies, we get SIGTERM (a graceful stop).
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
    if nix::unistd::getppid() != parent {
        return 1;
    }
    let core = pin(index);
    let header = Header {
        chunk_records: record::CHUNK_RECORDS as u32,
        process_index: index as u32,
        process_count: cfg.plan.processes as u32,
        flags: if cfg.plan.load.is_open() {
            record::HDR_OPEN_LOOP
        } else {
            0
        } | if cfg.latency_uncorrected {
            record::HDR_UNCORRECTED
        } else {
            0
        } | if cfg.read_batching {
            record::HDR_BATCHED_READS
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
        pipeline: cfg.pipeline as u32,
        ..Default::default()
    };
    let path = cfg.out.join(rundir::file_name(index as u32));
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
    // The self-check's evidence; a run goes on without it (the verdict says so).
    let checks = match CheckLog::create(&cfg.out.join(check_file_name(index as u32)), index as u32)
    {
        Ok(c) => Some(Arc::new(c)),
        Err(e) => {
            errln!("barrage: worker {index}: cannot create its self-check file: {e}");
            None
        }
    };
    match run_threads(cfg, index, clock, wall, &log, (checks, core), board) {
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
/// Pins this process to core `index` (modulo the cores it may use); returns the CPU it
/// is pinned to, whose idle time the self-check watches.
fn pin(index: usize) -> Option<usize> {
    let ids = core_affinity::get_core_ids().filter(|ids| !ids.is_empty())?;
    let id = ids[index % ids.len()];
    core_affinity::set_for_current(id).then_some(id.id)
}

/// `checks`: the self-check file, and the core the process is pinned to.
fn run_threads(
    cfg: &RunConfig,
    index: usize,
    clock: Clock,
    wall: u64,
    log: &Arc<SampleLog>,
    (checks, core): (Option<Arc<CheckLog>>, Option<usize>),
    board: &Board,
) -> io::Result<ProcessEnd> {
    let sigfd = signals::term_fd()?;
    let mut poll = Poll::new()?;
    let fd = sigfd.as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&fd), SIGNALS, Interest::READABLE)?;
    let done = Waker::new(poll.registry(), THREAD_DONE)?;
    // Counted before the wake, so the count is right whenever the wake is seen.
    let finished = AtomicUsize::new(0);
    let stop = Arc::new(AtomicU8::new(signals::RUNNING));

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
            scenario: cfg.scenario.as_ref().map(|set| ScenarioRun {
                set: Arc::clone(set),
                seed: cfg.seed,
                wall_ns: wall,
                max_body: cfg.max_body,
            }),
            pipeline: cfg.pipeline,
            read_batching: cfg.read_batching,
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
                checks: checks.clone(),
                core,
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
        let mut level = signals::RUNNING;
        while finished.load(Ordering::Acquire) < handles.len() {
            if let Err(e) = poll.poll(&mut events, None)
                && e.kind() != io::ErrorKind::Interrupted
            {
                // Without the poll we cannot hear signals; stop the loops cleanly.
                stop.store(signals::GRACEFUL, Ordering::Release);
                wakers.iter().for_each(|w| drop(w.wake()));
                return Err(e);
            }
            while let Ok(Some(_)) = sigfd.read_signal() {
                level = (level + 1).min(signals::HARD);
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
