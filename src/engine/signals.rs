//! The stop signals. SIGINT and SIGTERM (and SIGCHLD, so a child's exit wakes the
//! launcher) are blocked in every process and read from a signalfd, so no handler runs
//! in signal context. Children ignore the terminal's SIGINT (their blocked, unread copy
//! stays pending) and obey only the launcher's SIGTERM, so one Ctrl-C is exactly one
//! stop request wherever it was delivered: the launcher forwards it, and a worker
//! process turns each SIGTERM into the next stop level of its loops.

use std::io;
use std::time::Duration;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, pthread_sigmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

/// How hard a worker process has been asked to stop: the stop level its loops read
/// (when their waker fires).
pub const RUNNING: u8 = 0;
/// Finish in-flight requests (within [`GRACE`]), start no new ones.
pub const GRACEFUL: u8 = 1;
/// Record in-flight requests as cancelled and leave now.
pub const HARD: u8 = 2;

/// How long in-flight requests may run on after a graceful stop.
pub const GRACE: Duration = Duration::from_secs(2);

/// The launcher's stop signals, blocked and readable from a signalfd.
pub struct StopSignals {
    mask: SigSet,
    pub fd: SignalFd,
}

impl StopSignals {
    /// Blocks SIGINT, SIGTERM and SIGCHLD in this process (single-threaded: the
    /// children inherit the mask) and opens the signalfd that reads them.
    pub fn block() -> nix::Result<StopSignals> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGINT);
        mask.add(Signal::SIGTERM);
        mask.add(Signal::SIGCHLD);
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(StopSignals { mask, fd })
    }

    /// The stop requests (SIGINT or SIGTERM) that arrived since the last call, as
    /// signal numbers in order; SIGCHLD is read and dropped (it only wakes the wait).
    pub fn stops(&mut self) -> impl Iterator<Item = i32> + '_ {
        std::iter::from_fn(|| self.fd.read_signal().ok().flatten())
            .map(|info| info.ssi_signo as i32)
            .filter(|&sig| sig == Signal::SIGINT as i32 || sig == Signal::SIGTERM as i32)
    }

    /// Closes the signalfd and unblocks the signals (after the children are reaped).
    pub fn unblock(self) {
        let StopSignals { mask, fd } = self;
        drop(fd);
        let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&mask), None);
    }
}

/// Asks a worker process to stop (gracefully the first time, hard the second).
pub fn forward_stop(pid: Pid) {
    let _ = kill(pid, Signal::SIGTERM);
}

/// A worker process's SIGTERM, readable from a signalfd (it is blocked already: the
/// mask is inherited from the launcher).
pub fn term_fd() -> io::Result<SignalFd> {
    let mut term = SigSet::empty();
    term.add(Signal::SIGTERM);
    SignalFd::with_flags(&term, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(io::Error::from)
}
