//! The console: every line barrage prints for people (banner, live progress, summary,
//! warnings, errors, `serve`'s counts) goes through here, in every subcommand and in
//! the forked worker processes.
//!
//! The console is the least important output of a run. `println!` panics when its
//! write fails, and with `panic = "abort"` that kills the run before results.csv is
//! written: `barrage run URL | head -2` used to lose the whole run to EPIPE. Here the
//! first failed write to a stream (a closed pipe, a hung-up terminal, a full disk)
//! marks that stream dead and every later write to it is dropped without a word;
//! the other stream, the load, the files and the exit code are untouched.
//!
//! SIGPIPE cannot kill us either: Rust's runtime sets it to ignored before `main`,
//! and the forked workers inherit that disposition, so a write to a closed pipe is
//! an `EPIPE` error that lands here. `main` reasserts it ([`ignore_sigpipe`]) so this
//! does not depend on how the binary was built.
//!
//! Use the [`out!`](crate::out), [`outln!`](crate::outln) and
//! [`errln!`](crate::errln) macros; clippy's `print_stdout` and `print_stderr` lints
//! keep `print!`/`println!`/`eprintln!` out of `src/`.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// One of the two console streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

static OUT_DEAD: AtomicBool = AtomicBool::new(false);
static ERR_DEAD: AtomicBool = AtomicBool::new(false);

impl Stream {
    fn dead(self) -> &'static AtomicBool {
        match self {
            Stream::Out => &OUT_DEAD,
            Stream::Err => &ERR_DEAD,
        }
    }

    /// False once a write to this stream has failed: later writes are dropped.
    pub fn is_live(self) -> bool {
        !self.dead().load(Ordering::Relaxed)
    }
}

/// Writes `args` (and a newline if `newline`) to `stream` and flushes it, under the
/// stream's lock so concurrent lines do not interleave. A failure marks the stream
/// dead; nothing is returned because nothing should depend on the console.
pub fn write(stream: Stream, args: fmt::Arguments<'_>, newline: bool) {
    if !stream.is_live() {
        return;
    }
    fn put(w: &mut impl Write, args: fmt::Arguments<'_>, newline: bool) -> io::Result<()> {
        w.write_fmt(args)?;
        if newline {
            w.write_all(b"\n")?;
        }
        w.flush()
    }
    let ok = match stream {
        Stream::Out => put(&mut io::stdout().lock(), args, newline),
        Stream::Err => put(&mut io::stderr().lock(), args, newline),
    }
    .is_ok();
    if !ok {
        stream.dead().store(true, Ordering::Relaxed);
    }
}

/// Makes a write to a closed pipe an `EPIPE` error (handled above) instead of a
/// deadly SIGPIPE, in this process and in every process it forks.
#[allow(unsafe_code)]
pub fn ignore_sigpipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: installing SIG_IGN runs no code in signal context.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
}

/// `print!` that never panics: see the module doc.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => {
        $crate::console::write($crate::console::Stream::Out, format_args!($($t)*), false)
    };
}

/// `println!` that never panics: see the module doc.
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::console::write($crate::console::Stream::Out, format_args!($($t)*), true)
    };
}

/// `eprintln!` that never panics: see the module doc.
#[macro_export]
macro_rules! errln {
    ($($t:tt)*) => {
        $crate::console::write($crate::console::Stream::Err, format_args!($($t)*), true)
    };
}
