//! The sample file's 4096-byte header: [`Header`] and what it holds ([`ClockState`],
//! [`ProcessStats`], the reasons of failures in words), its byte layout, and the
//! checks made on reading it (magic, version, sizes). The layout is specified in
//! `docs/sample-format.md`; the record log (`log`) writes the header once at the
//! start and its ending fields (`ending`) when the process finishes.

use crate::record::record::RECORD_SIZE;

/// File magic: the first 8 bytes of every sample file.
pub const MAGIC: [u8; 8] = *b"BRRGSMPL";
/// Format version; bumped on any incompatible change.
pub const VERSION: u16 = 1;
/// Bytes before the first record.
pub const HEADER_SIZE: usize = 4096;

/// Header bit: the run was open loop (requests had intended starts).
pub const HDR_OPEN_LOOP: u32 = 1;
/// Header bit: `--latency-uncorrected`: results.csv reports service time even for
/// scheduled requests.
pub const HDR_UNCORRECTED: u32 = 2;
/// Header bit: pipelines were read in batches (a response could wait up to
/// `engine::worker::READ_HOLD_NS`, plus the poll's granularity, in the socket).
pub const HDR_BATCHED_READS: u32 = 4;

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
    /// before any response byte (or, pipelining, cut off unanswered): idempotent
    /// ones or ones not yet written, once each.
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
    /// Requests each connection kept in flight (`--pipeline`); 0 in files written
    /// before it existed, which means 1.
    pub pipeline: u32,
    /// Why requests failed, in words: the first failure of each error kind (by its
    /// byte) that the process noted, e.g. a TLS certificate's names or dates. Written
    /// when the process finishes; see `encode_reasons`.
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
    pub const PIPELINE: usize = 392;
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
        put(&mut b, off::PIPELINE, &self.pipeline.to_le_bytes());
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
            pipeline: get_u32(b, off::PIPELINE),
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

/// Offset of the header's count of claimed chunks, which the log's threads add to in
/// place (an atomic in the shared mapping).
pub(super) const CLAIMED_AT: usize = off::CLAIMED;

/// The fields a process writes into its header when it finishes, as (file offset,
/// bytes), in the order they are written.
pub(super) fn ending(
    stats: &ProcessStats,
    tls: &[u16; 3],
    reasons: &[(u8, String)],
    clock_end: &ClockState,
    finished_wall_ns: u64,
) -> [(u64, Vec<u8>); 5] {
    [
        (off::TLS as u64, encode_tls(tls)),
        (off::REASONS as u64, encode_reasons(reasons)),
        (off::CLOCK_END as u64, encode_clock(clock_end).to_vec()),
        (
            off::FINISHED as u64,
            finished_wall_ns.to_le_bytes().to_vec(),
        ),
        (off::STATS as u64, encode_stats(stats)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ErrorKind;
    use crate::record::log::CHUNK_RECORDS;

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
            pipeline: 16,
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
}
