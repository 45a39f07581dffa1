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
//! The run directory is generated once per sample count under the temp dir
//! (`barrage-bench-report-<n>/`, 32 bytes a sample) and reused by later runs, so
//! `barrage report` can be timed on it too (see docs/performance.md). results.csv
//! goes to a file in the temp dir, overwritten each iteration. The goal: at least 10
//! million samples/s on one core for each.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use barrage::merge::{self, CsvOptions, Merger};
use barrage::report::source::for_run;
use barrage::report::{ReportOptions, write_files};
use barrage::sample::{
    CHUNK_RECORDS, ClockState, FLAG_NEW_CONN, Header, ProcessStats, Record, SampleLog, dur16,
    dur32, file_name,
};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

const PROCESSES: u32 = 2;
const THREADS: usize = 4;

fn samples() -> u64 {
    std::env::var("BARRAGE_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

/// splitmix64: deterministic, dependency-free jitter.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// One worker thread's completions, rising by a jittered gap (mean ~8 us: 125k
/// requests/s per thread, 1M/s for the run, so 100M samples span 100 s), with a
/// long-tailed latency, a few 4xx/5xx and 0.1% failures.
struct Thread {
    rng: Rng,
    end_ns: u64,
    n: u64,
}

impl Thread {
    fn next(&mut self) -> Record {
        let r = self.rng.next();
        self.end_ns += 1_000 + r % 14_000;
        self.n += 1;
        let new_conn = self.n.is_multiple_of(10_000);
        // 50 us .. ~50 ms, log-spread.
        let service = 50_000u64 << ((r >> 20) % 11);
        let service = service + (r >> 32) % service;
        let (status, error) = match (r >> 44) % 1000 {
            0 => (0, 9), // timeout
            1 => (503, 0),
            2..=4 => (404, 0),
            _ => (200, 0),
        };
        Record {
            end_ns: self.end_ns,
            service: dur32::encode(service),
            lag: 0,
            ttfb: dur16::encode(service / 2),
            connect: if new_conn { dur16::encode(45_000) } else { 0 },
            tls: 0,
            status,
            bytes: 850,
            target: 0,
            error,
            flags: if new_conn { FLAG_NEW_CONN } else { 0 },
        }
    }
}

/// The synthetic run directory for `n` samples, generated if missing.
fn run_dir(n: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("barrage-bench-report-{n}"));
    let done = dir.join("complete");
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create bench run dir");
    let per_file = n / PROCESSES as u64;
    for p in 0..PROCESSES {
        let header = Header {
            chunk_records: CHUNK_RECORDS as u32,
            process_index: p,
            process_count: PROCESSES,
            wall_start_ns: 1_700_000_000_000_000_000,
            shard_count: 1,
            host_id: "bench".into(),
            run_id: "bench-report".into(),
            ..Default::default()
        };
        let log = SampleLog::create(&dir.join(file_name(p)), &header).expect("create log");
        let mut writers: Vec<_> = (0..THREADS).map(|_| log.writer()).collect();
        let mut threads: Vec<Thread> = (0..THREADS)
            .map(|t| Thread {
                rng: Rng(0x1234 + (p as u64) * 97 + t as u64),
                end_ns: 0,
                n: 0,
            })
            .collect();
        // Interleave the threads in time, as real ones would fill their chunks.
        let count = if p + 1 == PROCESSES {
            n - per_file * (PROCESSES as u64 - 1)
        } else {
            per_file
        };
        for i in 0..count {
            let t = (0..THREADS)
                .min_by_key(|t| threads[*t].end_ns)
                .unwrap_or((i % THREADS as u64) as usize);
            let rec = threads[t].next();
            writers[t].push(&rec).expect("push");
        }
        drop(writers);
        log.finish(
            &ProcessStats {
                connects: 64,
                ..Default::default()
            },
            &[0; 3],
            &ClockState::default(),
            header.wall_start_ns + 1,
        )
        .expect("finish log");
    }
    std::fs::write(&done, b"").expect("mark complete");
    dir
}

fn report_pass(dir: &Path) -> u64 {
    let files = merge::open_run(&[dir.to_path_buf()]).expect("open run");
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
    let files = merge::open_run(&[dir.to_path_buf()]).expect("open run");
    let (mut acc, source) = for_run(&files, ReportOptions::default());
    let rows = if with_report {
        merge::write_csv(&files, out, &CsvOptions::default(), |r, _| {
            acc.add_record(r)
        })
    } else {
        merge::write_csv(&files, out, &CsvOptions::default(), |r, _| {
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
    let dir = run_dir(n);
    let csv = std::env::temp_dir().join(format!("barrage-bench-report-{}.csv", std::process::id()));
    // One full report (files included) first, so its cost is visible once and the
    // output can be looked at.
    let t = std::time::Instant::now();
    let files = merge::open_run(std::slice::from_ref(&dir)).expect("open run");
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
