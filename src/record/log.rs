//! The record log: one process's sample file, memory-mapped and appended to by all
//! its worker threads, one record per finished request.
//!
//! The file is the header (`header`), then records of [`RECORD_SIZE`] bytes grouped
//! in chunks of [`CHUNK_RECORDS`]. A thread claims a whole chunk with one atomic add
//! on the header's chunk counter and then fills it alone, so appending takes no lock
//! and touches no shared cache line. Within a chunk records are in completion order.
//!
//! Crash safety: the file is extended with `fallocate` before a chunk is handed out
//! (so a full disk is an error, never a SIGBUS), and a record's last byte (its flags,
//! with [`FLAG_VALID`]) is stored with release ordering after the rest, so a process
//! killed mid-write leaves either a complete record or one the reader skips.
//!
//! `unsafe` (allowed item by item; the crate denies it), the only `unsafe` of the
//! record module: the shared mapping's raw pointers and atomics, and `Send`/`Sync`
//! for the types holding them, each with its `// SAFETY:` reason.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use memmap2::{MmapOptions, MmapRaw, UncheckedAdvice};

use crate::record::header::{self, ClockState, HEADER_SIZE, Header, ProcessStats};
use crate::record::record::{FLAG_VALID, RECORD_SIZE, Record};

/// Records per chunk (512 KiB): what a thread claims at once.
pub const CHUNK_RECORDS: usize = 16 * 1024;
const CHUNK_BYTES: usize = CHUNK_RECORDS * RECORD_SIZE;
/// Address space reserved for one process's log: 1 TiB, 34 billion records.
const RESERVE_BYTES: usize = 1 << 40;

// Chunks start and end on page boundaries: `release` hands whole pages back.
const _: () = assert!(HEADER_SIZE.is_multiple_of(4096) && CHUNK_BYTES.is_multiple_of(4096));

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
        unsafe { AtomicU64::from_ptr(self.map.as_mut_ptr().add(header::CLAIMED_AT).cast()) }
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
        for (at, bytes) in header::ending(stats, tls, reasons, clock_end, finished_wall_ns) {
            self.file.write_all_at(&bytes, at)?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SampleFile;
    use crate::record::rundir::file_name;

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
