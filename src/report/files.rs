//! The files a report writes into its directory: report.html, the standalone charts,
//! summary.json, intervals.csv, the `.hlog` and the `.hgrm`.

use std::path::{Path, PathBuf};

use super::{Report, ReportError, charts, hlog, html, intervals};

/// The files a report writes, relative to its output directory.
pub mod names {
    pub const INTERVALS: &str = "intervals.csv";
    pub const SUMMARY: &str = "summary.json";
    pub const HTML: &str = "report.html";
    pub const HLOG: &str = "latency.hlog";
    pub const HGRM: &str = "latency.hgrm";
    pub const CHARTS: &str = "charts";
}

/// Writes every report file into `dir` (created if needed). Returns their paths, the
/// HTML report first.
pub fn write_files(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Write { path, source }
    };
    let charts_dir = dir.join(names::CHARTS);
    std::fs::create_dir_all(&charts_dir).map_err(werr(&charts_dir))?;
    let mut written = Vec::new();

    let charts = charts::Charts::build(report);
    let p = dir.join(names::HTML);
    std::fs::write(&p, html::render(report, &charts)).map_err(werr(&p))?;
    written.push(p);
    for (name, text) in charts.files() {
        let p = charts_dir.join(name);
        std::fs::write(&p, text).map_err(werr(&p))?;
        written.push(p);
    }

    let p = dir.join(names::SUMMARY);
    std::fs::write(&p, report.summary.to_json()).map_err(werr(&p))?;
    written.push(p);

    let p = dir.join(names::INTERVALS);
    intervals::write(&p, &report.intervals, report.opts.interval_ns).map_err(werr(&p))?;
    written.push(p);

    let p = dir.join(names::HLOG);
    hlog::write_interval_log(&p, report).map_err(werr(&p))?;
    written.push(p);

    let p = dir.join(names::HGRM);
    hlog::write_hgrm(&p, &report.overall).map_err(werr(&p))?;
    written.push(p);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ErrorKind;
    use crate::report::{Accumulator, ReportOptions, Sample, SourceInfo};

    fn s(end_ms: u64, lat_ms: u64) -> Sample {
        Sample {
            end_ns: end_ms * 1_000_000,
            latency_ns: lat_ms * 1_000_000,
            status: 200,
            error: 0,
            bytes: 10,
            lag_ns: None,
        }
    }

    fn finish(acc: Accumulator) -> Report {
        acc.finish(SourceInfo {
            kind: "csv",
            ..Default::default()
        })
        .unwrap()
    }

    /// No requests, or only failures: every file is still written, nothing panics.
    #[test]
    fn degenerate_reports_write_every_file() {
        let dir = std::env::temp_dir().join(format!("barrage-degenerate-{}", std::process::id()));
        let empty = finish(Accumulator::new(ReportOptions::default()));
        let mut acc = Accumulator::new(ReportOptions::default());
        for i in 0..5 {
            acc.add(Sample {
                end_ns: i * 700_000_000,
                latency_ns: 0,
                status: 0,
                error: ErrorKind::Timeout as u8,
                bytes: 0,
                lag_ns: None,
            });
        }
        let failures = finish(acc);
        let mut acc = Accumulator::new(ReportOptions::default());
        acc.add(s(0, 0));
        let instant = finish(acc);
        for (name, r) in [
            ("empty", empty),
            ("failures", failures),
            ("instant", instant),
        ] {
            let out = dir.join(name);
            let files = write_files(&r, &out).unwrap();
            assert_eq!(files.len(), 10, "{name}");
            for f in files {
                assert!(std::fs::metadata(&f).unwrap().len() > 0, "{}", f.display());
            }
            let html = std::fs::read_to_string(out.join(names::HTML)).unwrap();
            // Outside the embedded PNGs (whose base64 may spell anything).
            let text: String = html
                .split("base64,")
                .enumerate()
                .map(|(i, part)| match part.split_once('"') {
                    Some((_, rest)) if i > 0 => rest,
                    _ => part,
                })
                .collect();
            for bad in ["NaN", "inf\"", ">inf", "-inf"] {
                assert!(!text.contains(bad), "{name}: {bad} in report.html");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
