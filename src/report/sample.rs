//! What the report reads: one finished request, [`Sample`], made from a sample record
//! or a results.csv row; and the error codes it carries (0 for success, an
//! [`ErrorKind`] byte, or [`ERROR_UNKNOWN`] for a results.csv row that failed without
//! saying how) with the names every output shows for them.

use crate::record::{ErrorKind, Record};

/// Error code for a failed request whose kind is unknown: a results.csv row with status
/// 0 and no `error` column (the seed tool's only way to say "failed").
pub const ERROR_UNKNOWN: u8 = 255;

/// The name of an error code, as summaries, JSON and charts show it.
pub fn error_name(code: u8) -> &'static str {
    if code == ERROR_UNKNOWN {
        return "failed (status 0)";
    }
    ErrorKind::from_u8(code).map_or("unknown error", ErrorKind::name)
}

/// The error code for a name written by results.csv's `error` column.
pub fn error_code(name: &str) -> u8 {
    ErrorKind::ALL
        .iter()
        .find(|k| k.name() == name)
        .map_or(ERROR_UNKNOWN, |k| *k as u8)
}

/// One finished request as the report sees it, from a sample record or a CSV row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// Completion, ns since the run's start.
    pub end_ns: u64,
    /// Response time, ns.
    pub latency_ns: u64,
    /// HTTP status of a complete response; 0 when none came (the rule of
    /// [`crate::record::reported_status`]).
    pub status: u16,
    /// Error code: 0 for success, an [`ErrorKind`] byte, or [`ERROR_UNKNOWN`].
    pub error: u8,
    /// Response bytes, when known.
    pub bytes: u32,
    /// How late the request started after its intended start (open loop only).
    pub lag_ns: Option<u64>,
}

impl Sample {
    #[inline]
    pub fn from_record(r: &Record, corrected: bool) -> Sample {
        Sample {
            end_ns: r.end_ns,
            latency_ns: r.latency_ns(corrected),
            status: r.reported_status(),
            error: r.error,
            bytes: r.bytes,
            lag_ns: r.lag_ns(),
        }
    }
}
