//! Merge throughput: a synthetic run directory (2 processes x 2 threads, 10 million
//! samples by default) merged into results.csv, and a plain `Merger` pass.
//!
//!     cargo bench --bench merge
//!     BARRAGE_BENCH_RECORDS=1000000 cargo bench --bench merge   # a quicker run
//!
//! The run directory is generated once per record count under the temp dir
//! (`barrage-bench-merge-v1-<n>/`, 32 bytes a sample) and reused by later runs; the CSV
//! goes to a file in the temp dir, overwritten each iteration. The project's goal is
//! at least 10 million samples/s on one core for merge-to-CSV.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use barrage::merge::{self, Column, CsvOptions, Merger};
use barrage::sample::{
    CHUNK_RECORDS, ClockState, FLAG_NEW_CONN, Header, ProcessStats, Record, SampleLog, dur16,
    dur32, file_name,
};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

const PROCESSES: u32 = 2;
const THREADS: usize = 2;

fn records() -> u64 {
    std::env::var("BARRAGE_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

/// xorshift64*: deterministic, dependency-free jitter.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// One worker thread's completions: each connection's requests finish one after
/// another, so end times rise by a jittered gap (mean 24 us: 42k requests/s per
/// thread, about what one core sustains against a fast local server).
struct Thread {
    rng: Rng,
    end_ns: u64,
    n: u64,
}

impl Thread {
    fn next(&mut self) -> Record {
        let r = self.rng.next();
        self.end_ns += 4_000 + r % 40_000;
        self.n += 1;
        let new_conn = self.n % 10_000 == 1;
        let service = 80_000 + (r >> 20) % 2_000_000;
        let status = match (r >> 40) % 1000 {
            0 => 503,
            1..=4 => 404,
            _ => 200,
        };
        Record {
            end_ns: self.end_ns,
            service: dur32::encode(service),
            lag: 0,
            ttfb: dur16::encode(service - 20_000),
            connect: if new_conn { dur16::encode(45_000) } else { 0 },
            tls: 0,
            status,
            bytes: 850,
            target: 0,
            error: 0,
            flags: if new_conn { FLAG_NEW_CONN } else { 0 },
        }
    }
}

/// Writes the run directory for `total` samples unless a complete one is there.
fn run_dir(total: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("barrage-bench-merge-v1-{total}"));
    let done = dir.join("complete");
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("run dir");
    let per_process = total / PROCESSES as u64;
    for p in 0..PROCESSES {
        let header = Header {
            chunk_records: CHUNK_RECORDS as u32,
            process_index: p,
            process_count: PROCESSES,
            wall_start_ns: 1_800_000_000_000_000_000,
            host_id: "bench-host".into(),
            run_id: "bench-run".into(),
            ..Default::default()
        };
        let log = SampleLog::create(&dir.join(file_name(p)), &header).expect("create log");
        let mut writers: Vec<_> = (0..THREADS).map(|_| log.writer()).collect();
        let mut threads: Vec<Thread> = (0..THREADS)
            .map(|t| Thread {
                rng: Rng(0x9E37_79B9_7F4A_7C15 ^ (((p as u64) << 32) | (t as u64 + 1))),
                end_ns: 0,
                n: 0,
            })
            .collect();
        let mut next: Vec<Record> = threads.iter_mut().map(Thread::next).collect();
        // Push in global completion order, as the threads would have, so the
        // threads' chunks interleave in the file.
        for _ in 0..per_process {
            let t = (0..THREADS)
                .min_by_key(|&t| next[t].end_ns)
                .expect("threads");
            writers[t].push(&next[t]).expect("push");
            next[t] = threads[t].next();
        }
        drop(writers);
        log.finish(&ProcessStats::default(), &[0; 3], &ClockState::default(), 1)
            .expect("finish");
    }
    std::fs::write(&done, b"").expect("marker");
    dir
}

fn merge_bench(c: &mut Criterion) {
    let total = records() / PROCESSES as u64 * PROCESSES as u64;
    let dir = run_dir(total);
    let files = merge::open_run(std::slice::from_ref(&dir)).expect("open run");
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
                let rows = merge::write_csv(&files, &out, &opts, |r, _| {
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
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: plain syscall writing into a timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Best of three passes by CPU time, printed before criterion's wall-clock figures:
/// what one core achieves, even on a busy machine.
fn cpu_time_report(files: &[barrage::sample::SampleFile], out: &Path, total: u64) {
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
        merge::write_csv(files, out, &CsvOptions::default(), |r, _| {
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
