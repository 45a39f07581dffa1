//! The synthetic run directory the merge and report benches read: `processes` sample
//! files written through barrage's own `SampleLog`, each with `threads` writers
//! interleaved in completion time as real loops fill their chunks. Every thread
//! completes a request every ~8 µs on average (1,000 + up to 14,000 ns), with a
//! long-tailed latency (50 µs to ~100 ms), a new connection every 10,000 requests,
//! a few 404/503 and 0.1% timeouts. Deterministic (splitmix64 per thread).
//!
//! Generated once per (name, sample count) under the temp dir and reused: a file
//! named `complete` marks a finished directory.

use std::path::PathBuf;

use barrage::record::rundir::file_name;
use barrage::record::{
    CHUNK_RECORDS, ClockState, FLAG_NEW_CONN, Header, ProcessStats, Record, SampleLog, dur16, dur32,
};

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

/// One worker thread's completions.
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

/// `<temp>/barrage-bench-<name>-<n>/` holding `n` samples, generated if missing.
pub fn run_dir(name: &str, n: u64, processes: u32, threads: usize) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("barrage-bench-{name}-{n}"));
    let done = dir.join("complete");
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create bench run dir");
    let per_file = n / processes as u64;
    for p in 0..processes {
        let header = Header {
            chunk_records: CHUNK_RECORDS as u32,
            process_index: p,
            process_count: processes,
            wall_start_ns: 1_700_000_000_000_000_000,
            shard_count: 1,
            host_id: "bench".into(),
            run_id: format!("bench-{name}"),
            ..Default::default()
        };
        let log = SampleLog::create(&dir.join(file_name(p)), &header).expect("create log");
        let mut writers: Vec<_> = (0..threads).map(|_| log.writer()).collect();
        let mut loops: Vec<Thread> = (0..threads)
            .map(|t| Thread {
                rng: Rng(0x1234 + (p as u64) * 97 + t as u64),
                end_ns: 0,
                n: 0,
            })
            .collect();
        let count = if p + 1 == processes {
            n - per_file * (processes as u64 - 1)
        } else {
            per_file
        };
        // Push in completion order across the threads, so their chunks interleave
        // in the file as real ones do.
        for _ in 0..count {
            let t = (0..threads)
                .min_by_key(|&t| loops[t].end_ns)
                .expect("at least one thread");
            let rec = loops[t].next();
            writers[t].push(&rec).expect("push");
        }
        drop(writers);
        log.finish(
            &ProcessStats {
                connects: 64,
                ..Default::default()
            },
            &[0; 3],
            &[],
            &ClockState::default(),
            header.wall_start_ns + 1,
        )
        .expect("finish log");
    }
    std::fs::write(&done, b"").expect("mark complete");
    dir
}
