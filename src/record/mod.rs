//! Where every request ends up, one file per concern in the order of the data's path:
//!
//! - `kind`: why a request failed ([`ErrorKind`]), each kind's name, and the status
//!   every output reports for it ([`reported_status`]).
//! - `record`: one finished request as a 32-byte [`Record`]: fields, flags, the
//!   duration codecs, and its encoding from the worker's plain [`Timing`].
//! - `header`: the sample file's header ([`Header`], [`ClockState`], [`ProcessStats`]).
//! - `log`: the mmapped log a process's threads append records to ([`SampleLog`],
//!   [`ChunkWriter`]); the only `unsafe` here (mmap).
//! - `file`: one sample file opened for reading ([`SampleFile`]).
//! - `rundir`: a run directory's sample files, found, opened and checked to be one test.
//! - `merge`: their records in completion order, by a k-way merge ([`Merger`]).
//! - `csv`: results.csv: its columns, one row per record, the file.
//! - `checks`: the self-check file each process's loops append one record per
//!   interval to ([`checks::CheckRecord`]), read back for the verdict.
//!
//! The sample file format is specified in `docs/sample-format.md`. The types and
//! constants are re-exported here (`record::Record`, `record::ErrorKind`...); the
//! functions are called through their file (`rundir::open_run`, `csv::write_csv`).

pub mod checks;
pub mod csv;
pub mod file;
pub mod header;
pub mod kind;
pub mod log;
pub mod merge;
// The record module's record (clippy would have it named otherwise); the rest of the
// crate names it `record::Record`.
#[allow(clippy::module_inception)]
pub mod record;
pub mod rundir;
#[cfg(test)]
mod testing;

pub use csv::{Column, CsvOptions};
pub use file::SampleFile;
pub use header::{
    ClockState, HDR_BATCHED_READS, HDR_OPEN_LOOP, HDR_UNCORRECTED, HEADER_SIZE, Header, MAGIC,
    ProcessStats, VERSION,
};
pub use kind::{ErrorKind, FIRST_CHECK_ERROR, reported_status};
pub use log::{CHUNK_RECORDS, ChunkWriter, SampleLog};
pub use merge::{MergeError, Merger};
pub use record::{
    FLAG_ITERATION, FLAG_NEW_CONN, FLAG_SCHEDULED, FLAG_TLS_RESUMED, FLAG_VALID, RECORD_SIZE,
    Record, Timing, dur16, dur32,
};
