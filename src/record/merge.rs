//! Merge: every sample file of one or more run directories, read back as one stream of
//! records in completion order, and written out as `results.csv`.
//!
//! Each chunk of a sample file was filled by one thread in completion order, so the
//! files are a set of sorted runs. A k-way merge over chunks gives the global order.
//! Chunks join the merge only when the output reaches their first record, so the heap
//! holds about as many chunks as there were threads, whatever the run's length, and
//! each active chunk is read through a small buffer: memory stays flat in the number
//! of samples.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::record::sample::{RECORD_SIZE, Record, SampleFile};

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

/// Lists the sample files of a run directory, sorted by name.
pub fn sample_paths(dir: &Path) -> Result<Vec<PathBuf>, MergeError> {
    let rd = std::fs::read_dir(dir).map_err(|source| MergeError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("samples-") && n.ends_with(".bin"))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(MergeError::NoSamples {
            path: dir.to_path_buf(),
        });
    }
    Ok(paths)
}

/// Opens and validates every sample file in `dirs`: one whole test, every shard of a
/// distributed run present exactly once.
pub fn open_run(dirs: &[PathBuf]) -> Result<Vec<SampleFile>, MergeError> {
    let files = open_files(dirs)?;
    check_one_run(&files, true)?;
    Ok(files)
}

/// Opens one host's run directory of a (possibly distributed) test: like
/// [`open_run`], but this host's shard alone is enough.
pub fn open_host_run(dir: &Path) -> Result<Vec<SampleFile>, MergeError> {
    let files = open_files(std::slice::from_ref(&dir.to_path_buf()))?;
    check_one_run(&files, false)?;
    Ok(files)
}

fn open_files(dirs: &[PathBuf]) -> Result<Vec<SampleFile>, MergeError> {
    let mut files = Vec::new();
    for dir in dirs {
        for path in sample_paths(dir)? {
            let f = SampleFile::open(&path).map_err(|why| MergeError::Corrupt {
                path: path.clone(),
                why,
            })?;
            files.push(f);
        }
    }
    Ok(files)
}

/// Files merged together must come from one test: one run id, one configuration,
/// and (for a distributed run) every shard exactly once.
fn check_one_run(files: &[SampleFile], whole_test: bool) -> Result<(), MergeError> {
    let Some(first) = files.first() else {
        return Ok(());
    };
    let h0 = &first.header;
    for f in &files[1..] {
        if f.header.run_id != h0.run_id {
            return Err(MergeError::RunMismatch {
                path: f.path.clone(),
                expected: h0.run_id.clone(),
                found: f.header.run_id.clone(),
            });
        }
        if f.header.config_hash != h0.config_hash || f.header.shard_count != h0.shard_count {
            return Err(MergeError::Shards(format!(
                "{} was run with other settings than {} (same run id, different configuration): rerun with one command line on every host",
                f.path.display(),
                first.path.display()
            )));
        }
    }
    // Each shard's files live in one directory; a shard seen in two is a duplicate.
    // The shard count comes from a file's header, which a damaged file can set to
    // anything: nothing here is sized by it, only by the files.
    let n = h0.shard_count.max(1);
    let mut seen: Vec<(u32, &Path)> = Vec::new();
    for f in files {
        let dir = f.path.parent().unwrap_or(Path::new("."));
        let i = f.header.shard_index;
        if i >= n {
            return Err(MergeError::Shards(format!(
                "{} claims shard {i} of {n}",
                f.path.display()
            )));
        }
        match seen.iter().find(|(j, _)| *j == i) {
            Some((_, d)) if *d != dir => {
                return Err(MergeError::Shards(format!(
                    "shard {i} of {n} appears twice, in {} and {}: give each host's run directory once",
                    d.display(),
                    dir.display()
                )));
            }
            Some(_) => {}
            None => seen.push((i, dir)),
        }
    }
    if !whole_test {
        return Ok(());
    }
    const LISTED: usize = 64;
    let absent = n as usize - seen.len();
    let mut missing: Vec<String> = (0..n)
        .filter(|i| !seen.iter().any(|(j, _)| j == i))
        .take(LISTED)
        .map(|i| i.to_string())
        .collect();
    if absent > LISTED {
        missing.push(format!("and {} more", absent - LISTED));
    }
    if !missing.is_empty() {
        return Err(MergeError::Shards(format!(
            "shard {} of {n} missing: merge the run directories of all {n} hosts",
            missing.join(", ")
        )));
    }
    Ok(())
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

/// How results.csv is written.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Decimals of the two time columns (6 by default; 3 is the seed's format).
    pub precision: u32,
    /// Report service time even for scheduled (open-loop) requests.
    pub uncorrected: bool,
    /// Extra columns after the seed's three (see [`Column`]).
    pub columns: Vec<Column>,
    /// Write a header line naming the columns.
    pub header: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            precision: 6,
            uncorrected: false,
            columns: Vec::new(),
            header: false,
        }
    }
}

/// Optional extra columns of results.csv, named as in `--columns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Start,
    Intended,
    Connect,
    Tls,
    Ttfb,
    Bytes,
    Error,
    Target,
    NewConn,
    Resumed,
    Process,
    Host,
    /// The status line a request saw before it failed without a complete response
    /// (its `status` is 0); empty for every other request.
    PartialStatus,
}

impl Column {
    pub const ALL: [(&'static str, Column); 13] = [
        ("start", Column::Start),
        ("intended", Column::Intended),
        ("connect", Column::Connect),
        ("tls", Column::Tls),
        ("ttfb", Column::Ttfb),
        ("bytes", Column::Bytes),
        ("error", Column::Error),
        ("target", Column::Target),
        ("new_conn", Column::NewConn),
        ("resumed", Column::Resumed),
        ("process", Column::Process),
        ("host", Column::Host),
        // Last, so the columns `all` had before keep their places.
        ("partial_status", Column::PartialStatus),
    ];

    pub fn parse_list(s: &str) -> Result<Vec<Column>, String> {
        if s == "all" {
            return Ok(Column::ALL.iter().map(|(_, c)| *c).collect());
        }
        s.split(',')
            .map(|name| {
                let name = name.trim();
                Column::ALL
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, c)| *c)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Column::ALL.iter().map(|(n, _)| *n).collect();
                        format!(
                            "unknown column {name:?}: choose from {} or all",
                            names.join(",")
                        )
                    })
            })
            .collect()
    }

    pub fn name(self) -> &'static str {
        Column::ALL
            .iter()
            .find(|(_, c)| *c == self)
            .map(|(n, _)| *n)
            .expect("listed")
    }
}

/// Appends `ns` as seconds with `decimals` (0 to 9) places, rounded to nearest.
#[inline]
pub fn push_seconds(out: &mut Vec<u8>, ns: u64, decimals: u32) {
    // One instance per precision, so every division is by a constant (a multiply):
    // this runs twice per results.csv row.
    match decimals {
        0 => push_seconds_fixed::<0>(out, ns),
        1 => push_seconds_fixed::<1>(out, ns),
        2 => push_seconds_fixed::<2>(out, ns),
        3 => push_seconds_fixed::<3>(out, ns),
        4 => push_seconds_fixed::<4>(out, ns),
        5 => push_seconds_fixed::<5>(out, ns),
        6 => push_seconds_fixed::<6>(out, ns),
        7 => push_seconds_fixed::<7>(out, ns),
        8 => push_seconds_fixed::<8>(out, ns),
        9 => push_seconds_fixed::<9>(out, ns),
        d => panic!("{d} decimals: at most 9 (nanoseconds)"),
    }
}

#[inline(always)]
fn push_seconds_fixed<const D: u32>(out: &mut Vec<u8>, ns: u64) {
    let unit = 10u64.pow(9 - D);
    // Saturating: a damaged file's end time can be anything up to u64::MAX.
    let q = ns.saturating_add(unit / 2) / unit;
    let scale = 10u64.pow(D);
    let mut ib = itoa::Buffer::new();
    out.extend_from_slice(ib.format(q / scale).as_bytes());
    if D > 0 {
        // '.' and exactly D digits, zero-padded, written right to left.
        let mut frac = q % scale;
        let mut buf = [b'.'; 10];
        for b in buf[1..=D as usize].iter_mut().rev() {
            *b = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        out.extend_from_slice(&buf[..=D as usize]);
    }
}

/// Formats one record as a CSV line (with newline) into `line`.
#[inline]
pub fn format_row(line: &mut Vec<u8>, rec: &Record, file: &SampleFile, opts: &CsvOptions) {
    let p = opts.precision;
    push_seconds(line, rec.end_ns, p);
    line.push(b',');
    push_seconds(line, rec.latency_ns(!opts.uncorrected), p);
    line.push(b',');
    let mut ib = itoa::Buffer::new();
    line.extend_from_slice(ib.format(rec.reported_status()).as_bytes());
    for col in &opts.columns {
        line.push(b',');
        match col {
            Column::Start => push_seconds(line, rec.end_ns.saturating_sub(rec.service_ns()), 9),
            // The intended start is where the corrected latency counts from.
            Column::Intended => {
                push_seconds(line, rec.end_ns.saturating_sub(rec.latency_ns(true)), 9)
            }
            Column::Connect => push_opt_seconds(
                line,
                rec.flags & crate::record::sample::FLAG_NEW_CONN != 0,
                crate::record::sample::dur16::decode(rec.connect),
            ),
            Column::Tls => push_opt_seconds(
                line,
                rec.flags & crate::record::sample::FLAG_NEW_CONN != 0 && rec.tls != 0,
                crate::record::sample::dur16::decode(rec.tls),
            ),
            Column::Ttfb => push_opt_seconds(
                line,
                rec.ttfb != 0,
                crate::record::sample::dur16::decode(rec.ttfb),
            ),
            Column::Bytes => line.extend_from_slice(ib.format(rec.bytes).as_bytes()),
            Column::Error => {
                if rec.is_error() {
                    line.extend_from_slice(rec.error_kind().name().as_bytes());
                }
            }
            Column::Target => line.extend_from_slice(ib.format(rec.target).as_bytes()),
            Column::NewConn => {
                line.push(if rec.flags & crate::record::sample::FLAG_NEW_CONN != 0 {
                    b'1'
                } else {
                    b'0'
                })
            }
            Column::Resumed => line.push(
                if rec.flags & crate::record::sample::FLAG_TLS_RESUMED != 0 {
                    b'1'
                } else {
                    b'0'
                },
            ),
            Column::Process => {
                line.extend_from_slice(ib.format(file.header.process_index).as_bytes())
            }
            Column::Host => line.extend_from_slice(file.header.host_id.as_bytes()),
            Column::PartialStatus => {
                if let Some(s) = rec.partial_status() {
                    line.extend_from_slice(ib.format(s).as_bytes());
                }
            }
        }
    }
    line.push(b'\n');
}

fn push_opt_seconds(line: &mut Vec<u8>, present: bool, ns: u64) {
    if present {
        push_seconds(line, ns, 9);
    }
}

/// The run was recorded with `--latency-uncorrected` (its header flag): results.csv
/// and reports then give service time for scheduled requests too, whatever a later
/// `barrage merge` or `report` is asked.
pub fn recorded_uncorrected(files: &[SampleFile]) -> bool {
    files
        .iter()
        .any(|f| f.header.flags & crate::record::sample::HDR_UNCORRECTED != 0)
}

/// Writes `results.csv` from `files`, handing every record to `visit` as well (the
/// summary is built in the same pass). Returns the number of rows.
pub fn write_csv(
    files: &[SampleFile],
    out: &Path,
    opts: &CsvOptions,
    mut visit: impl FnMut(&Record, &SampleFile),
) -> Result<u64, MergeError> {
    let werr = |source| MergeError::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut file = File::create(out).map_err(werr)?;
    // Rows are formatted straight into one output buffer (no per-row copy), written
    // out whenever it passes this size.
    const FLUSH_AT: usize = 1 << 20;
    let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
    if opts.header {
        buf.extend_from_slice(b"elapsed,response_time,status");
        for c in &opts.columns {
            buf.push(b',');
            buf.extend_from_slice(c.name().as_bytes());
        }
        buf.push(b'\n');
    }
    // A run recorded with --latency-uncorrected stays uncorrected when merged again.
    let uncorrected = CsvOptions {
        uncorrected: opts.uncorrected || recorded_uncorrected(files),
        ..opts.clone()
    };
    let opts = &uncorrected;
    let mut merger = Merger::new(files)?;
    let mut rows = 0u64;
    while let Some((rec, fi)) = merger.next_record()? {
        format_row(&mut buf, &rec, &files[fi], opts);
        visit(&rec, &files[fi]);
        rows += 1;
        if buf.len() >= FLUSH_AT {
            file.write_all(&buf).map_err(werr)?;
            buf.clear();
        }
    }
    file.write_all(&buf).map_err(werr)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::sample::Header;

    #[test]
    fn seconds_formatting() {
        let cases = [
            (0u64, 6, "0.000000"),
            (1, 6, "0.000000"),
            (500, 6, "0.000001"),
            (1_234_567_890, 6, "1.234568"),
            (1_234_567_890, 3, "1.235"),
            (999_999_999, 3, "1.000"),
            (12_000_000_000, 0, "12"),
            (5, 9, "0.000000005"),
        ];
        for (ns, d, want) in cases {
            let mut v = Vec::new();
            push_seconds(&mut v, ns, d);
            assert_eq!(String::from_utf8(v).unwrap(), want, "{ns} ns at {d}");
        }
    }

    /// The per-precision fast path against plain arithmetic, at every precision.
    #[test]
    fn push_seconds_matches_reference_at_every_precision() {
        let mut ns = 1u64;
        let mut values = vec![0u64, 499, 500, 999_999_999, 1_000_000_000, u64::MAX];
        while ns < u64::MAX / 7 {
            values.extend([ns, ns * 3 + 1, ns * 7 - 1]);
            ns *= 10;
        }
        for d in 0..=9u32 {
            for &ns in &values {
                let unit = 10u128.pow(9 - d);
                let q = ((ns as u128 + unit / 2) / unit).min(u64::MAX as u128 / unit);
                let scale = 10u128.pow(d);
                let want = if d == 0 {
                    format!("{q}")
                } else {
                    format!("{}.{:0w$}", q / scale, q % scale, w = d as usize)
                };
                let mut v = Vec::new();
                push_seconds(&mut v, ns, d);
                assert_eq!(String::from_utf8(v).unwrap(), want, "{ns} ns at {d}");
            }
        }
    }

    /// Regression: rounding overflowed (a panic in debug builds, a wrapped "0.000"
    /// in release) for end times near u64::MAX, which a damaged file can hold.
    #[test]
    fn push_seconds_saturates_at_u64_max() {
        for d in 0..=9 {
            let mut v = Vec::new();
            push_seconds(&mut v, u64::MAX, d);
            assert!(
                v.starts_with(b"18446744073"),
                "{d}: {:?}",
                String::from_utf8(v)
            );
        }
        let mut v = Vec::new();
        push_seconds(&mut v, u64::MAX, 9);
        assert_eq!(v, b"18446744073.709551615");
    }

    use crate::record::sample::{FLAG_VALID, file_name};

    /// A scratch run directory holding hand-written sample files.
    struct RunDir(PathBuf);

    impl RunDir {
        fn new(name: &str) -> RunDir {
            let dir = std::env::temp_dir()
                .join(format!("barrage-merge-test-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            RunDir(dir)
        }

        /// Writes sample file `index`: `header` (claiming enough chunks) then `records`.
        fn write(&self, index: u32, mut header: Header, records: &[Record]) {
            header.claimed_chunks = (records.len() as u64).div_ceil(header.chunk_records as u64);
            let mut bytes = header.encode();
            for r in records {
                bytes.extend_from_slice(&r.encode());
            }
            std::fs::write(self.0.join(file_name(index)), bytes).unwrap();
        }
    }

    impl Drop for RunDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn valid(end_ns: u64) -> Record {
        Record {
            end_ns,
            status: 200,
            flags: FLAG_VALID,
            ..Default::default()
        }
    }

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

    /// Regression: the shard check sized a table by the header's shard count, so a
    /// damaged file claiming 4 billion shards made merge abort on a 64 GiB
    /// allocation (found by the sample_file fuzz target).
    #[test]
    fn huge_shard_count_is_not_allocated() {
        let run = RunDir::new("huge-shards");
        let header = Header {
            chunk_records: 4,
            shard_count: u32::MAX,
            run_id: "r".into(),
            ..Default::default()
        };
        run.write(0, header, &[valid(1)]);
        let Err(err) = open_run(std::slice::from_ref(&run.0)) else {
            panic!("4294967294 shards are missing");
        };
        let msg = err.to_string();
        assert!(
            msg.starts_with("shard 1, 2, 3,")
                && msg.contains("64, and 4294967230 more of 4294967295 missing"),
            "{msg}"
        );
        assert!(
            open_host_run(&run.0).is_ok(),
            "one host's shard alone is fine"
        );
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

    /// Issue 12 item 2: a record that kept the status line of a response cut short
    /// (how every sample file holds it) is written with status 0, and the status it
    /// saw goes to `partial_status`; a failed check keeps its status there.
    #[test]
    fn failed_requests_are_written_with_status_0() {
        use crate::record::sample::ErrorKind;
        let run = RunDir::new("partial-status");
        let header = Header {
            chunk_records: 8,
            ..Default::default()
        };
        let failed = |end_ns, status, error: ErrorKind| Record {
            status,
            error: error as u8,
            ..valid(end_ns)
        };
        run.write(
            0,
            header,
            &[
                valid(1_000_000_000),
                failed(2_000_000_000, 200, ErrorKind::EofMidResponse),
                failed(3_000_000_000, 0, ErrorKind::ConnectRefused),
                failed(4_000_000_000, 404, ErrorKind::UnexpectedStatus),
            ],
        );
        let files = open_run(std::slice::from_ref(&run.0)).unwrap();
        let out = run.0.join("results.csv");
        let opts = CsvOptions {
            precision: 0,
            columns: Column::parse_list("error,partial_status").unwrap(),
            ..Default::default()
        };
        write_csv(&files, &out, &opts, |_, _| {}).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "1,0,200,,\n\
             2,0,0,closed mid-response,200\n\
             3,0,0,connect refused,\n\
             4,0,404,unexpected status,\n"
        );
    }

    #[test]
    fn column_lists() {
        assert_eq!(
            Column::parse_list("connect,tls").unwrap(),
            vec![Column::Connect, Column::Tls]
        );
        assert_eq!(Column::parse_list("all").unwrap().len(), Column::ALL.len());
        assert!(
            Column::parse_list("bogus")
                .unwrap_err()
                .contains("unknown column \"bogus\"")
        );
    }
}
