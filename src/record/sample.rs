//! The sample log: one fixed-size binary record per finished request, appended by every
//! worker thread of a process into that process's own memory-mapped file.
//!
//! Format (specified in `docs/sample-format.md`): a 4096-byte header (magic, version,
//! record size, process index, host and run ids, the run's wall-clock start, counters,
//! the reasons of failures in words), then records of [`RECORD_SIZE`] bytes,
//! little-endian, grouped in chunks of [`CHUNK_RECORDS`]. A thread claims a whole chunk
//! with one atomic add on the header's chunk counter and then fills it alone, so
//! appending takes no lock and touches no shared cache line. Within a chunk records
//! are in completion order.
//!
//! Crash safety: the file is extended with `fallocate` before a chunk is handed out
//! (so a full disk is an error, never a SIGBUS), and a record's last byte (its flags,
//! with [`FLAG_VALID`]) is stored with release ordering after the rest, so a process
//! killed mid-write leaves either a complete record or one the reader skips.
//!
//! `unsafe` (allowed item by item; the crate denies it): the shared mapping's raw
//! pointers and atomics, and `Send`/`Sync` for the types holding them, each with its
//! reason. `progress.rs` and `launcher.rs` are the only other places with `unsafe`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use memmap2::{MmapOptions, MmapRaw, UncheckedAdvice};

/// File magic: the first 8 bytes of every sample file.
pub const MAGIC: [u8; 8] = *b"BRRGSMPL";
/// Format version; bumped on any incompatible change.
pub const VERSION: u16 = 1;
/// Bytes per record.
pub const RECORD_SIZE: usize = 32;
/// Bytes before the first record.
pub const HEADER_SIZE: usize = 4096;
/// Records per chunk (512 KiB): what a thread claims at once.
pub const CHUNK_RECORDS: usize = 16 * 1024;
const CHUNK_BYTES: usize = CHUNK_RECORDS * RECORD_SIZE;
/// Address space reserved for one process's log: 1 TiB, 34 billion records.
const RESERVE_BYTES: usize = 1 << 40;

const _: () = assert!(std::mem::size_of::<Record>() == RECORD_SIZE);
const _: () = assert!(HEADER_SIZE.is_multiple_of(4096) && CHUNK_BYTES.is_multiple_of(4096));

/// The record's flags byte: this record is complete. Stored last.
pub const FLAG_VALID: u8 = 0x80;
/// The request opened its connection: `connect` (and `tls`) time it.
pub const FLAG_NEW_CONN: u8 = 0x01;
/// The request's TLS handshake resumed a session.
pub const FLAG_TLS_RESUMED: u8 = 0x02;
/// The request had an intended start (open loop): `lag` is meaningful.
pub const FLAG_SCHEDULED: u8 = 0x04;

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
    pub const ALL: [ErrorKind; 25] = [
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

/// One finished request. 32 bytes on disk; see `docs/sample-format.md`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Record {
    /// Completion (last response byte, or the failure), ns since the run's time base.
    pub end_ns: u64,
    /// Service time: completion minus actual start ([`dur32`] encoded).
    pub service: u32,
    /// Actual start minus intended start, open loop only ([`dur32`] encoded).
    pub lag: u32,
    /// First response byte minus actual start ([`dur16`] encoded; 0 when none came).
    pub ttfb: u16,
    /// TCP connect time when this request opened the connection ([`dur16`]).
    pub connect: u16,
    /// TLS handshake time when this request opened the connection ([`dur16`]).
    pub tls: u16,
    /// The status line seen; 0 when no response head arrived. A request that failed
    /// after its head keeps it here: what every output reports is
    /// [`Record::reported_status`].
    pub status: u16,
    /// Response bytes on the wire (saturating).
    pub bytes: u32,
    /// Index of the request target (0 for a single URL).
    pub target: u16,
    /// [`ErrorKind`] as a byte.
    pub error: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
}

impl Record {
    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut b = [0u8; RECORD_SIZE];
        b[0..8].copy_from_slice(&self.end_ns.to_le_bytes());
        b[8..12].copy_from_slice(&self.service.to_le_bytes());
        b[12..16].copy_from_slice(&self.lag.to_le_bytes());
        b[16..18].copy_from_slice(&self.ttfb.to_le_bytes());
        b[18..20].copy_from_slice(&self.connect.to_le_bytes());
        b[20..22].copy_from_slice(&self.tls.to_le_bytes());
        b[22..24].copy_from_slice(&self.status.to_le_bytes());
        b[24..28].copy_from_slice(&self.bytes.to_le_bytes());
        b[28..30].copy_from_slice(&self.target.to_le_bytes());
        b[30] = self.error;
        b[31] = self.flags;
        b
    }

    pub fn decode(b: &[u8; RECORD_SIZE]) -> Record {
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Record {
            end_ns: u64::from_le_bytes(b[0..8].try_into().expect("8 bytes")),
            service: u32_at(8),
            lag: u32_at(12),
            ttfb: u16_at(16),
            connect: u16_at(18),
            tls: u16_at(20),
            status: u16_at(22),
            bytes: u32_at(24),
            target: u16_at(28),
            error: b[30],
            flags: b[31],
        }
    }

    pub fn is_valid(&self) -> bool {
        self.flags & FLAG_VALID != 0
    }

    pub fn error_kind(&self) -> ErrorKind {
        ErrorKind::from_u8(self.error).unwrap_or(ErrorKind::Io)
    }

    pub fn is_error(&self) -> bool {
        self.error != 0
    }

    /// The status outputs report: see [`reported_status`].
    #[inline]
    pub fn reported_status(&self) -> u16 {
        reported_status(self.status, self.error)
    }

    /// The status line a request saw before it failed without a complete response
    /// (results.csv's `partial_status`); `None` when it saw none or did not fail so.
    pub fn partial_status(&self) -> Option<u16> {
        (self.status != 0 && self.reported_status() == 0).then_some(self.status)
    }

    pub fn service_ns(&self) -> u64 {
        dur32::decode(self.service)
    }

    /// How late a scheduled (open-loop) request started; `None` for the others.
    pub fn lag_ns(&self) -> Option<u64> {
        (self.flags & FLAG_SCHEDULED != 0).then(|| dur32::decode(self.lag))
    }

    /// Response time as results.csv reports it: from the intended start when the
    /// request was scheduled and `corrected`, else from the actual start.
    pub fn latency_ns(&self, corrected: bool) -> u64 {
        let service = self.service_ns();
        match self.lag_ns() {
            Some(lag) if corrected => service.saturating_add(lag),
            _ => service,
        }
    }
}

/// A duration in 32 bits: 5-bit exponent over a 27-bit mantissa of nanoseconds.
/// Exact below 134 ms, 8 significant digits above, saturating at about 9 years.
pub mod dur32 {
    const MANT: u32 = 27;

    pub fn encode(ns: u64) -> u32 {
        super::float_encode(ns, MANT) as u32
    }

    pub fn decode(v: u32) -> u64 {
        super::float_decode(v as u64, MANT)
    }
}

/// A duration in 16 bits: 5-bit exponent over an 11-bit mantissa of nanoseconds.
/// Exact below 2 us, within 0.1% above (HdrHistogram's 3 significant digits),
/// saturating at 73 minutes.
pub mod dur16 {
    const MANT: u32 = 11;

    pub fn encode(ns: u64) -> u16 {
        super::float_encode(ns, MANT) as u16
    }

    pub fn decode(v: u16) -> u64 {
        super::float_decode(v as u64, MANT)
    }
}

fn float_encode(ns: u64, mant_bits: u32) -> u64 {
    let bits = 64 - ns.leading_zeros();
    if bits <= mant_bits {
        return ns;
    }
    let exp = bits - mant_bits;
    if exp > 31 {
        return (31 << mant_bits) | ((1 << mant_bits) - 1);
    }
    ((exp as u64) << mant_bits) | (ns >> exp)
}

fn float_decode(v: u64, mant_bits: u32) -> u64 {
    let exp = v >> mant_bits;
    let mant = v & ((1 << mant_bits) - 1);
    mant << exp
}

/// Header bit: the run was open loop (requests had intended starts).
pub const HDR_OPEN_LOOP: u32 = 1;
/// Header bit: `--latency-uncorrected`: results.csv reports service time even for
/// scheduled requests.
pub const HDR_UNCORRECTED: u32 = 2;

/// Clock synchronisation state read with `adjtimex` (see issue on distributed runs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClockState {
    /// adjtimex's return value (TIME_OK = 0, TIME_ERROR = 5 when unsynchronised).
    pub state: i32,
    /// True when the kernel says the clock is not synchronised (STA_UNSYNC).
    pub unsynced: bool,
    pub max_error_us: i64,
    pub est_error_us: i64,
}

/// Counters a process writes into its header when it finishes cleanly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessStats {
    /// Connections opened (successful TCP connects).
    pub connects: u64,
    /// Keep-alive connections the server closed while idle (reconnected, no error).
    pub idle_closes: u64,
    /// Requests retried on a fresh connection because a reused one was closed
    /// before any response byte.
    pub retries: u64,
    pub tls_full: u64,
    pub tls_resumed: u64,
    /// Samples that could not be recorded (the log could not grow).
    pub lost: u64,
    /// Open loop: requests the schedule wanted before the end that were still
    /// waiting for a connection when it came (every one busy, --max-connections
    /// reached).
    pub unsent: u64,
}

impl ProcessStats {
    const FIELDS: usize = 7;

    fn to_array(self) -> [u64; Self::FIELDS] {
        [
            self.connects, self.idle_closes, self.retries, self.tls_full, self.tls_resumed,
            self.lost, self.unsent,
        ]
    }

    fn from_array(a: [u64; Self::FIELDS]) -> Self {
        ProcessStats {
            connects: a[0],
            idle_closes: a[1],
            retries: a[2],
            tls_full: a[3],
            tls_resumed: a[4],
            lost: a[5],
            unsent: a[6],
        }
    }

    pub fn add(&mut self, o: &ProcessStats) {
        let mut a = self.to_array();
        for (x, y) in a.iter_mut().zip(o.to_array()) {
            *x += y;
        }
        *self = ProcessStats::from_array(a);
    }
}

/// Everything in a sample file's header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub chunk_records: u32,
    pub process_index: u32,
    pub process_count: u32,
    pub flags: u32,
    /// Unix time of the run's time base, ns.
    pub wall_start_ns: u64,
    /// Chunks claimed so far (the record area spans this many chunks).
    pub claimed_chunks: u64,
    pub shard_index: u32,
    pub shard_count: u32,
    pub config_hash: u64,
    pub host_id: String,
    pub run_id: String,
    pub clock_start: ClockState,
    pub clock_end: ClockState,
    /// Unix time the process finished cleanly, ns; 0 if it did not (killed, crashed).
    pub finished_wall_ns: u64,
    pub stats: ProcessStats,
    /// What the process's first TLS handshake negotiated (wire numbers; 0 = none):
    /// protocol version, cipher suite, key-exchange group.
    pub tls: [u16; 3],
    /// Why requests failed, in words: the first failure of each error kind (by its
    /// byte) that the process noted, e.g. a TLS certificate's names or dates. Written
    /// when the process finishes; see [`encode_reasons`].
    pub reasons: Vec<(u8, String)>,
}

mod off {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 8;
    pub const RECORD_SIZE: usize = 10;
    pub const HEADER_SIZE: usize = 12;
    pub const CHUNK_RECORDS: usize = 16;
    pub const PROCESS_INDEX: usize = 20;
    pub const PROCESS_COUNT: usize = 24;
    pub const FLAGS: usize = 28;
    pub const WALL_START: usize = 32;
    pub const CLAIMED: usize = 40;
    pub const SHARD_INDEX: usize = 48;
    pub const SHARD_COUNT: usize = 52;
    pub const CONFIG_HASH: usize = 56;
    pub const HOST_ID: usize = 64;
    pub const RUN_ID: usize = 128;
    pub const ID_LEN: usize = 64;
    pub const CLOCK_START: usize = 192;
    pub const CLOCK_END: usize = 224;
    pub const FINISHED: usize = 256;
    pub const STATS: usize = 264;
    pub const TLS: usize = 384;
    pub const REASONS: usize = 2048;
    pub const REASONS_LEN: usize = 2048;
}

impl Header {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_SIZE];
        b[off::MAGIC..off::MAGIC + 8].copy_from_slice(&MAGIC);
        put(&mut b, off::VERSION, &VERSION.to_le_bytes());
        put(
            &mut b,
            off::RECORD_SIZE,
            &(RECORD_SIZE as u16).to_le_bytes(),
        );
        put(
            &mut b,
            off::HEADER_SIZE,
            &(HEADER_SIZE as u32).to_le_bytes(),
        );
        put(
            &mut b,
            off::CHUNK_RECORDS,
            &self.chunk_records.to_le_bytes(),
        );
        put(
            &mut b,
            off::PROCESS_INDEX,
            &self.process_index.to_le_bytes(),
        );
        put(
            &mut b,
            off::PROCESS_COUNT,
            &self.process_count.to_le_bytes(),
        );
        put(&mut b, off::FLAGS, &self.flags.to_le_bytes());
        put(&mut b, off::WALL_START, &self.wall_start_ns.to_le_bytes());
        put(&mut b, off::CLAIMED, &self.claimed_chunks.to_le_bytes());
        put(&mut b, off::SHARD_INDEX, &self.shard_index.to_le_bytes());
        put(&mut b, off::SHARD_COUNT, &self.shard_count.to_le_bytes());
        put(&mut b, off::CONFIG_HASH, &self.config_hash.to_le_bytes());
        put_str(&mut b, off::HOST_ID, &self.host_id);
        put_str(&mut b, off::RUN_ID, &self.run_id);
        b[off::CLOCK_START..off::CLOCK_START + 32]
            .copy_from_slice(&encode_clock(&self.clock_start));
        b[off::CLOCK_END..off::CLOCK_END + 32].copy_from_slice(&encode_clock(&self.clock_end));
        put(&mut b, off::FINISHED, &self.finished_wall_ns.to_le_bytes());
        b[off::STATS..off::STATS + 8 * ProcessStats::FIELDS]
            .copy_from_slice(&encode_stats(&self.stats));
        b[off::TLS..off::TLS + 6].copy_from_slice(&encode_tls(&self.tls));
        b[off::REASONS..off::REASONS + off::REASONS_LEN]
            .copy_from_slice(&encode_reasons(&self.reasons));
        b
    }

    /// Parses and checks a header. `Err` says what is wrong, for the caller to wrap
    /// with the file name.
    pub fn decode(b: &[u8]) -> Result<Header, String> {
        if b.len() < HEADER_SIZE {
            return Err(format!(
                "too short for a sample file ({} bytes, header needs {HEADER_SIZE})",
                b.len()
            ));
        }
        if b[0..8] != MAGIC {
            return Err("not a barrage sample file (bad magic)".into());
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        if version != VERSION {
            return Err(format!(
                "sample format version {version}, this barrage reads version {VERSION}"
            ));
        }
        let record_size = u16::from_le_bytes([b[10], b[11]]) as usize;
        let header_size = get_u32(b, off::HEADER_SIZE) as usize;
        if record_size != RECORD_SIZE || header_size != HEADER_SIZE {
            return Err(format!(
                "record size {record_size} / header size {header_size}, expected {RECORD_SIZE} / {HEADER_SIZE}"
            ));
        }
        let chunk_records = get_u32(b, off::CHUNK_RECORDS);
        if chunk_records == 0 || chunk_records > 1 << 24 {
            return Err(format!("implausible chunk size {chunk_records}"));
        }
        let clock = |o: usize| decode_clock(&b[o..o + 32]);
        Ok(Header {
            chunk_records,
            process_index: get_u32(b, off::PROCESS_INDEX),
            process_count: get_u32(b, off::PROCESS_COUNT),
            flags: get_u32(b, off::FLAGS),
            wall_start_ns: get_u64(b, off::WALL_START),
            claimed_chunks: get_u64(b, off::CLAIMED),
            shard_index: get_u32(b, off::SHARD_INDEX),
            shard_count: get_u32(b, off::SHARD_COUNT),
            config_hash: get_u64(b, off::CONFIG_HASH),
            host_id: get_str(b, off::HOST_ID),
            run_id: get_str(b, off::RUN_ID),
            clock_start: clock(off::CLOCK_START),
            clock_end: clock(off::CLOCK_END),
            finished_wall_ns: get_u64(b, off::FINISHED),
            stats: decode_stats(&b[off::STATS..off::STATS + 8 * ProcessStats::FIELDS]),
            tls: [0, 2, 4].map(|i| u16::from_le_bytes([b[off::TLS + i], b[off::TLS + i + 1]])),
            reasons: decode_reasons(&b[off::REASONS..off::REASONS + off::REASONS_LEN]),
        })
    }
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    b[at..at + v.len()].copy_from_slice(v);
}

fn put_str(b: &mut [u8], at: usize, s: &str) {
    // Truncate on a char boundary so the stored id stays valid UTF-8.
    let mut end = s.len().min(off::ID_LEN - 1);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    put(b, at, &s.as_bytes()[..end]);
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn get_str(b: &[u8], at: usize) -> String {
    let raw = &b[at..at + off::ID_LEN];
    let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

fn encode_clock(c: &ClockState) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0..4].copy_from_slice(&c.state.to_le_bytes());
    b[4..8].copy_from_slice(&(c.unsynced as u32).to_le_bytes());
    b[8..16].copy_from_slice(&c.max_error_us.to_le_bytes());
    b[16..24].copy_from_slice(&c.est_error_us.to_le_bytes());
    b
}

fn decode_clock(b: &[u8]) -> ClockState {
    ClockState {
        state: i32::from_le_bytes(b[0..4].try_into().expect("4 bytes")),
        unsynced: get_u32(b, 4) != 0,
        max_error_us: get_u64(b, 8) as i64,
        est_error_us: get_u64(b, 16) as i64,
    }
}

fn encode_tls(t: &[u16; 3]) -> Vec<u8> {
    t.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Longest reason kept, bytes: a few lines of text.
const MAX_REASON: usize = 600;

/// The reasons area: entries of kind (u8), length (u16) and that many bytes of UTF-8,
/// ended by a kind of 0 (or the area's end). A reason longer than [`MAX_REASON`] is
/// cut at a character boundary; entries that no longer fit are left out.
fn encode_reasons(reasons: &[(u8, String)]) -> Vec<u8> {
    let mut b = vec![0u8; off::REASONS_LEN];
    let mut at = 0;
    for (kind, text) in reasons.iter().filter(|(k, _)| *k != 0) {
        let mut end = text.len().min(MAX_REASON);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        // Room for this entry and the terminating 0.
        if at + 3 + end >= off::REASONS_LEN {
            break;
        }
        b[at] = *kind;
        b[at + 1..at + 3].copy_from_slice(&(end as u16).to_le_bytes());
        b[at + 3..at + 3 + end].copy_from_slice(&text.as_bytes()[..end]);
        at += 3 + end;
    }
    b
}

fn decode_reasons(b: &[u8]) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 3 <= b.len() && b[at] != 0 {
        let len = u16::from_le_bytes([b[at + 1], b[at + 2]]) as usize;
        let Some(text) = b.get(at + 3..at + 3 + len) else {
            break;
        };
        out.push((b[at], String::from_utf8_lossy(text).into_owned()));
        at += 3 + len;
    }
    out
}

fn encode_stats(s: &ProcessStats) -> Vec<u8> {
    s.to_array().iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn decode_stats(b: &[u8]) -> ProcessStats {
    let mut a = [0u64; ProcessStats::FIELDS];
    for (i, v) in a.iter_mut().enumerate() {
        *v = get_u64(b, i * 8);
    }
    ProcessStats::from_array(a)
}

/// The name of process `index`'s sample file inside a run directory.
pub fn file_name(index: u32) -> String {
    format!("samples-{index:03}.bin")
}

/// One process's sample log, shared by its worker threads.
pub struct SampleLog {
    file: File,
    map: MmapRaw,
    /// Current file length; growing it is the only locked step, once per many chunks.
    file_len: Mutex<u64>,
    path: PathBuf,
}

// SAFETY: the raw mapping is only written through disjoint chunks, each owned by one
// `ChunkWriter`, and through atomics in the header; see `SampleLog::claim`.
#[allow(unsafe_code)]
unsafe impl Send for SampleLog {}
// SAFETY: as for Send: shared access is atomics in the header or chunks owned alone.
#[allow(unsafe_code)]
unsafe impl Sync for SampleLog {}

impl SampleLog {
    /// Creates the file with `header`, ready for appends.
    pub fn create(path: &Path, header: &Header) -> io::Result<Arc<SampleLog>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        file.write_all_at(&header.encode(), 0)?;
        let map = MmapOptions::new().len(RESERVE_BYTES).map_raw(&file)?;
        Ok(Arc::new(SampleLog {
            file,
            map,
            file_len: Mutex::new(HEADER_SIZE as u64),
            path: path.to_path_buf(),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    #[allow(unsafe_code)]
    fn claimed(&self) -> &AtomicU64 {
        // SAFETY: offset CLAIMED is 8-aligned inside the page-aligned mapping and
        // within the header, which the file always holds; only atomics touch it.
        unsafe { AtomicU64::from_ptr(self.map.as_mut_ptr().add(off::CLAIMED).cast()) }
    }

    /// Hands out a fresh chunk, growing the file first if needed.
    #[allow(unsafe_code)]
    fn claim(&self) -> io::Result<*mut u8> {
        let index = self.claimed().fetch_add(1, Ordering::AcqRel) as usize;
        let end = HEADER_SIZE + (index + 1) * CHUNK_BYTES;
        if end > RESERVE_BYTES {
            return Err(io::Error::other("sample log reached its 1 TiB reservation"));
        }
        {
            let mut len = self.file_len.lock().unwrap_or_else(|e| e.into_inner());
            if (end as u64) > *len {
                // Grow in doubling steps (4 MiB to 256 MiB) so growth is rare.
                let step = (*len).clamp(4 << 20, 256 << 20);
                let target = ((end as u64).max(*len + step)).min(RESERVE_BYTES as u64);
                allocate(&self.file, *len, target - *len)?;
                *len = target;
            }
        }
        // SAFETY: `end` is within both the reservation and the (just grown) file, and
        // this chunk index was handed to no one else (fetch_add).
        Ok(unsafe { self.map.as_mut_ptr().add(end - CHUNK_BYTES) })
    }

    /// Drops a full chunk's pages from this process's page tables. Why: pages of a
    /// shared file mapping that were written stay resident in the writer's RSS until
    /// unmapped, so a long run's RSS would grow by 32 bytes a request (0.5 GB per
    /// 16 million). The records are not lost: `MADV_DONTNEED` on a shared file
    /// mapping keeps dirty pages in the page cache, which writes them to the file
    /// like any `write(2)`; a killed process loses nothing either way. Best effort:
    /// a failure only leaves the pages mapped.
    #[allow(unsafe_code)]
    fn release(&self, chunk_end: *mut u8) {
        let offset = chunk_end as usize - self.map.as_mut_ptr() as usize - CHUNK_BYTES;
        // SAFETY: the chunk is full and owned by the calling writer, which never
        // touches it again; nothing borrows its pages (records are written through
        // raw pointers and read back with file reads, not through the mapping).
        let _ = unsafe {
            self.map
                .unchecked_advise_range(UncheckedAdvice::DontNeed, offset, CHUNK_BYTES)
        };
    }

    /// A writer for one thread.
    pub fn writer(self: &Arc<SampleLog>) -> ChunkWriter {
        ChunkWriter {
            log: Arc::clone(self),
            next: std::ptr::null_mut(),
            left: 0,
        }
    }

    /// Records how the process ended: final counters, negotiated TLS, reasons of
    /// failures and clock state, then trims the file to the chunks actually claimed.
    pub fn finish(
        &self,
        stats: &ProcessStats,
        tls: &[u16; 3],
        reasons: &[(u8, String)],
        clock_end: &ClockState,
        finished_wall_ns: u64,
    ) -> io::Result<()> {
        self.file.write_all_at(&encode_tls(tls), off::TLS as u64)?;
        self.file
            .write_all_at(&encode_reasons(reasons), off::REASONS as u64)?;
        self.file
            .write_all_at(&encode_clock(clock_end), off::CLOCK_END as u64)?;
        self.file
            .write_all_at(&finished_wall_ns.to_le_bytes(), off::FINISHED as u64)?;
        self.file
            .write_all_at(&encode_stats(stats), off::STATS as u64)?;
        let claimed = self.claimed().load(Ordering::Acquire) as usize;
        let used = (HEADER_SIZE + claimed * CHUNK_BYTES) as u64;
        let len = *self.file_len.lock().unwrap_or_else(|e| e.into_inner());
        if used < len {
            self.file.set_len(used)?;
        }
        Ok(())
    }
}

fn allocate(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use nix::errno::Errno;
    match nix::fcntl::posix_fallocate(file, offset as i64, len as i64) {
        Ok(()) => Ok(()),
        // Filesystems without fallocate: extend sparsely instead.
        Err(Errno::EOPNOTSUPP) => file.set_len(offset + len),
        Err(e) => Err(e.into()),
    }
}

/// Appends records for one thread. Not shared: each thread has its own.
pub struct ChunkWriter {
    log: Arc<SampleLog>,
    next: *mut u8,
    left: usize,
}

// SAFETY: the writer owns its chunk exclusively; moving it to another thread moves
// that ownership.
#[allow(unsafe_code)]
unsafe impl Send for ChunkWriter {}

impl ChunkWriter {
    /// Appends one record. Fails only when the file cannot grow.
    #[inline]
    #[allow(unsafe_code)]
    pub fn push(&mut self, rec: &Record) -> io::Result<()> {
        if self.left == 0 {
            if !self.next.is_null() {
                self.log.release(self.next);
            }
            self.next = self.log.claim()?;
            self.left = CHUNK_RECORDS;
        }
        let bytes = rec.encode();
        // SAFETY: `next` points at an unwritten slot of a chunk only this writer owns,
        // inside the mapped and allocated file. The body goes in first; the flags byte
        // follows with release ordering, so a reader that sees FLAG_VALID (acquire)
        // sees the whole record, and a kill between the two leaves a skipped slot.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.next, RECORD_SIZE - 1);
            AtomicU8::from_ptr(self.next.add(RECORD_SIZE - 1))
                .store(rec.flags | FLAG_VALID, Ordering::Release);
            self.next = self.next.add(RECORD_SIZE);
        }
        self.left -= 1;
        Ok(())
    }
}

/// A sample file opened for reading.
pub struct SampleFile {
    pub path: PathBuf,
    pub header: Header,
    file: File,
    /// Records in the file's record area (complete or not).
    slots: u64,
}

impl SampleFile {
    pub fn open(path: &Path) -> Result<SampleFile, String> {
        let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let len = file
            .metadata()
            .map_err(|e| format!("cannot stat: {e}"))?
            .len();
        let mut head = vec![0u8; HEADER_SIZE.min(len as usize)];
        file.read_exact_at(&mut head, 0)
            .map_err(|e| format!("cannot read header: {e}"))?;
        let header = Header::decode(&head)?;
        let claimed = header
            .claimed_chunks
            .saturating_mul(header.chunk_records as u64);
        // A killed process may have claimed a chunk whose growth never happened;
        // trust the file's length over the counter.
        let on_disk = (len - HEADER_SIZE as u64) / RECORD_SIZE as u64;
        Ok(SampleFile {
            path: path.to_path_buf(),
            header,
            file,
            slots: claimed.min(on_disk),
        })
    }

    pub fn chunk_records(&self) -> u64 {
        self.header.chunk_records as u64
    }

    pub fn slots(&self) -> u64 {
        self.slots
    }

    pub fn chunks(&self) -> u64 {
        self.slots.div_ceil(self.chunk_records())
    }

    /// Reads slots `[first, first + buf.len()/32)` into `buf`; returns bytes read.
    pub fn read_slots(&self, first: u64, buf: &mut [u8]) -> io::Result<usize> {
        let want =
            (buf.len() as u64 / RECORD_SIZE as u64).min(self.slots.saturating_sub(first)) as usize;
        let bytes = want * RECORD_SIZE;
        self.file.read_exact_at(
            &mut buf[..bytes],
            HEADER_SIZE as u64 + first * RECORD_SIZE as u64,
        )?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_reserves_blocks_past_the_end() {
        use std::os::unix::fs::MetadataExt;
        let path = std::env::temp_dir().join(format!("barrage-alloc-{}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        allocate(&file, 4096, 1 << 20).unwrap();
        let meta = file.metadata().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(meta.len(), 4096 + (1 << 20));
        // Blocks really reserved, not a sparse extension (the temp dir's filesystem,
        // ext4 or tmpfs, has fallocate).
        assert!(meta.blocks() * 512 >= 1 << 20, "{} blocks", meta.blocks());
    }

    #[test]
    fn record_roundtrip() {
        let r = Record {
            end_ns: 0x0102_0304_0506_0708,
            service: 9,
            lag: 10,
            ttfb: 11,
            connect: 12,
            tls: 13,
            status: 200,
            bytes: 0xdead_beef,
            target: 7,
            error: ErrorKind::Timeout as u8,
            flags: FLAG_NEW_CONN | FLAG_VALID,
        };
        let b = r.encode();
        assert_eq!(&b[0..8], &[8, 7, 6, 5, 4, 3, 2, 1], "little-endian end_ns");
        assert_eq!(Record::decode(&b), r);
    }

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

    #[test]
    fn durations_keep_their_precision() {
        for ns in [
            0u64, 1, 999, 2047, 2048, 50_000, 134_217_727, 134_217_728, 10_000_000_000,
            3_600_000_000_000,
        ] {
            let d32 = dur32::decode(dur32::encode(ns));
            assert!(
                d32 <= ns && (ns - d32) as f64 <= ns as f64 * 1e-7,
                "dur32 {ns} -> {d32}"
            );
            let d16 = dur16::decode(dur16::encode(ns));
            assert!(
                d16 <= ns && (ns - d16) as f64 <= ns as f64 * 1e-3,
                "dur16 {ns} -> {d16}"
            );
        }
        assert_eq!(
            dur32::decode(dur32::encode(134_217_727)),
            134_217_727,
            "exact below 2^27"
        );
        assert_eq!(dur16::decode(dur16::encode(2047)), 2047);
        // Saturation, not wrap-around.
        assert!(dur16::decode(dur16::encode(u64::MAX)) > 4_000_000_000_000);
        assert!(dur32::decode(dur32::encode(u64::MAX)) > 1 << 57);
    }

    #[test]
    fn reasons_are_cut_to_fit_never_overflow() {
        let long = "é".repeat(400); // 800 bytes: cut to MAX_REASON at a char boundary
        let many: Vec<(u8, String)> = (16..23).map(|k| (k, long.clone())).collect();
        let back = decode_reasons(&encode_reasons(&many));
        assert_eq!(back.len(), 3, "three 603-byte entries fit in 2048 bytes");
        assert!(
            back.iter()
                .all(|(_, t)| t.len() == MAX_REASON && t.starts_with('é'))
        );
        assert_eq!(back[2].0, 18);
        assert_eq!(decode_reasons(&encode_reasons(&[])), vec![]);
        // A corrupt length ends the list instead of reading past the area.
        let mut b = encode_reasons(&[(16, "x".into())]);
        b[1] = 0xff;
        b[2] = 0xff;
        assert_eq!(decode_reasons(&b), vec![]);
    }

    #[test]
    fn header_roundtrip_and_checks() {
        let h = Header {
            chunk_records: CHUNK_RECORDS as u32,
            process_index: 3,
            process_count: 4,
            flags: HDR_OPEN_LOOP,
            wall_start_ns: 1_700_000_000_123_456_789,
            claimed_chunks: 5,
            shard_index: 1,
            shard_count: 2,
            config_hash: 42,
            host_id: "host-é".into(),
            run_id: "run-1".into(),
            clock_start: ClockState {
                state: 5,
                unsynced: true,
                max_error_us: 16_000_000,
                est_error_us: 3,
            },
            clock_end: ClockState::default(),
            finished_wall_ns: 9,
            tls: [0x0304, 0x1301, 0x001d],
            reasons: vec![
                (ErrorKind::TlsExpired as u8, "expired: 2020-01-01".into()),
                (ErrorKind::TlsAlert as u8, "alert é".into()),
            ],
            stats: ProcessStats {
                connects: 1,
                idle_closes: 2,
                retries: 3,
                tls_full: 4,
                tls_resumed: 5,
                lost: 6,
                unsent: 7,
            },
        };
        let b = h.encode();
        assert_eq!(Header::decode(&b).unwrap(), h);
        let mut bad = b.clone();
        bad[0] = b'X';
        assert!(Header::decode(&bad).unwrap_err().contains("magic"));
        let mut bad = b.clone();
        bad[8] = 99;
        assert!(Header::decode(&bad).unwrap_err().contains("version 99"));
        assert!(Header::decode(&b[..100]).unwrap_err().contains("too short"));
    }

    #[test]
    fn log_writes_and_reads_back_across_threads() {
        let dir = std::env::temp_dir().join(format!("barrage-sample-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(file_name(0));
        let header = Header {
            chunk_records: CHUNK_RECORDS as u32,
            ..Default::default()
        };
        let log = SampleLog::create(&path, &header).unwrap();
        let per_thread = CHUNK_RECORDS as u64 + 100;
        let handles: Vec<_> = (0..3u16)
            .map(|t| {
                let mut w = log.writer();
                std::thread::spawn(move || {
                    for i in 0..per_thread {
                        w.push(&Record {
                            end_ns: i + 1,
                            target: t,
                            status: 200,
                            ..Default::default()
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        log.finish(
            &ProcessStats::default(),
            &[0; 3],
            &[],
            &ClockState::default(),
            1,
        )
        .unwrap();
        let f = SampleFile::open(&path).unwrap();
        assert_eq!(f.chunks(), 6, "each thread claimed two chunks");
        let mut buf = vec![0u8; f.slots() as usize * RECORD_SIZE];
        let n = f.read_slots(0, &mut buf).unwrap();
        let valid: Vec<Record> = buf[..n]
            .chunks_exact(RECORD_SIZE)
            .map(|c| Record::decode(c.try_into().unwrap()))
            .filter(|r| r.is_valid())
            .collect();
        assert_eq!(valid.len() as u64, 3 * per_thread);
        for t in 0..3u16 {
            // Every record intact, including those of the full chunk whose pages the
            // writer released from its mapping.
            let mut ends: Vec<u64> = valid
                .iter()
                .filter(|r| r.target == t)
                .map(|r| r.end_ns)
                .collect();
            ends.sort_unstable();
            assert!(ends.iter().copied().eq(1..=per_thread), "thread {t}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
