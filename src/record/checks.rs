//! The self-check file: each worker process's `selfcheck-NNN.bin` in the run
//! directory, where each of its loops appends one fixed-size [`CheckRecord`] per
//! interval of the run (`engine/selfcheck.rs` measures them; `report/verdict.rs`
//! judges them). Written so `barrage report DIR` reproduces the run's verdict, and
//! crash-safe like the samples: the file is opened for appending and each record is
//! one `write` of [`CHECK_RECORD_SIZE`] bytes whose first byte is a marker, so a
//! killed process leaves whole records (a torn tail, if a file system ever made one,
//! is shorter than a record or lacks the marker, and is ignored).
//!
//! The format is in `docs/sample-format.md` ("The self-check file"): a 16-byte header
//! (magic `BRGCHECK`, version, record size, process index), then records, all
//! little-endian.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::record::ErrorKind;

/// The file's first 8 bytes.
pub const CHECK_MAGIC: [u8; 8] = *b"BRGCHECK";
pub const CHECK_VERSION: u16 = 1;
pub const CHECK_HEADER_SIZE: usize = 16;
pub const CHECK_RECORD_SIZE: usize = 104;
/// The first byte of every complete record.
pub const CHECK_MARKER: u8 = 0xC5;
/// A record's second byte, flag: bytes 6..8 hold the core's idle share.
const CORE_IDLE_MEASURED: u8 = 0x01;

/// Upper bounds (ns) of the loop-delay buckets; the last bucket is everything above
/// the last bound.
pub const DELAY_BOUNDS_NS: [u64; DELAY_BUCKETS - 1] = [
    250_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000, 50_000_000,
    100_000_000,
];
pub const DELAY_BUCKETS: usize = 10;

/// What one loop measured over one interval of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckRecord {
    /// The worker process on this host, and the loop within it.
    pub process: u16,
    pub thread: u16,
    /// The interval (whole seconds since the time base) the span started in.
    pub interval: u32,
    /// The span measured: wall time (monotonic clock), and the loop thread's CPU time
    /// (CLOCK_THREAD_CPUTIME_ID) over the same span.
    pub wall_ns: u64,
    pub cpu_ns: u64,
    /// How late the loop's timers fired: the number of timer wake-ups measured, the
    /// latest, and how many fell in each bucket of [`DELAY_BOUNDS_NS`].
    pub delay_samples: u32,
    pub delay_max_ns: u64,
    pub delay_hist: [u32; DELAY_BUCKETS],
    /// The lateness of every timer wake-up, summed: about the time the loop was kept
    /// from running when it had something due (a stall longer than the probe's period
    /// shows whole; shorter ones in part).
    pub delay_sum_ns: u64,
    /// Connects that failed for want of a local port (EADDRNOTAVAIL) or a file
    /// descriptor (EMFILE, ENFILE).
    pub no_port: u32,
    pub no_files: u32,
    /// Open loop: requests started on their schedule, and those that started more
    /// than `report::BEHIND_SCHEDULE_NS` after their intended start.
    pub starts: u32,
    pub late_starts: u32,
    /// The idle share (idle + iowait) of the core the loop's process is pinned to over
    /// the span, in 1/10,000; `None` when not measured (no pinning, no /proc/stat, or
    /// a file from before it was).
    pub core_idle_bp: Option<u16>,
}

/// The bucket of a loop delay.
#[inline]
pub fn delay_bucket(ns: u64) -> usize {
    DELAY_BOUNDS_NS
        .iter()
        .position(|&b| ns < b)
        .unwrap_or(DELAY_BUCKETS - 1)
}

impl CheckRecord {
    /// Counts one failed request if a local resource failed it.
    #[inline]
    pub fn note_error(&mut self, kind: ErrorKind) {
        match kind {
            ErrorKind::ConnectNoPort => self.no_port = self.no_port.saturating_add(1),
            ErrorKind::ConnectNoFiles => self.no_files = self.no_files.saturating_add(1),
            _ => {}
        }
    }

    pub fn encode(&self) -> [u8; CHECK_RECORD_SIZE] {
        let mut b = [0u8; CHECK_RECORD_SIZE];
        b[0] = CHECK_MARKER;
        if let Some(idle) = self.core_idle_bp {
            b[1] = CORE_IDLE_MEASURED;
            b[6..8].copy_from_slice(&idle.to_le_bytes());
        }
        b[2..4].copy_from_slice(&self.process.to_le_bytes());
        b[4..6].copy_from_slice(&self.thread.to_le_bytes());
        b[8..12].copy_from_slice(&self.interval.to_le_bytes());
        b[12..16].copy_from_slice(&self.delay_samples.to_le_bytes());
        b[16..24].copy_from_slice(&self.wall_ns.to_le_bytes());
        b[24..32].copy_from_slice(&self.cpu_ns.to_le_bytes());
        b[32..40].copy_from_slice(&self.delay_max_ns.to_le_bytes());
        b[40..44].copy_from_slice(&self.no_port.to_le_bytes());
        b[44..48].copy_from_slice(&self.no_files.to_le_bytes());
        b[48..52].copy_from_slice(&self.starts.to_le_bytes());
        b[52..56].copy_from_slice(&self.late_starts.to_le_bytes());
        for (i, n) in self.delay_hist.iter().enumerate() {
            b[56 + 4 * i..60 + 4 * i].copy_from_slice(&n.to_le_bytes());
        }
        b[96..104].copy_from_slice(&self.delay_sum_ns.to_le_bytes());
        b
    }

    /// A record from its bytes; `None` without the marker (an incomplete record).
    pub fn decode(b: &[u8]) -> Option<CheckRecord> {
        if b.len() < CHECK_RECORD_SIZE || b[0] != CHECK_MARKER {
            return None;
        }
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let mut delay_hist = [0u32; DELAY_BUCKETS];
        for (i, n) in delay_hist.iter_mut().enumerate() {
            *n = u32_at(56 + 4 * i);
        }
        Some(CheckRecord {
            process: u16_at(2),
            thread: u16_at(4),
            interval: u32_at(8),
            delay_samples: u32_at(12),
            wall_ns: u64_at(16),
            cpu_ns: u64_at(24),
            delay_max_ns: u64_at(32),
            no_port: u32_at(40),
            no_files: u32_at(44),
            starts: u32_at(48),
            late_starts: u32_at(52),
            delay_hist,
            delay_sum_ns: u64_at(96),
            core_idle_bp: (b[1] & CORE_IDLE_MEASURED != 0).then(|| u16_at(6)),
        })
    }
}

/// The name of process `index`'s self-check file inside a run directory.
pub fn check_file_name(index: u32) -> String {
    format!("selfcheck-{index:03}.bin")
}

/// One process's self-check file, open for appending; its loops share it.
#[derive(Debug)]
pub struct CheckLog {
    file: File,
}

impl CheckLog {
    /// Creates the file with its header.
    pub fn create(path: &Path, process: u32) -> io::Result<CheckLog> {
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)?;
        let mut h = [0u8; CHECK_HEADER_SIZE];
        h[..8].copy_from_slice(&CHECK_MAGIC);
        h[8..10].copy_from_slice(&CHECK_VERSION.to_le_bytes());
        h[10..12].copy_from_slice(&(CHECK_RECORD_SIZE as u16).to_le_bytes());
        h[12..16].copy_from_slice(&process.to_le_bytes());
        file.write_all(&h)?;
        Ok(CheckLog { file })
    }

    /// Appends one record in one `write` (the file is in append mode, so records of
    /// the process's loops never interleave).
    pub fn append(&self, r: &CheckRecord) -> io::Result<()> {
        (&self.file).write_all(&r.encode())
    }
}

/// Every complete record of a run directory's self-check files, and the files'
/// paths. A directory without any (a run from before the self-check) gives none.
pub fn read_dir(dir: &Path) -> io::Result<(Vec<PathBuf>, Vec<CheckRecord>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("selfcheck-") && n.ends_with(".bin"))
        })
        .collect();
    paths.sort();
    let mut records = Vec::new();
    for p in &paths {
        records.extend(read_file(p)?);
    }
    Ok((paths, records))
}

/// The complete records of one self-check file.
pub fn read_file(path: &Path) -> io::Result<Vec<CheckRecord>> {
    let bytes = std::fs::read(path)?;
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {why}", path.display()),
        )
    };
    if bytes.len() < CHECK_HEADER_SIZE || bytes[..8] != CHECK_MAGIC {
        return Err(bad("not a barrage self-check file"));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    let size = u16::from_le_bytes([bytes[10], bytes[11]]) as usize;
    if version != CHECK_VERSION || size != CHECK_RECORD_SIZE {
        return Err(bad(&format!(
            "self-check version {version} with {size}-byte records: this barrage reads version {CHECK_VERSION}"
        )));
    }
    Ok(bytes[CHECK_HEADER_SIZE..]
        .chunks_exact(CHECK_RECORD_SIZE)
        .filter_map(CheckRecord::decode)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_torn_tails_are_ignored() {
        let r = CheckRecord {
            process: 3,
            thread: 1,
            interval: 7,
            wall_ns: 1_000_000_123,
            cpu_ns: 410_000_000,
            delay_samples: 99,
            delay_max_ns: 12_345_678,
            delay_hist: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            no_port: 11,
            no_files: 12,
            starts: 13,
            late_starts: 14,
            delay_sum_ns: 15,
            core_idle_bp: Some(1234),
        };
        assert_eq!(CheckRecord::decode(&r.encode()), Some(r));
        // Not measured (and every record written before it was): none.
        let unmeasured = CheckRecord {
            core_idle_bp: None,
            ..r
        };
        assert_eq!(CheckRecord::decode(&unmeasured.encode()), Some(unmeasured));
        let dir = std::env::temp_dir().join(format!("barrage-checks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = CheckLog::create(&dir.join(check_file_name(3)), 3).unwrap();
        log.append(&r).unwrap();
        log.append(&CheckRecord { interval: 8, ..r }).unwrap();
        drop(log);
        // A torn third record: half its bytes.
        let p = dir.join(check_file_name(3));
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&r.encode()[..40]).unwrap();
        let (paths, got) = read_dir(&dir).unwrap();
        assert_eq!(paths, vec![p]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].interval, 8);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn delay_buckets() {
        assert_eq!(delay_bucket(0), 0);
        assert_eq!(delay_bucket(249_999), 0);
        assert_eq!(delay_bucket(250_000), 1);
        assert_eq!(delay_bucket(1_500_000), 3);
        assert_eq!(delay_bucket(99_999_999), 8);
        assert_eq!(delay_bucket(5_000_000_000), 9);
    }
}
