//! Merge throughput: a synthetic run directory (2 processes x 2 threads, 10 million
//! samples by default) merged into results.csv, and a plain `Merger` pass.
//!
//!     cargo bench --bench merge
//!     BARRAGE_BENCH_RECORDS=1000000 cargo bench --bench merge   # a quicker run
//!
//! The run directory (`benches/synthetic/`) is generated once per record count under
//! the temp dir (`barrage-bench-merge-<n>/`, 32 bytes a sample) and reused; the CSV
//! goes to a file in the temp dir, overwritten each iteration. The project's goal is
//! at least 10 million samples/s on one core for merge-to-CSV.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use barrage::record::{Column, CsvOptions, Merger, csv, rundir};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

mod synthetic;

const PROCESSES: u32 = 2;
const THREADS: usize = 2;

fn records() -> u64 {
    std::env::var("BARRAGE_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

fn merge_bench(c: &mut Criterion) {
    let total = records() / PROCESSES as u64 * PROCESSES as u64;
    let dir = synthetic::run_dir("merge", total, PROCESSES, THREADS);
    let files = rundir::open_run(std::slice::from_ref(&dir)).expect("open run");
    let out: PathBuf =
        std::env::temp_dir().join(format!("barrage-bench-results-{}.csv", std::process::id()));

    cpu_time_report(&files, &out, total);

    let mut g = c.benchmark_group("merge");
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(total));
    g.bench_function("merger_pass", |b| {
        b.iter(|| {
            let mut merger = Merger::new(&files).expect("merger");
            let mut n = 0u64;
            while let Some((rec, fi)) = merger.next_record().expect("record") {
                black_box((&rec, fi));
                n += 1;
            }
            assert_eq!(n, total);
        })
    });
    let csv = |name: &str, opts: CsvOptions, g: &mut criterion::BenchmarkGroup<_>| {
        g.bench_function(name, |b| {
            b.iter(|| {
                let rows = csv::write_csv(&files, &out, &opts, |r, _| {
                    black_box(r);
                })
                .expect("write_csv");
                assert_eq!(rows, total);
            })
        });
    };
    csv("write_csv_default", CsvOptions::default(), &mut g);
    csv(
        "write_csv_all_columns",
        CsvOptions {
            columns: Column::ALL.iter().map(|(_, c)| *c).collect(),
            header: true,
            ..CsvOptions::default()
        },
        &mut g,
    );
    g.finish();
    remove(&out);
}

/// This thread's CPU time (user and system): unlike wall time, not inflated when
/// other work shares the cores.
fn thread_cpu() -> Duration {
    use nix::time::{ClockId, clock_gettime};
    let ts = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).expect("clock_gettime");
    Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32)
}

/// Best of three passes by CPU time, printed before criterion's wall-clock figures:
/// what one core achieves, even on a busy machine.
fn cpu_time_report(files: &[barrage::record::SampleFile], out: &Path, total: u64) {
    let best = |pass: &mut dyn FnMut()| {
        (0..3)
            .map(|_| {
                let t = thread_cpu();
                pass();
                thread_cpu() - t
            })
            .min()
            .expect("passes")
    };
    let merger = best(&mut || {
        let mut merger = Merger::new(files).expect("merger");
        while let Some(r) = merger.next_record().expect("record") {
            black_box(r);
        }
    });
    let csv = best(&mut || {
        csv::write_csv(files, out, &CsvOptions::default(), |r, _| {
            black_box(r);
        })
        .expect("write_csv");
    });
    for (name, t) in [("merger_pass", merger), ("write_csv_default", csv)] {
        eprintln!(
            "merge/{name}: {total} samples in {:.0} ms of thread CPU time = {:.1} M samples/s per core",
            t.as_secs_f64() * 1e3,
            total as f64 / t.as_secs_f64() / 1e6
        );
    }
}

fn remove(p: &Path) {
    let _ = std::fs::remove_file(p);
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = benches;
    config = config();
    targets = merge_bench
}
criterion_main!(benches);
