//! Test helpers shared by the record module's unit tests: scratch run directories of
//! hand-written sample files.

use std::path::PathBuf;

use crate::record::rundir::file_name;
use crate::record::{FLAG_VALID, Header, Record};

/// A scratch run directory holding hand-written sample files.
pub struct RunDir(pub PathBuf);

impl RunDir {
    pub fn new(name: &str) -> RunDir {
        let dir =
            std::env::temp_dir().join(format!("barrage-merge-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        RunDir(dir)
    }

    /// Writes sample file `index`: `header` (claiming enough chunks) then `records`.
    pub fn write(&self, index: u32, mut header: Header, records: &[Record]) {
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

/// A complete record of a 200 that ended at `end_ns`.
pub fn valid(end_ns: u64) -> Record {
    Record {
        end_ns,
        status: 200,
        flags: FLAG_VALID,
        ..Default::default()
    }
}
