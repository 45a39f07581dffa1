//! Per-request costs on the load path: framing a response, encoding and appending its
//! sample, and formatting its results.csv row.
//!
//!     cargo bench --bench hot_path
//!     cargo bench --bench hot_path -- http     # one group
//!
//! Short runs (10 samples, about 1 s each) keep the whole file near half a minute.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use barrage::record::rundir::file_name;
use barrage::record::{
    CHUNK_RECORDS, ClockState, ErrorKind, FLAG_NEW_CONN, FLAG_VALID, Header, ProcessStats, Record,
    SampleFile, SampleLog, dur16, dur32,
};
use barrage::record::{Column, CsvOptions, csv};
use barrage::wire::http::{Feed, ResponseParser};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// What nginx sends for its default index page (612-byte body).
fn nginx_response() -> Vec<u8> {
    let body = "x".repeat(612);
    format!(
        "HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Sat, 28 Nov 2026 08:00:00 GMT\r\n\
         Content-Type: text/html\r\nContent-Length: {}\r\nLast-Modified: Tue, 11 Apr 2023 \
         01:45:34 GMT\r\nConnection: keep-alive\r\nETag: \"6434bbbe-264\"\r\n\
         Accept-Ranges: bytes\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A chunked response of the same size in three chunks, with a trailer.
fn chunked_response() -> Vec<u8> {
    let mut r = b"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Sat, 28 Nov 2026 08:00:00 GMT\r\n\
        Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
        .to_vec();
    for n in [200usize, 300, 112] {
        r.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        r.extend(std::iter::repeat_n(b'y', n));
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\nX-Checksum: 1234\r\n\r\n");
    r
}

/// Feeds `pieces` of one response to a reused parser; panics unless it completes.
#[inline]
fn frame(p: &mut ResponseParser, pieces: &[&[u8]]) -> u64 {
    let (last, first) = pieces.split_last().expect("a piece");
    for piece in first {
        assert_eq!(p.feed(piece), Ok(Feed::Partial));
    }
    match p.feed(last) {
        Ok(Feed::Complete { consumed, response }) => {
            debug_assert_eq!(consumed, last.len());
            response.bytes
        }
        other => panic!("did not complete: {other:?}"),
    }
}

fn http(c: &mut Criterion) {
    let cl = nginx_response();
    let chunked = chunked_response();
    // Split inside the head: the worst case, where the parser carries head bytes.
    let (split_a, split_b) = cl.split_at(60);
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(1));
    let mut p = ResponseParser::new(false);
    g.bench_function("content_length", |b| {
        b.iter(|| frame(&mut p, &[black_box(&cl)]))
    });
    g.bench_function("chunked", |b| {
        b.iter(|| frame(&mut p, &[black_box(&chunked)]))
    });
    g.bench_function("content_length_two_reads", |b| {
        b.iter(|| frame(&mut p, &[black_box(split_a), black_box(split_b)]))
    });
    g.finish();
}

fn typical_record(i: u64) -> Record {
    Record {
        end_ns: 1_000_000_000 + i * 10_000,
        service: dur32::encode(180_000 + (i % 97) * 1_000),
        lag: 0,
        ttfb: dur16::encode(150_000),
        connect: if i.is_multiple_of(1000) {
            dur16::encode(40_000)
        } else {
            0
        },
        tls: 0,
        status: 200,
        bytes: 850,
        target: 0,
        error: ErrorKind::None as u8,
        flags: if i.is_multiple_of(1000) {
            FLAG_NEW_CONN
        } else {
            0
        },
    }
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("barrage-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn header() -> Header {
    Header {
        chunk_records: CHUNK_RECORDS as u32,
        process_count: 1,
        host_id: "bench".into(),
        run_id: "bench-run".into(),
        ..Default::default()
    }
}

fn sample(c: &mut Criterion) {
    let mut g = c.benchmark_group("sample");
    g.throughput(Throughput::Elements(1));
    let rec = typical_record(7);
    g.bench_function("record_encode", |b| b.iter(|| black_box(&rec).encode()));

    // Appends into a real mapped log. Each measured batch gets a fresh file, deleted
    // afterwards, so the disk use stays at one batch (the page faults and file growth
    // of a real run are included; creating the log is not).
    let scratch = Scratch::new("push");
    let mut batch = 0u32;
    g.bench_function("chunk_writer_push", |b| {
        b.iter_custom(|iters| {
            let path = scratch.0.join(file_name(batch));
            batch += 1;
            let log: Arc<SampleLog> = SampleLog::create(&path, &header()).expect("create log");
            let mut w = log.writer();
            let mut r = rec;
            let start = Instant::now();
            for i in 0..iters {
                r.end_ns = i;
                w.push(black_box(&r)).expect("push");
            }
            let elapsed = start.elapsed();
            drop(w);
            drop(log);
            let _ = std::fs::remove_file(&path);
            elapsed
        })
    });
    g.finish();
}

fn csv(c: &mut Criterion) {
    // format_row wants the record's file (for the process and host columns).
    let scratch = Scratch::new("csv");
    let path = scratch.0.join(file_name(0));
    let log = SampleLog::create(&path, &header()).expect("create log");
    let mut w = log.writer();
    w.push(&typical_record(1)).expect("push");
    drop(w);
    log.finish(
        &ProcessStats::default(),
        &[0; 3],
        &[],
        &ClockState::default(),
        1,
    )
    .expect("finish");
    let file = SampleFile::open(&path).expect("open");
    let rec = Record {
        flags: FLAG_VALID | FLAG_NEW_CONN,
        ..typical_record(1000)
    };

    let mut g = c.benchmark_group("csv");
    g.throughput(Throughput::Elements(1));
    let mut line = Vec::with_capacity(256);
    g.bench_function("push_seconds", |b| {
        b.iter(|| {
            line.clear();
            csv::push_seconds(&mut line, black_box(rec.end_ns), 6);
            line.len()
        })
    });
    let default = CsvOptions::default();
    g.bench_function("format_row_default", |b| {
        b.iter(|| {
            line.clear();
            csv::format_row(&mut line, black_box(&rec), &file, &default);
            line.len()
        })
    });
    let all = CsvOptions {
        columns: Column::ALL.iter().map(|(_, c)| *c).collect(),
        ..CsvOptions::default()
    };
    g.bench_function("format_row_all_columns", |b| {
        b.iter(|| {
            line.clear();
            csv::format_row(&mut line, black_box(&rec), &file, &all);
            line.len()
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = http, sample, csv
}
criterion_main!(benches);
