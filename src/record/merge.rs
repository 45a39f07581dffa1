//! The k-way merge: the records of a set of sample files (one or more run
//! directories, see `rundir`) read back as one stream in completion order, every
//! host's end times shifted onto one time axis; and [`MergeError`], why finding,
//! merging or writing them out (`csv`) failed.
//!
//! Each chunk of a sample file was filled by one thread in completion order, so the
//! files are a set of sorted runs. A k-way merge over chunks gives the global order.
//! Chunks join the merge only when the output reaches their first record, so the heap
//! holds about as many chunks as there were threads, whatever the run's length, and
//! each active chunk is read through a small buffer: memory stays flat in the number
//! of samples.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::path::PathBuf;

use crate::record::{RECORD_SIZE, Record, SampleFile};

/// Records read from a chunk at a time (64 KiB).
const BLOCK_RECORDS: usize = 2048;

/// Why a merge failed. Each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The directory could not be listed.
    #[error("cannot read run directory {path}: {source} (check the path and its permissions)")]
    ReadDir { path: PathBuf, source: io::Error },
    /// No sample file was found.
    #[error("no sample files (samples-NNN.bin) in {path}: point merge at a barrage run directory")]
    NoSamples { path: PathBuf },
    /// A file is not a sample file, or is damaged.
    #[error("sample file {path} is unusable: {why}")]
    Corrupt { path: PathBuf, why: String },
    /// A read failed mid-merge.
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// Files from different runs were mixed.
    #[error(
        "{path} belongs to run {found:?}, not {expected:?}: merge one run's directories at a time"
    )]
    RunMismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },
    /// A distributed run's directories do not make one whole test.
    #[error("{0}")]
    Shards(String),
    /// The output could not be written.
    #[error("cannot write {path}: {source} (choose another output with -o)")]
    Write { path: PathBuf, source: io::Error },
}

/// One chunk being merged.
struct Cursor {
    file: usize,
    /// Next slot to read from the file, and the end of this chunk.
    next_slot: u64,
    end_slot: u64,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// The record at the head of this chunk, and its key.
    head: Record,
    key: u64,
}

/// A chunk not yet merged, keyed by its first record.
struct Pending {
    key: u64,
    file: usize,
    start: u64,
    end: u64,
}

/// Streams the records of a set of sample files in completion order.
pub struct Merger<'a> {
    files: &'a [SampleFile],
    /// Per file: ns added to its end times so every host shares one time axis.
    offsets: Vec<u64>,
    pending: Vec<Pending>,
    next_pending: usize,
    cursors: Vec<Cursor>,
    /// Cursors by (key, index), min first. `current` is kept out of the heap.
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    current: Option<usize>,
    free: Vec<usize>,
}

impl<'a> Merger<'a> {
    pub fn new(files: &'a [SampleFile]) -> Result<Merger<'a>, MergeError> {
        // Align hosts by their wall-clock start; one host's files share a time base.
        let min_wall = files
            .iter()
            .map(|f| f.header.wall_start_ns)
            .min()
            .unwrap_or(0);
        let offsets: Vec<u64> = files
            .iter()
            .map(|f| f.header.wall_start_ns - min_wall)
            .collect();
        let mut pending = Vec::new();
        // Only each chunk's first valid record is needed here (its records are read
        // for real when the chunk is activated): a small probe, widened by the loop in
        // `first_valid` only past invalid slots.
        let mut probe = vec![0u8; 16 * RECORD_SIZE];
        for (fi, f) in files.iter().enumerate() {
            let per = f.chunk_records();
            for c in 0..f.chunks() {
                let start = c * per;
                let end = (start + per).min(f.slots());
                if let Some(first) = first_valid(f, start, end, &mut probe)? {
                    pending.push(Pending {
                        key: first.end_ns.saturating_add(offsets[fi]),
                        file: fi,
                        start,
                        end,
                    });
                }
            }
        }
        pending.sort_by_key(|p| p.key);
        Ok(Merger {
            files,
            offsets,
            pending,
            next_pending: 0,
            cursors: Vec::new(),
            heap: BinaryHeap::new(),
            current: None,
            free: Vec::new(),
        })
    }

    /// The next record in completion order, with the index of its file. End times are
    /// already shifted onto the common time axis.
    #[inline]
    pub fn next_record(&mut self) -> Result<Option<(Record, usize)>, MergeError> {
        loop {
            let bound = self.bound();
            if let Some(c) = self.current {
                let cur = &self.cursors[c];
                if cur.key <= bound {
                    let out = (cur.head, cur.file);
                    self.advance(c)?;
                    return Ok(Some(out));
                }
                let key = cur.key;
                let pending = self
                    .pending
                    .get(self.next_pending)
                    .map_or(u64::MAX, |p| p.key);
                if let Some(mut top) = self.heap.peek_mut()
                    && top.0.0 < pending
                {
                    // No chunk to bring in, and the heap's top is next: swap it with
                    // `current` (one sift instead of a push and a pop; the same cursor
                    // comes out as the push-then-pop below would give).
                    let Reverse((_, next)) = std::mem::replace(&mut *top, Reverse((key, c)));
                    drop(top);
                    self.current = Some(next);
                    continue;
                }
                self.heap.push(Reverse((key, c)));
                self.current = None;
            }
            // Bring in every chunk that starts no later than the smallest head.
            while let Some(p) = self.pending.get(self.next_pending) {
                if self.heap.peek().is_some_and(|Reverse((k, _))| *k < p.key) {
                    break;
                }
                self.activate()?;
            }
            match self.heap.pop() {
                Some(Reverse((_, c))) => self.current = Some(c),
                None => return Ok(None),
            }
        }
    }

    /// The smallest key outside `current`: the heap's top or the next pending chunk.
    #[inline]
    fn bound(&self) -> u64 {
        let h = self.heap.peek().map_or(u64::MAX, |Reverse((k, _))| *k);
        let p = self
            .pending
            .get(self.next_pending)
            .map_or(u64::MAX, |p| p.key);
        h.min(p)
    }

    fn activate(&mut self) -> Result<(), MergeError> {
        let p = &self.pending[self.next_pending];
        self.next_pending += 1;
        let (file, start, end) = (p.file, p.start, p.end);
        // A buffer no larger than the chunk: a file of tiny chunks that all start at
        // once must not cost a whole block per record.
        let need = ((end - start) as usize).min(BLOCK_RECORDS) * RECORD_SIZE;
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.cursors.push(Cursor {
                    file: 0,
                    next_slot: 0,
                    end_slot: 0,
                    buf: Vec::new(),
                    pos: 0,
                    len: 0,
                    head: Record::default(),
                    key: 0,
                });
                self.cursors.len() - 1
            }
        };
        let c = &mut self.cursors[idx];
        if c.buf.len() < need {
            c.buf.resize(need, 0);
        }
        c.file = file;
        c.next_slot = start;
        c.end_slot = end;
        c.pos = 0;
        c.len = 0;
        c.key = 0;
        self.current_or_heap(idx)
    }

    /// Loads the cursor's next record and files it in the heap, or retires it.
    fn current_or_heap(&mut self, idx: usize) -> Result<(), MergeError> {
        if self.load_next(idx)? {
            let key = self.cursors[idx].key;
            self.heap.push(Reverse((key, idx)));
        } else {
            self.free.push(idx);
        }
        Ok(())
    }

    #[inline]
    fn advance(&mut self, idx: usize) -> Result<(), MergeError> {
        if !self.load_next(idx)? {
            self.current = None;
            self.free.push(idx);
        }
        Ok(())
    }

    /// Moves cursor `idx` to its next valid record. False when the chunk is done.
    #[inline]
    fn load_next(&mut self, idx: usize) -> Result<bool, MergeError> {
        let files = self.files;
        let c = &mut self.cursors[idx];
        loop {
            if c.pos == c.len {
                if c.next_slot >= c.end_slot {
                    return Ok(false);
                }
                let f = &files[c.file];
                let want = ((c.end_slot - c.next_slot) as usize).min(BLOCK_RECORDS) * RECORD_SIZE;
                let n = f
                    .read_slots(c.next_slot, &mut c.buf[..want])
                    .map_err(|source| MergeError::Read {
                        path: f.path.clone(),
                        source,
                    })?;
                if n == 0 {
                    return Ok(false);
                }
                c.next_slot += (n / RECORD_SIZE) as u64;
                c.pos = 0;
                c.len = n;
            }
            let bytes: &[u8; RECORD_SIZE] = c.buf[c.pos..c.pos + RECORD_SIZE]
                .try_into()
                .expect("record");
            c.pos += RECORD_SIZE;
            let mut rec = Record::decode(bytes);
            if !rec.is_valid() {
                continue;
            }
            // Saturating (so still monotonic): a damaged file's end times can be huge.
            rec.end_ns = rec.end_ns.saturating_add(self.offsets[c.file]);
            if rec.end_ns < c.key {
                let f = &files[c.file];
                let slot = c.next_slot - ((c.len - c.pos) / RECORD_SIZE) as u64 - 1;
                return Err(MergeError::Corrupt {
                    path: f.path.clone(),
                    why: format!("record {slot} completes before the one written before it"),
                });
            }
            c.key = rec.end_ns;
            c.head = rec;
            return Ok(true);
        }
    }
}

fn first_valid(
    f: &SampleFile,
    start: u64,
    end: u64,
    buf: &mut [u8],
) -> Result<Option<Record>, MergeError> {
    let mut slot = start;
    while slot < end {
        let want = ((end - slot) as usize).min(buf.len() / RECORD_SIZE) * RECORD_SIZE;
        let n = f
            .read_slots(slot, &mut buf[..want])
            .map_err(|source| MergeError::Read {
                path: f.path.clone(),
                source,
            })?;
        if n == 0 {
            break;
        }
        for rec in buf[..n].chunks_exact(RECORD_SIZE) {
            let r = Record::decode(rec.try_into().expect("record"));
            if r.is_valid() {
                return Ok(Some(r));
            }
        }
        slot += (n / RECORD_SIZE) as u64;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Header;
    use crate::record::rundir::open_run;
    use crate::record::testing::{RunDir, valid};

    /// Regression: shifting a damaged file's huge end times onto the common time
    /// axis overflowed (a panic in debug builds, out-of-order garbage in release).
    #[test]
    fn merge_saturates_huge_end_times_across_hosts() {
        let run = RunDir::new("huge-end");
        let header = |wall_start_ns| Header {
            chunk_records: 4,
            wall_start_ns,
            run_id: "r".into(),
            ..Default::default()
        };
        run.write(0, header(0), &[valid(5), valid(6)]);
        run.write(1, header(1000), &[valid(7), valid(u64::MAX - 10)]);
        let files = open_run(std::slice::from_ref(&run.0)).unwrap();
        let mut merger = Merger::new(&files).unwrap();
        let mut ends = Vec::new();
        while let Some((rec, _)) = merger.next_record().unwrap() {
            ends.push(rec.end_ns);
        }
        assert_eq!(ends, vec![5, 6, 1007, u64::MAX]);
    }

    /// Regression: every merge cursor took a 64 KiB buffer whatever its chunk's size,
    /// so a (damaged) file of one-record chunks that all start at the same time cost
    /// 2048 times its size in memory. A cursor's buffer is now at most its chunk.
    #[test]
    fn tiny_chunks_get_tiny_buffers() {
        let run = RunDir::new("tiny-chunks");
        let header = Header {
            chunk_records: 1,
            ..Default::default()
        };
        let n = 1000;
        run.write(0, header, &vec![valid(42); n]);
        let files = open_run(std::slice::from_ref(&run.0)).unwrap();
        let mut merger = Merger::new(&files).unwrap();
        assert!(merger.next_record().unwrap().is_some());
        assert_eq!(merger.cursors.len(), n, "every chunk starts at 42");
        let buffered: usize = merger.cursors.iter().map(|c| c.buf.len()).sum();
        assert!(buffered <= n * RECORD_SIZE, "{buffered} bytes of buffers");
        let mut rows = 1;
        while merger.next_record().unwrap().is_some() {
            rows += 1;
        }
        assert_eq!(rows, n);
    }
}
