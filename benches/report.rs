//! Report throughput: a synthetic run directory (2 processes x 4 threads; 10 million
//! samples by default, 100 million for the figure in docs/performance.md) read back in
//! the three ways barrage does it:
//!
//! - `report`: `barrage report RUN_DIR`'s pass: merge + report accumulator + finish.
//! - `csv+report`: the tail of `barrage run`: results.csv written and the report
//!   accumulated in the same pass.
//! - `csv`: merge to results.csv alone (`barrage merge`), for comparison.
//!
//! ```text
//! cargo bench --bench report
//! BARRAGE_BENCH_SAMPLES=100000000 cargo bench --bench report -- --sample-size 10
//! ```
//!
//! The run directory (`benches/synthetic/`) is generated once per sample count under
//! the temp dir (`barrage-bench-report-<n>/`, 32 bytes a sample) and reused by later
//! runs, so `barrage report` can be timed on it too (see docs/performance.md).
//! results.csv goes to a file in the temp dir, overwritten each iteration. The goal: at least 10
//! million samples/s on one core for each.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use barrage::record::{CsvOptions, Merger, csv, rundir};
use barrage::report::finish::for_run;
use barrage::report::{ReportOptions, write_files};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

mod synthetic;

const PROCESSES: u32 = 2;
const THREADS: usize = 4;

fn samples() -> u64 {
    std::env::var("BARRAGE_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

fn report_pass(dir: &Path) -> u64 {
    let files = rundir::open_run(&[dir.to_path_buf()]).expect("open run");
    let (mut acc, source) = for_run(&files, ReportOptions::default());
    let mut m = Merger::new(&files).expect("merger");
    while let Some((r, _)) = m.next_record().expect("read") {
        acc.add_record(&r);
    }
    let report = acc.finish(source).expect("report");
    black_box(&report);
    report.summary.requests.total
}

fn csv_pass(dir: &Path, out: &Path, with_report: bool) -> u64 {
    let files = rundir::open_run(&[dir.to_path_buf()]).expect("open run");
    let (mut acc, source) = for_run(&files, ReportOptions::default());
    let rows = if with_report {
        csv::write_csv(&files, out, &CsvOptions::default(), |r, _| {
            acc.add_record(r)
        })
    } else {
        csv::write_csv(&files, out, &CsvOptions::default(), |r, _| {
            black_box(r);
        })
    }
    .expect("write csv");
    if with_report {
        black_box(acc.finish(source).expect("report"));
    }
    rows
}

fn bench(c: &mut Criterion) {
    let n = samples();
    let dir = synthetic::run_dir("report", n, PROCESSES, THREADS);
    let csv = std::env::temp_dir().join(format!("barrage-bench-report-{}.csv", std::process::id()));
    // One full report (files included) first, so its cost is visible once and the
    // output can be looked at.
    let t = std::time::Instant::now();
    let files = rundir::open_run(std::slice::from_ref(&dir)).expect("open run");
    let (mut acc, source) = for_run(&files, ReportOptions::default());
    let mut m = Merger::new(&files).expect("merger");
    while let Some((r, _)) = m.next_record().expect("read") {
        acc.add_record(&r);
    }
    let report = acc.finish(source).expect("report");
    let pass = t.elapsed();
    let out = dir.join("report");
    write_files(&report, &out).expect("write report files");
    eprintln!(
        "report of {n} samples: pass {:.2?} ({:.1} M samples/s), files {:.2?}, in {}",
        pass,
        n as f64 / pass.as_secs_f64() / 1e6,
        t.elapsed() - pass,
        out.display()
    );

    let mut g = c.benchmark_group("report");
    g.throughput(Throughput::Elements(n));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(n / 1_000_000 + 5));
    g.bench_function("report", |b| b.iter(|| report_pass(&dir)));
    g.bench_function("csv+report", |b| b.iter(|| csv_pass(&dir, &csv, true)));
    g.bench_function("csv", |b| b.iter(|| csv_pass(&dir, &csv, false)));
    g.finish();
    let _ = std::fs::remove_file(&csv);
}

criterion_group!(benches, bench);
criterion_main!(benches);
