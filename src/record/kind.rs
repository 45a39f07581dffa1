//! Why a request failed: [`ErrorKind`], one byte in every record (0: it did not), the
//! name every output gives each kind, and the rule for the status outputs report
//! ([`reported_status`]), which depends on the kind. The codes are part of the sample
//! format (`docs/sample-format.md`): a kind keeps its code for good.
//!
//! `report`'s `error_name` and `error_code` stay in `report`: besides these names they
//! handle its own code 255, a results.csv row that failed without a named kind.

/// Why a request failed. Stored as one byte; 0 means it did not.
///
/// Codes 1 to 31 (below [`FIRST_CHECK_ERROR`]) are requests that got no complete,
/// well-framed response; codes from 32 are complete responses that failed a check.
/// [`reported_status`] depends on that split: a new kind goes in the range it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ErrorKind {
    None = 0,
    ConnectRefused = 1,
    ConnectTimeout = 2,
    ConnectError = 3,
    Reset = 4,
    EofMidResponse = 5,
    ClosedBeforeResponse = 6,
    Malformed = 7,
    HeadTooLarge = 8,
    Timeout = 9,
    Io = 10,
    Cancelled = 11,
    TlsOnPlain = 12,
    /// A pipelined request behind another: the connection ended (closed, failed, timed
    /// out, or the server answered `Connection: close`) before its turn, and it could
    /// not be sent again (not idempotent, part of it already written, or re-sent once
    /// already).
    Unanswered = 13,
    /// A connect failed for want of a local port (EADDRNOTAVAIL): every ephemeral
    /// port of the source address towards this target is taken. The generator's
    /// limit, not the server's (`report/verdict.rs`).
    ConnectNoPort = 14,
    /// A connect failed for want of a file descriptor (EMFILE, ENFILE): the process's
    /// or the system's open-file limit. Also the generator's limit.
    ConnectNoFiles = 15,
    TlsUnknownIssuer = 16,
    TlsNameMismatch = 17,
    TlsExpired = 18,
    TlsBadCertificate = 19,
    TlsAlert = 20,
    TlsNotTls = 21,
    TlsHandshake = 22,
    UnexpectedStatus = 32,
    BodyMismatch = 33,
    SizeMismatch = 34,
    BodyTooLarge = 35,
    /// A scenario step's capture found nothing in a complete response (`src/scenario/capture.rs`).
    CaptureFailed = 36,
}

/// The first error code of a complete response that failed an `--expect-*` check;
/// every code from 1 below it is a request that got no complete response.
pub const FIRST_CHECK_ERROR: u8 = 32;

/// The HTTP status every output reports for a request (results.csv, the summary's
/// status table, summary.json, report.html, intervals, `--compare`, `--fail-if`): the
/// status of a complete, well-framed response, and 0 for a request that got none
/// (connect, TLS, timeout, closed mid-response, malformed, head too large, reset,
/// cancelled...), whatever status line it saw before failing. A complete response that
/// failed a check keeps its real status. `error` is the record's error byte; a code
/// this version does not know at or above [`FIRST_CHECK_ERROR`] (such as a results.csv
/// error name it cannot read) keeps the status, since it cannot be told to be a
/// transport failure.
///
/// Why a function and not a field: the record keeps the status line it saw (32 bytes
/// leave no room for a second status), so sample files written before this rule
/// existed report by it too, and `--columns partial_status` can still show what a
/// failed request saw.
#[inline]
pub fn reported_status(status: u16, error: u8) -> u16 {
    if error != 0 && error < FIRST_CHECK_ERROR {
        0
    } else {
        status
    }
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 28] = [
        ErrorKind::None,
        ErrorKind::ConnectRefused,
        ErrorKind::ConnectTimeout,
        ErrorKind::ConnectError,
        ErrorKind::Reset,
        ErrorKind::EofMidResponse,
        ErrorKind::ClosedBeforeResponse,
        ErrorKind::Malformed,
        ErrorKind::HeadTooLarge,
        ErrorKind::Timeout,
        ErrorKind::Io,
        ErrorKind::Cancelled,
        ErrorKind::TlsOnPlain,
        ErrorKind::Unanswered,
        ErrorKind::ConnectNoPort,
        ErrorKind::ConnectNoFiles,
        ErrorKind::TlsUnknownIssuer,
        ErrorKind::TlsNameMismatch,
        ErrorKind::TlsExpired,
        ErrorKind::TlsBadCertificate,
        ErrorKind::TlsAlert,
        ErrorKind::TlsNotTls,
        ErrorKind::TlsHandshake,
        ErrorKind::UnexpectedStatus,
        ErrorKind::BodyMismatch,
        ErrorKind::SizeMismatch,
        ErrorKind::BodyTooLarge,
        ErrorKind::CaptureFailed,
    ];

    pub fn from_u8(v: u8) -> Option<ErrorKind> {
        ErrorKind::ALL.iter().copied().find(|k| *k as u8 == v)
    }

    /// The name used in summaries, JSON and CSV.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::None => "none",
            ErrorKind::ConnectRefused => "connect refused",
            ErrorKind::ConnectTimeout => "connect timeout",
            ErrorKind::ConnectError => "connect error",
            ErrorKind::Reset => "connection reset",
            ErrorKind::EofMidResponse => "closed mid-response",
            ErrorKind::ClosedBeforeResponse => "closed before response",
            ErrorKind::Malformed => "malformed response",
            ErrorKind::HeadTooLarge => "response head too large",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "i/o error",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::TlsOnPlain => "server speaks TLS: use https://",
            ErrorKind::Unanswered => "unanswered (pipeline cut)",
            ErrorKind::ConnectNoPort => "connect: no free local port",
            ErrorKind::ConnectNoFiles => "connect: too many open files",
            ErrorKind::TlsUnknownIssuer => "tls: unknown issuer",
            ErrorKind::TlsNameMismatch => "tls: name mismatch",
            ErrorKind::TlsExpired => "tls: expired",
            ErrorKind::TlsBadCertificate => "tls: bad certificate",
            ErrorKind::TlsAlert => "tls: alert received",
            ErrorKind::TlsNotTls => "tls: peer does not speak TLS",
            ErrorKind::TlsHandshake => "tls: handshake failure",
            ErrorKind::UnexpectedStatus => "unexpected status",
            ErrorKind::BodyMismatch => "body mismatch",
            ErrorKind::SizeMismatch => "size mismatch",
            ErrorKind::BodyTooLarge => "body too large to check",
            ErrorKind::CaptureFailed => "capture failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;

    /// Issue 12 item 2: a request with no complete response reports status 0, a
    /// complete one that failed a check keeps its status; every kind is on its side.
    #[test]
    fn reported_status_follows_the_error_kind() {
        let no_response = [
            ErrorKind::ConnectRefused,
            ErrorKind::ConnectTimeout,
            ErrorKind::ConnectError,
            ErrorKind::Reset,
            ErrorKind::EofMidResponse,
            ErrorKind::ClosedBeforeResponse,
            ErrorKind::Malformed,
            ErrorKind::HeadTooLarge,
            ErrorKind::Timeout,
            ErrorKind::Io,
            ErrorKind::Cancelled,
            ErrorKind::TlsOnPlain,
            ErrorKind::Unanswered,
            ErrorKind::ConnectNoPort,
            ErrorKind::ConnectNoFiles,
            ErrorKind::TlsUnknownIssuer,
            ErrorKind::TlsNameMismatch,
            ErrorKind::TlsExpired,
            ErrorKind::TlsBadCertificate,
            ErrorKind::TlsAlert,
            ErrorKind::TlsNotTls,
            ErrorKind::TlsHandshake,
        ];
        for k in ErrorKind::ALL {
            let r = Record {
                status: 200,
                error: k as u8,
                ..Default::default()
            };
            if no_response.contains(&k) {
                assert_eq!(r.reported_status(), 0, "{k:?}");
                assert_eq!(r.partial_status(), Some(200), "{k:?}");
            } else {
                assert_eq!(r.reported_status(), 200, "{k:?}");
                assert_eq!(r.partial_status(), None, "{k:?}");
            }
            let headless = Record { status: 0, ..r };
            assert_eq!(headless.reported_status(), 0);
            assert_eq!(headless.partial_status(), None);
        }
        // An error code this version does not know, above the split, keeps the status.
        assert_eq!(reported_status(503, 255), 503);
    }
}
