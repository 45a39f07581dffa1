//! Exit codes a script can rely on, and the one line that says why no request of a
//! run succeeded. `main` gathers what happened into an [`Ending`]; [`Ending::code`]
//! applies the precedence documented in README.md and `barrage run --help`
//! ([`HELP`]).

use std::net::SocketAddr;
use std::time::Duration;

use crate::record::ErrorKind;
use crate::report::fmt::plural;
use crate::report::{Summary, error_code};

/// The run ended and at least one request succeeded (and every `--fail-if` passed).
pub const OK: u8 = 0;
/// An error: the run could not start, or its results or report could not be written.
pub const ERROR: u8 = 1;
/// The command line was not understood (clap's own code).
pub const USAGE: u8 = 2;
/// A worker process failed or was killed (its samples are still merged).
pub const WORKER_FAILED: u8 = 3;
/// A `--fail-if` threshold failed.
pub const THRESHOLD_FAILED: u8 = 4;
/// The run ended but no request succeeded.
pub const NO_SUCCESS: u8 = 5;
/// Stopped by SIGINT (Ctrl-C): 128 + 2, the shells' convention.
pub const INTERRUPTED: u8 = 130;
/// Stopped by SIGTERM: 128 + 15.
pub const TERMINATED: u8 = 143;

/// `barrage run --help`'s exit-code table, in precedence order.
pub const HELP: &str = "\
Exit codes (the first that applies):
  130  stopped by Ctrl-C (SIGINT); 143 by SIGTERM. Every request sent so far is
       recorded and the results are written
  3    a worker process failed or was killed (its samples are kept and merged)
  1    an error: the run could not start, or its results or report could not be
       written
  5    the run ended but no request succeeded (stderr says why in one line)
  4    a --fail-if threshold failed
  0    the run ended, at least one request succeeded, every threshold passed
  2    the command line was not understood (nothing ran)";

/// What happened in a `barrage run`, for its exit code.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ending {
    /// The first stop signal received (SIGINT or SIGTERM), if any.
    pub signal: Option<i32>,
    pub worker_failed: bool,
    /// Results or report could not be written.
    pub error: bool,
    pub no_success: bool,
    pub threshold_failed: bool,
}

impl Ending {
    /// The exit code: the first that applies of [`HELP`]'s list. A stop signal comes
    /// first because a script (or the shell running it) must see that the user
    /// stopped the run, whatever else the partial run shows; a broken worker or
    /// unwritten results mean the run's figures cannot be trusted; then whether
    /// anything worked at all; thresholds judge only a run that went fine.
    pub fn code(&self) -> u8 {
        match self.signal {
            Some(s) if s == libc::SIGTERM => return TERMINATED,
            Some(_) => return INTERRUPTED,
            None => {}
        }
        if self.worker_failed {
            WORKER_FAILED
        } else if self.error {
            ERROR
        } else if self.no_success {
            NO_SUCCESS
        } else if self.threshold_failed {
            THRESHOLD_FAILED
        } else {
            OK
        }
    }
}

/// Why no request of the run succeeded, in one line after "no request succeeded: ",
/// from the most frequent error kind; `None` if one did. `addr` is the target's
/// address, `timeout` the run's `--timeout`.
pub fn no_success_reason(s: &Summary, addr: SocketAddr, timeout: Duration) -> Option<String> {
    let r = &s.requests;
    if r.total > r.errors {
        return None;
    }
    let Some(&(name, n)) = s.errors_by_count().first() else {
        return Some("no request completed before the run ended (give it longer: -d)".into());
    };
    let (every, hint) = match ErrorKind::from_u8(error_code(name)) {
        Some(ErrorKind::ConnectRefused) => (
            format!("every connection to {addr} was refused"),
            " (is the server running?)",
        ),
        Some(ErrorKind::ConnectTimeout) => (
            format!("every connection to {addr} timed out"),
            " (is the address reachable, or a firewall dropping packets?)",
        ),
        Some(ErrorKind::ConnectError) => (format!("every connection to {addr} failed"), ""),
        Some(ErrorKind::Timeout) => (
            format!(
                "every request to {addr} timed out (--timeout {})",
                crate::report::fmt::fmt_secs(timeout.as_secs_f64())
            ),
            " (is the server overloaded, or the timeout too short?)",
        ),
        Some(ErrorKind::Reset) => (format!("{addr} reset every connection"), ""),
        Some(ErrorKind::ClosedBeforeResponse) => (
            format!("{addr} closed every connection before responding"),
            " (is it an HTTP server?)",
        ),
        Some(ErrorKind::EofMidResponse) => {
            (format!("{addr} closed every connection mid-response"), "")
        }
        Some(ErrorKind::Malformed) => (format!("every response from {addr} was malformed"), ""),
        Some(ErrorKind::HeadTooLarge) => {
            (format!("every response head from {addr} was too large"), "")
        }
        Some(ErrorKind::TlsOnPlain) => (
            format!("{addr} answered every plain request with TLS"),
            " (use https://)",
        ),
        Some(ErrorKind::TlsNotTls) => (format!("{addr} does not speak TLS"), " (use http://)"),
        Some(ErrorKind::TlsUnknownIssuer) => (
            format!("every TLS handshake with {addr} failed: unknown issuer"),
            " (give --cacert FILE, or -k)",
        ),
        Some(
            ErrorKind::TlsNameMismatch
            | ErrorKind::TlsExpired
            | ErrorKind::TlsBadCertificate
            | ErrorKind::TlsAlert
            | ErrorKind::TlsHandshake,
        ) => (
            format!("every TLS handshake with {addr} failed: {name}"),
            "",
        ),
        Some(ErrorKind::UnexpectedStatus) => (
            "every response failed --expect-status".into(),
            " (see the status line)",
        ),
        Some(ErrorKind::BodyMismatch | ErrorKind::SizeMismatch | ErrorKind::BodyTooLarge) => {
            (format!("every response failed its body check: {name}"), "")
        }
        Some(ErrorKind::Cancelled) => ("every request was cancelled by the stop".into(), ""),
        _ => (format!("every request to {addr} failed: {name}"), ""),
    };
    Some(if n == r.total {
        format!("{every}{hint}")
    } else {
        format!(
            "all {} failed, most often ({n}) as {name:?}{hint}",
            plural(r.total, "request")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let all = Ending {
            signal: Some(libc::SIGINT),
            worker_failed: true,
            error: true,
            no_success: true,
            threshold_failed: true,
        };
        assert_eq!(all.code(), INTERRUPTED);
        let term = Ending {
            signal: Some(libc::SIGTERM),
            ..all
        };
        assert_eq!(term.code(), TERMINATED);
        let e = Ending {
            signal: None,
            ..all
        };
        assert_eq!(e.code(), WORKER_FAILED);
        let e = Ending {
            worker_failed: false,
            ..e
        };
        assert_eq!(e.code(), ERROR);
        let e = Ending { error: false, ..e };
        assert_eq!(e.code(), NO_SUCCESS);
        let e = Ending {
            no_success: false,
            ..e
        };
        assert_eq!(e.code(), THRESHOLD_FAILED);
        assert_eq!(Ending::default().code(), OK);
    }
}
