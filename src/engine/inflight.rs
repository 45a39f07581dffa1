//! The request a connection carries: who it is and when things happened to it
//! ([`ReqInfo`], which the sample record is made of), its response checks in progress,
//! and how it ended ([`Finished`]).
//!
//! A connection holds one [`InFlight`] today. With pipelining (issue 15) it would hold
//! a queue of them, written back to back and framed in order, each ending in its own
//! `Finished`; with scenarios (issue 13) each would carry its step's rendered bytes
//! instead of a template's.

use std::ops::Deref;

use crate::record::ErrorKind;
use crate::wire::expect::Check;
use crate::wire::request::Template;

/// Timing and identity of a request a connection is carrying.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReqInfo {
    /// When the request started (connect start if it opened the connection), ns.
    pub start: u64,
    /// When the schedule wanted it to start (open loop), ns.
    pub intended: u64,
    pub scheduled: bool,
    pub target: u16,
    /// Set while running: the request opened its connection.
    pub new_conn: bool,
    pub connect_ns: u64,
    pub tls_ns: u64,
    pub tls_resumed: bool,
    /// First response byte, ns (0 until it arrives).
    pub first_byte: u64,
    /// Already re-sent once after a reused connection closed under it.
    pub retried: bool,
}

/// One request on a connection: who it is and when things happened to it, and its
/// response checks in progress (their buffers are kept from request to request).
#[derive(Debug, Default)]
pub struct InFlight {
    pub info: ReqInfo,
    pub check: Check,
}

/// The sample encoder and the pacing read the request's timing as `conn.req.start`.
impl Deref for InFlight {
    type Target = ReqInfo;
    fn deref(&self) -> &ReqInfo {
        &self.info
    }
}

impl InFlight {
    /// The request's template. Every request is one of the run's templates today; a
    /// scenario step (issue 13) would render its bytes into a buffer of the
    /// connection's instead, and [`InFlight::bytes`] would hand those out.
    pub fn template<'t>(&self, targets: &'t [Template]) -> &'t Template {
        &targets[self.info.target as usize]
    }

    pub fn bytes<'t>(&self, targets: &'t [Template]) -> &'t [u8] {
        &self.template(targets).bytes
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    pub end: u64,
    pub status: u16,
    pub error: ErrorKind,
    pub bytes: u64,
}
