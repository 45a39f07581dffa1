//! Where every request ends up: the fixed-size binary records in each process's
//! mmapped sample file (`sample`), and their merge into results.csv (`merge`).

pub mod merge;
pub mod sample;
