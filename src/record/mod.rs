//! Where every request ends up: the fixed-size binary records in each process's
//! mmapped sample file (`sample`), found in a run directory (`rundir`), merged into
//! completion order (`merge`) and written out as results.csv (`csv`).

pub mod csv;
pub mod merge;
pub mod rundir;
pub mod sample;
#[cfg(test)]
mod testing;

pub use csv::{Column, CsvOptions};
pub use merge::{MergeError, Merger};
