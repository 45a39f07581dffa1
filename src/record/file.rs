//! One sample file opened for reading: its header checked, its record area sized
//! (trusting the file's length over the header's chunk counter, which a killed
//! process may have left ahead), and its slots read by number. Unwritten slots are
//! read too; `Record::is_valid` tells them apart and the merge skips them.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::record::header::{HEADER_SIZE, Header};
use crate::record::record::RECORD_SIZE;

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
