//! One merge-then-report path for a run's sample files: the k-way merge's records go
//! once through the report's [`Accumulator`] and, when asked, into results.csv; the
//! report is finished and, when asked, its files written. `barrage run` (after its
//! load), `barrage merge` and `barrage report` on a run directory all go through
//! [`merge_and_report`], so the three cannot drift apart.

use std::path::{Path, PathBuf};

use super::{Accumulator, Report, ReportError, ReportOptions, SourceInfo, write_files};
use crate::record::{CsvOptions, MergeError, Merger, csv};
use crate::record::{ProcessStats, SampleFile};

/// The report [`merge_and_report`] builds, and where its files go.
#[derive(Debug, Clone, Default)]
pub struct ReportOut<'a> {
    pub opts: ReportOptions,
    /// Whether server certificates were verified: known only to `barrage run`.
    pub tls_verified: Option<bool>,
    /// Write every report file into this directory; `None` writes none.
    pub dir: Option<&'a Path>,
}

/// What [`merge_and_report`] made.
pub struct Merged {
    /// Records merged: the rows of results.csv, when it was written.
    pub records: u64,
    /// The report, or why it could not be built.
    pub report: Result<Report, ReportError>,
    /// The report files written, report.html first (none without a directory, or
    /// when the report could not be built), or why they could not be written.
    pub files: Result<Vec<PathBuf>, ReportError>,
}

impl Merged {
    /// The report if it could be built, and its files or why there are none (why
    /// the report could not be built, or its files written): what `barrage run`
    /// shows, where a report that failed must not hide the run's outcome.
    pub fn report_and_files(self) -> (Option<Report>, Result<Vec<PathBuf>, ReportError>) {
        match self.report {
            Ok(r) => (Some(r), self.files),
            Err(e) => (None, Err(e)),
        }
    }
}

/// Merges `files` in completion order in one pass that feeds the report and, with
/// `csv`, writes results.csv to its path; then finishes the report and writes its
/// files into `report.dir`, if given. An error reading the samples or writing
/// results.csv stops it; a report that cannot be built or written does not (it is in
/// the [`Merged`]), since results.csv is written by then.
pub fn merge_and_report(
    files: &[SampleFile],
    csv: Option<(&Path, &CsvOptions)>,
    report: ReportOut<'_>,
) -> Result<Merged, MergeError> {
    let (mut acc, mut source) = for_run(files, report.opts);
    source.tls_verified = report.tls_verified;
    let records = match csv {
        Some((path, opts)) => csv::write_csv(files, path, opts, |r, _| acc.add_record(r))?,
        None => {
            let mut m = Merger::new(files)?;
            let mut n = 0;
            while let Some((r, _)) = m.next_record()? {
                acc.add_record(&r);
                n += u64::from(!r.is_iteration());
            }
            n
        }
    };
    let dirs = source.paths.clone();
    let mut built = acc.finish(source);
    // The generator's self-check files sit beside the samples.
    if let Ok(r) = built.as_mut() {
        r.summary.verdict = super::verdict::judge_dirs(&dirs);
    }
    let written = match (&built, report.dir) {
        (Ok(r), Some(dir)) => write_files(r, dir),
        _ => Ok(Vec::new()),
    };
    Ok(Merged {
        records,
        report: built,
        files: written,
    })
}

/// An accumulator and source description for a run's sample files: latency is
/// uncorrected if asked or if the run was recorded with `--latency-uncorrected`.
pub fn for_run(files: &[SampleFile], opts: ReportOptions) -> (Accumulator, SourceInfo) {
    let uncorrected = csv::recorded_uncorrected(files);
    let opts = ReportOptions {
        corrected: opts.corrected && !uncorrected,
        ..opts
    };
    let mut stats = ProcessStats::default();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut reasons = std::collections::BTreeMap::new();
    for f in files {
        stats.add(&f.header.stats);
        for (kind, why) in &f.header.reasons {
            reasons.entry(*kind).or_insert_with(|| why.clone());
        }
        let d = f.path.parent().map(Path::to_path_buf).unwrap_or_default();
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    let source = SourceInfo {
        kind: "samples",
        paths: dirs,
        run_id: files.first().map(|f| f.header.run_id.clone()),
        wall_start_ns: files.iter().map(|f| f.header.wall_start_ns).min(),
        stats: Some(stats),
        skipped_lines: 0,
        tls: files
            .iter()
            .map(|f| f.header.tls)
            .find(|t| t[0] != 0)
            .or((stats.tls_full + stats.tls_resumed > 0).then_some([0; 3])),
        tls_verified: None,
        pipeline: files.iter().map(|f| f.header.pipeline.max(1)).max(),
        read_batching: files
            .iter()
            .any(|f| f.header.flags & crate::record::HDR_BATCHED_READS != 0),
        reasons,
    };
    let steps = crate::record::rundir::step_names(&source.paths);
    let mut acc = Accumulator::new(opts);
    if !steps.is_empty() {
        acc.with_steps(steps);
    }
    (acc, source)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorded run directory of the test fixtures (tests/fixtures/README.md).
    fn fixture(name: &str) -> Vec<SampleFile> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs");
        crate::record::rundir::open_run(&[dir.join(name)]).unwrap()
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("barrage-finish-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// One pass writes results.csv (one row per record), builds the report from the
    /// same records, and writes every report file; `tls_verified` reaches the summary.
    #[test]
    fn one_pass_writes_csv_report_and_files() {
        let files = fixture("tls");
        let dir = scratch("all");
        let csv = dir.join("results.csv");
        let out = ReportOut {
            tls_verified: Some(true),
            dir: Some(&dir),
            ..Default::default()
        };
        let m = merge_and_report(&files, Some((&csv, &CsvOptions::default())), out).unwrap();
        assert_eq!(m.records, 1000);
        let rows = std::fs::read_to_string(&csv).unwrap().lines().count();
        assert_eq!(rows, 1000);
        let (report, written) = m.report_and_files();
        let s = report.expect("a report").summary;
        assert_eq!(s.requests.total, 1000);
        assert_eq!(s.tls.and_then(|t| t.certificate_verified), Some(true));
        let written = written.expect("report files");
        assert_eq!(written.len(), 10);
        assert_eq!(written[0], dir.join(crate::report::names::HTML));
        assert!(written.iter().all(|p| p.is_file()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Without results.csv or a directory, only the report: nothing is written.
    #[test]
    fn report_alone_writes_nothing() {
        let files = fixture("closed");
        let m = merge_and_report(&files, None, ReportOut::default()).unwrap();
        assert_eq!(m.records, 1832);
        assert_eq!(m.report.unwrap().summary.requests.total, 1832);
        assert!(m.files.unwrap().is_empty());
    }

    /// Report files that cannot be written do not undo results.csv, and `barrage run`
    /// is told why there are none.
    #[test]
    fn unwritable_report_files_keep_the_csv() {
        let files = fixture("closed");
        let dir = scratch("unwritable");
        let csv = dir.join("results.csv");
        // A file where the report's directory should be.
        let blocked = dir.join("report");
        std::fs::write(&blocked, "").unwrap();
        let out = ReportOut {
            dir: Some(&blocked),
            ..Default::default()
        };
        let m = merge_and_report(&files, Some((&csv, &CsvOptions::default())), out).unwrap();
        assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 1832);
        let (report, written) = m.report_and_files();
        assert_eq!(report.expect("built").summary.requests.total, 1832);
        let e = written.expect_err("no report files");
        assert!(
            e.to_string()
                .contains("choose another directory with --out"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A report that could not be built: `barrage run` gets why in place of files.
    #[test]
    fn a_report_that_failed_is_why_there_are_no_files() {
        let m = Merged {
            records: 3,
            report: Err(ReportError::TooManyIntervals {
                intervals: 20_000_000,
                interval_s: 1e-9,
                max: crate::report::MAX_INTERVALS,
            }),
            files: Ok(Vec::new()),
        };
        let (report, written) = m.report_and_files();
        assert!(report.is_none());
        let e = written.expect_err("why");
        assert!(e.to_string().contains("choose a longer --interval"), "{e}");
    }
}
