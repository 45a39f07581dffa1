//! The request a connection carries: who it is and when things happened to it
//! ([`ReqInfo`], which the sample record is made of), its response checks in progress,
//! and how it ended ([`Finished`]).
//!
//! A connection holds one [`InFlight`] today. With pipelining (issue 15) it would hold
//! a queue of them, written back to back and framed in order, each ending in its own
//! `Finished`. In scenario runs (issue 13) it carries its step's bytes, rendered into
//! a buffer kept from request to request ([`InFlight::rendered`]), and keeps what the
//! virtual user needs of the response ([`Keep`]); in plain runs both stay empty and
//! the template's bytes are sent.

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
    /// Scenario runs: the step's request, rendered by the worker before `begin`
    /// (sent instead of the template's bytes when not empty). Its capacity is kept.
    pub rendered: Vec<u8>,
    /// Scenario runs: what of the response to keep.
    pub keep: Keep,
    /// The response head as received (from the status line; it may run on into the
    /// body, whose first empty line ends it), while `keep.head`.
    pub head: Vec<u8>,
    /// The decoded body, up to `keep.max_body`, while `keep.body`.
    pub body: Vec<u8>,
}

/// What of a response a scenario step needs kept (captures, the cookie jar).
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    pub head: bool,
    pub body: bool,
    pub max_body: usize,
}

/// The sample encoder and the pacing read the request's timing as `conn.req.start`.
impl Deref for InFlight {
    type Target = ReqInfo;
    fn deref(&self) -> &ReqInfo {
        &self.info
    }
}

impl InFlight {
    /// The request's template: its HEAD flag and checks (in scenario runs, one per
    /// step, without bytes).
    pub fn template<'t>(&self, targets: &'t [Template]) -> &'t Template {
        &targets[self.info.target as usize]
    }

    /// The bytes to send: the step's rendered request, or the template's.
    pub fn bytes<'t>(&'t self, targets: &'t [Template]) -> &'t [u8] {
        if self.rendered.is_empty() {
            &self.template(targets).bytes
        } else {
            &self.rendered
        }
    }

    /// Keeps response bytes that arrived while the head was still being parsed
    /// (`in_head`), up to the largest head a response may have.
    #[inline]
    pub fn keep_head(&mut self, data: &[u8], in_head: bool) {
        if self.keep.head && in_head {
            let room = (crate::wire::http::MAX_HEAD_BYTES + 4).saturating_sub(self.head.len());
            self.head.extend_from_slice(&data[..data.len().min(room)]);
        }
    }

    /// Keeps a piece of the decoded body, up to `keep.max_body`.
    #[inline]
    pub fn keep_body(body: &mut Vec<u8>, max: usize, piece: &[u8]) {
        let room = max.saturating_sub(body.len());
        body.extend_from_slice(&piece[..piece.len().min(room)]);
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
