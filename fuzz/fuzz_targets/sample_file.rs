//! Fuzzes reading a sample file: the input is written as `samples-000.bin` in a
//! scratch run directory, then opened with `rundir::open_run` and merged to the end,
//! every record formatted with every CSV column; `Header::decode` runs on it directly.
//!
//! Checked: no panic, no unbounded allocation (libFuzzer's -rss_limit_mb and
//! -malloc_limit_mb), merged records are valid and in completion order, there are no
//! more of them than the file has slots, and `write_csv` agrees on the row count.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use barrage::record::{Column, CsvOptions, Merger, csv, rundir};
use barrage::record::{HEADER_SIZE, Header, RECORD_SIZE};
use libfuzzer_sys::fuzz_target;

/// One scratch directory per fuzzing process, reused for every input.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("barrage-fuzz-sample-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = Header::decode(data);

    let dir = scratch();
    std::fs::write(dir.join("samples-000.bin"), data).expect("write scratch file");
    let Ok(files) = rundir::open_run(std::slice::from_ref(dir)) else {
        return;
    };
    assert_eq!(files.len(), 1);
    let max_slots = (data.len().saturating_sub(HEADER_SIZE) / RECORD_SIZE) as u64;
    assert!(
        files[0].slots() <= max_slots,
        "more slots than the file holds"
    );

    let opts = CsvOptions {
        // 0..=9 decimals, whatever the input.
        precision: (data.len() % 10) as u32,
        uncorrected: data.len().is_multiple_of(3),
        columns: Column::ALL.iter().map(|(_, c)| *c).collect(),
        header: true,
    };
    let mut rows = 0u64;
    let mut clean = false;
    if let Ok(mut merger) = Merger::new(&files) {
        let mut line = Vec::new();
        let mut last = 0u64;
        loop {
            let (rec, fi) = match merger.next_record() {
                Ok(Some(next)) => next,
                Ok(None) => {
                    clean = true;
                    break;
                }
                Err(_) => break,
            };
            assert!(rec.is_valid());
            assert!(
                rec.end_ns >= last,
                "out of order: {} after {last}",
                rec.end_ns
            );
            last = rec.end_ns;
            line.clear();
            csv::format_row(&mut line, &rec, &files[fi], &opts);
            assert_eq!(line.last(), Some(&b'\n'));
            rows += 1;
            assert!(rows <= max_slots, "more records than slots");
        }
    }

    // The same file through write_csv: same rows, or an error where the merger failed.
    let csv = csv::write_csv(&files, std::path::Path::new("/dev/null"), &opts, |_, _| {});
    match csv {
        Ok(n) => assert!(
            clean && n == rows,
            "write_csv: {n} rows, merger: {rows} ({clean})"
        ),
        Err(e) => assert!(!clean, "write_csv failed where the merger did not: {e}"),
    }
});
