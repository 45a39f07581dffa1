//! Reports: everything `barrage report` (and the end of `barrage run` and `barrage
//! merge`) derives from a run's records, in one streaming pass. Each file owns one
//! step or one output:
//!
//! - `finish.rs`: a run's sample files merged into results.csv and a report in one
//!   pass (`barrage run`, `merge` and `report` all go through it)
//! - `source.rs`: what a path given to `barrage report` is, and reading it
//! - `csv_in.rs`: reading results.csv (the seed's headerless format, or with a header)
//! - `sample.rs`: one finished request as the report sees it, and error codes' names
//! - `accumulate.rs`: the pass itself, [`Accumulator`], fed one [`Sample`] at a time
//! - `options.rs`: how a report is computed ([`ReportOptions`])
//! - `moments.rs`, `histograms.rs`, `reservoir.rs`: exact moments, the HdrHistograms,
//!   the scatter plot's uniform sample
//! - `model.rs`: the [`Report`] the pass hands to every output
//! - `json.rs`: the [`Summary`] model and summary.json (schema: docs/summary.schema.json)
//! - `intervals.rs`: intervals.csv
//! - `hlog.rs`: the HdrHistogram interval log and the `.hgrm` percentile distribution
//! - `charts/`: the charts, as standalone SVG (one file per chart); `png.rs`: the
//!   scatter's raster and its PNG encoding
//! - `html.rs`: report.html (the charts and tables, self-contained)
//! - `files.rs`: which files a report writes, and writing them
//! - `terminal.rs`: the summary printed at the end of a run, folded to 80 columns
//! - `fmt.rs`: number, duration and byte formats; escaping, trimming, base64
//! - `compare.rs`: `--compare A B`
//! - `thresholds.rs`: `--fail-if`
//! - `verdict.rs`: whose limit the run measured, from the generator's self-check
//!
//! This file owns [`ReportError`], and names the types the others share at
//! `report::`.

pub mod accumulate;
pub mod charts;
pub mod compare;
pub mod csv_in;
pub mod files;
pub mod finish;
pub mod fmt;
pub mod histograms;
pub mod hlog;
pub mod html;
pub mod intervals;
pub mod json;
pub mod model;
pub mod moments;
pub mod options;
pub mod png;
mod reservoir;
pub mod sample;
pub mod source;
pub mod steps;
pub mod terminal;
pub mod thresholds;
pub mod verdict;

use std::io;
use std::path::PathBuf;

use crate::record::MergeError;

pub use accumulate::{Accumulator, BEHIND_SCHEDULE_NS, MAX_INTERVALS};
pub use files::{names, write_files};
pub use histograms::{MAX_LATENCY_NS, SIGFIG, clamp_quantile, overall_histogram};
pub use json::Summary;
pub use model::{IntervalLatency, IntervalStats, Point, Report, ScheduleStats, SourceInfo, Totals};
pub use moments::Moments;
pub use options::ReportOptions;
pub use sample::{ERROR_UNKNOWN, Sample, error_code, error_name};

/// Why a report could not be made. Each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// results.csv could not be read or parsed.
    #[error(transparent)]
    Csv(#[from] csv_in::CsvError),
    /// The sample files could not be merged.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// The path is neither a run directory nor a results.csv nor a summary.json.
    #[error("{path}: {why}")]
    Input { path: PathBuf, why: String },
    /// A summary.json given to `--compare` could not be read.
    #[error("cannot read {path}: {why} (give a run directory or results.csv instead)")]
    Json { path: PathBuf, why: String },
    /// An output file could not be written.
    #[error("cannot write {path}: {source} (choose another directory with --out)")]
    Write { path: PathBuf, source: io::Error },
    /// The records span too many intervals for one report.
    #[error(
        "the records span {intervals} intervals of {interval_s} s (more than {max}): choose a longer --interval"
    )]
    TooManyIntervals {
        intervals: u64,
        interval_s: f64,
        max: u64,
    },
}
