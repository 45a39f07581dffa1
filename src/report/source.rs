//! What a path given to `barrage report` is (run directories, a results.csv, a
//! summary.json), and the one streaming pass that turns it into a [`Report`] (for
//! run directories, `finish.rs`'s merge-then-report).

use std::path::{Path, PathBuf};

use super::finish::{ReportOut, merge_and_report};
use super::{Accumulator, Report, ReportError, ReportOptions, SourceInfo, Summary, csv_in};
use crate::record::rundir;

/// How far out of order a results.csv row may be and still land in its interval: the
/// seed tool wrote rows roughly in completion order.
pub const CSV_REORDER_WINDOW_NS: u64 = 5_000_000_000;

/// A report's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// One run's directories (several hosts' directories of one run may be given).
    Samples(Vec<PathBuf>),
    /// A results.csv, barrage's or the seed tool's.
    Csv(PathBuf),
    /// A summary.json (enough for `--compare`, not for a full report).
    Json(PathBuf),
}

impl Input {
    /// Classifies `paths`: directories (with sample files, or else a results.csv), or
    /// one file (`.json` is a summary, anything else a results.csv).
    pub fn resolve(paths: &[PathBuf]) -> Result<Input, ReportError> {
        let bad = |path: &Path, why: &str| ReportError::Input {
            path: path.to_path_buf(),
            why: why.to_string(),
        };
        let Some(first) = paths.first() else {
            return Err(bad(Path::new("."), "no input given"));
        };
        if paths.iter().all(|p| p.is_dir()) {
            if paths.len() == 1 && rundir::sample_paths(first).is_err() {
                let csv = first.join("results.csv");
                if csv.is_file() {
                    return Ok(Input::Csv(csv));
                }
                return Err(bad(
                    first,
                    "holds no sample files (samples-NNN.bin) and no results.csv: give a barrage run directory or a results.csv",
                ));
            }
            return Ok(Input::Samples(paths.to_vec()));
        }
        if paths.len() > 1 {
            let file = paths.iter().find(|p| !p.is_dir()).unwrap_or(first);
            return Err(bad(
                file,
                "several inputs must all be run directories of one run; give one results.csv at a time",
            ));
        }
        if !first.exists() {
            return Err(bad(
                first,
                "no such file or directory: give a run directory or a results.csv",
            ));
        }
        if first.extension().is_some_and(|e| e == "json") {
            return Ok(Input::Json(first.clone()));
        }
        Ok(Input::Csv(first.clone()))
    }

    /// Where the report goes by default: the run directory, or beside the csv.
    pub fn default_out(&self) -> PathBuf {
        match self {
            Input::Samples(dirs) => dirs[0].clone(),
            Input::Csv(p) | Input::Json(p) => match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            },
        }
    }

    /// Builds the full report in one pass.
    pub fn build(&self, opts: ReportOptions, skip_bad_lines: bool) -> Result<Report, ReportError> {
        match self {
            Input::Samples(dirs) => {
                let files = rundir::open_run(dirs)?;
                let out = ReportOut {
                    opts,
                    ..Default::default()
                };
                merge_and_report(&files, None, out)?.report
            }
            Input::Csv(path) => {
                let opts = ReportOptions {
                    reorder_window_ns: opts.reorder_window_ns.max(CSV_REORDER_WINDOW_NS),
                    ..opts
                };
                let mut acc = Accumulator::new(opts);
                let st = csv_in::read(path, skip_bad_lines, |s| acc.add(s))?;
                acc.finish(SourceInfo {
                    kind: "csv",
                    paths: vec![path.clone()],
                    skipped_lines: st.skipped,
                    ..Default::default()
                })
            }
            Input::Json(path) => Err(ReportError::Input {
                path: path.clone(),
                why: "a summary.json is enough for --compare but not for a report: give the run directory or results.csv".into(),
            }),
        }
    }

    /// The summary only: read from a summary.json, or built.
    pub fn summary(
        &self,
        opts: ReportOptions,
        skip_bad_lines: bool,
    ) -> Result<Summary, ReportError> {
        match self {
            Input::Json(p) => Summary::read(p),
            _ => Ok(self.build(opts.summary_only(), skip_bad_lines)?.summary),
        }
    }
}
