//! results.csv: its optional columns, one record formatted as one row, and the file
//! written from a merge of sample files (the summary is fed in the same pass).
//!
//! Rows are formatted into one buffer with integer arithmetic only (no float
//! formatting): this runs once per request of the run.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::record::merge::{MergeError, Merger};
use crate::record::{FLAG_NEW_CONN, FLAG_TLS_RESUMED, HDR_UNCORRECTED, Record, SampleFile, dur16};

/// How results.csv is written.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Decimals of the two time columns (6 by default; 3 is the seed's format).
    pub precision: u32,
    /// Report service time even for scheduled (open-loop) requests.
    pub uncorrected: bool,
    /// Extra columns after the seed's three (see [`Column`]).
    pub columns: Vec<Column>,
    /// Write a header line naming the columns.
    pub header: bool,
    /// A scenario run's step names, by the records' `target` (the `step` column;
    /// `rundir::step_names`). Empty for other runs.
    pub steps: std::sync::Arc<[String]>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            precision: 6,
            uncorrected: false,
            columns: Vec::new(),
            header: false,
            steps: std::sync::Arc::from(Vec::new()),
        }
    }
}

/// Optional extra columns of results.csv, named as in `--columns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Start,
    Intended,
    Connect,
    Tls,
    Ttfb,
    Bytes,
    Error,
    Target,
    NewConn,
    Resumed,
    Process,
    Host,
    /// The status line a request saw before it failed without a complete response
    /// (its `status` is 0); empty for every other request.
    PartialStatus,
    /// A scenario run's step (`scenario.step`); empty in other runs. Not part of
    /// `all` (which keeps the columns older runs were merged with), but added to it
    /// for scenario runs ([`Column::parse_list_for`]).
    Step,
}

impl Column {
    pub const ALL: [(&'static str, Column); 13] = [
        ("start", Column::Start),
        ("intended", Column::Intended),
        ("connect", Column::Connect),
        ("tls", Column::Tls),
        ("ttfb", Column::Ttfb),
        ("bytes", Column::Bytes),
        ("error", Column::Error),
        ("target", Column::Target),
        ("new_conn", Column::NewConn),
        ("resumed", Column::Resumed),
        ("process", Column::Process),
        ("host", Column::Host),
        // Last, so the columns `all` had before keep their places.
        ("partial_status", Column::PartialStatus),
    ];

    pub fn parse_list(s: &str) -> Result<Vec<Column>, String> {
        Column::parse_list_for(s, false)
    }

    /// [`Column::parse_list`] for a run that is a scenario run or not: `all` then
    /// ends with `step`.
    pub fn parse_list_for(s: &str, scenario: bool) -> Result<Vec<Column>, String> {
        if s == "all" {
            let mut all: Vec<Column> = Column::ALL.iter().map(|(_, c)| *c).collect();
            if scenario {
                all.push(Column::Step);
            }
            return Ok(all);
        }
        s.split(',')
            .map(|name| {
                let name = name.trim();
                if name == "step" {
                    return Ok(Column::Step);
                }
                Column::ALL
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, c)| *c)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Column::ALL.iter().map(|(n, _)| *n).collect();
                        format!(
                            "unknown column {name:?}: choose from {},step or all",
                            names.join(",")
                        )
                    })
            })
            .collect()
    }

    pub fn name(self) -> &'static str {
        if self == Column::Step {
            return "step";
        }
        Column::ALL
            .iter()
            .find(|(_, c)| *c == self)
            .map(|(n, _)| *n)
            .expect("listed")
    }
}

/// Appends `ns` as seconds with `decimals` (0 to 9) places, rounded to nearest.
#[inline]
pub fn push_seconds(out: &mut Vec<u8>, ns: u64, decimals: u32) {
    // One instance per precision, so every division is by a constant (a multiply):
    // this runs twice per results.csv row.
    match decimals {
        0 => push_seconds_fixed::<0>(out, ns),
        1 => push_seconds_fixed::<1>(out, ns),
        2 => push_seconds_fixed::<2>(out, ns),
        3 => push_seconds_fixed::<3>(out, ns),
        4 => push_seconds_fixed::<4>(out, ns),
        5 => push_seconds_fixed::<5>(out, ns),
        6 => push_seconds_fixed::<6>(out, ns),
        7 => push_seconds_fixed::<7>(out, ns),
        8 => push_seconds_fixed::<8>(out, ns),
        9 => push_seconds_fixed::<9>(out, ns),
        d => panic!("{d} decimals: at most 9 (nanoseconds)"),
    }
}

#[inline(always)]
fn push_seconds_fixed<const D: u32>(out: &mut Vec<u8>, ns: u64) {
    let unit = 10u64.pow(9 - D);
    // Saturating: a damaged file's end time can be anything up to u64::MAX.
    let q = ns.saturating_add(unit / 2) / unit;
    let scale = 10u64.pow(D);
    let mut ib = itoa::Buffer::new();
    out.extend_from_slice(ib.format(q / scale).as_bytes());
    if D > 0 {
        // '.' and exactly D digits, zero-padded, written right to left.
        let mut frac = q % scale;
        let mut buf = [b'.'; 10];
        for b in buf[1..=D as usize].iter_mut().rev() {
            *b = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        out.extend_from_slice(&buf[..=D as usize]);
    }
}

/// Formats one record as a CSV line (with newline) into `line`.
#[inline]
pub fn format_row(line: &mut Vec<u8>, rec: &Record, file: &SampleFile, opts: &CsvOptions) {
    let p = opts.precision;
    push_seconds(line, rec.end_ns, p);
    line.push(b',');
    push_seconds(line, rec.latency_ns(!opts.uncorrected), p);
    line.push(b',');
    let mut ib = itoa::Buffer::new();
    line.extend_from_slice(ib.format(rec.reported_status()).as_bytes());
    for col in &opts.columns {
        line.push(b',');
        match col {
            Column::Start => push_seconds(line, rec.end_ns.saturating_sub(rec.service_ns()), 9),
            // The intended start is where the corrected latency counts from.
            Column::Intended => {
                push_seconds(line, rec.end_ns.saturating_sub(rec.latency_ns(true)), 9)
            }
            Column::Connect => push_opt_seconds(
                line,
                rec.flags & FLAG_NEW_CONN != 0,
                dur16::decode(rec.connect),
            ),
            Column::Tls => push_opt_seconds(
                line,
                rec.flags & FLAG_NEW_CONN != 0 && rec.tls != 0,
                dur16::decode(rec.tls),
            ),
            Column::Ttfb => push_opt_seconds(line, rec.ttfb != 0, dur16::decode(rec.ttfb)),
            Column::Bytes => line.extend_from_slice(ib.format(rec.bytes).as_bytes()),
            Column::Error => {
                if rec.is_error() {
                    line.extend_from_slice(rec.error_kind().name().as_bytes());
                }
            }
            Column::Target => line.extend_from_slice(ib.format(rec.target).as_bytes()),
            Column::NewConn => line.push(if rec.flags & FLAG_NEW_CONN != 0 {
                b'1'
            } else {
                b'0'
            }),
            Column::Resumed => line.push(if rec.flags & FLAG_TLS_RESUMED != 0 {
                b'1'
            } else {
                b'0'
            }),
            Column::Process => {
                line.extend_from_slice(ib.format(file.header.process_index).as_bytes())
            }
            Column::Host => line.extend_from_slice(file.header.host_id.as_bytes()),
            Column::PartialStatus => {
                if let Some(s) = rec.partial_status() {
                    line.extend_from_slice(ib.format(s).as_bytes());
                }
            }
            Column::Step => {
                if let Some(name) = opts.steps.get(rec.target as usize) {
                    line.extend_from_slice(name.as_bytes());
                }
            }
        }
    }
    line.push(b'\n');
}

fn push_opt_seconds(line: &mut Vec<u8>, present: bool, ns: u64) {
    if present {
        push_seconds(line, ns, 9);
    }
}

/// The run was recorded with `--latency-uncorrected` (its header flag): results.csv
/// and reports then give service time for scheduled requests too, whatever a later
/// `barrage merge` or `report` is asked.
pub fn recorded_uncorrected(files: &[SampleFile]) -> bool {
    files.iter().any(|f| f.header.flags & HDR_UNCORRECTED != 0)
}

/// Writes `results.csv` from `files`, handing every record to `visit` as well (the
/// summary is built in the same pass). Returns the number of rows.
pub fn write_csv(
    files: &[SampleFile],
    out: &Path,
    opts: &CsvOptions,
    mut visit: impl FnMut(&Record, &SampleFile),
) -> Result<u64, MergeError> {
    let werr = |source| MergeError::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut file = File::create(out).map_err(werr)?;
    // Rows are formatted straight into one output buffer (no per-row copy), written
    // out whenever it passes this size.
    const FLUSH_AT: usize = 1 << 20;
    let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
    if opts.header {
        buf.extend_from_slice(b"elapsed,response_time,status");
        for c in &opts.columns {
            buf.push(b',');
            buf.extend_from_slice(c.name().as_bytes());
        }
        buf.push(b'\n');
    }
    // A run recorded with --latency-uncorrected stays uncorrected when merged again.
    let uncorrected = CsvOptions {
        uncorrected: opts.uncorrected || recorded_uncorrected(files),
        ..opts.clone()
    };
    let opts = &uncorrected;
    let mut merger = Merger::new(files)?;
    let mut rows = 0u64;
    while let Some((rec, fi)) = merger.next_record()? {
        // A scenario iteration is reported, but is no request: no row.
        if rec.is_iteration() {
            visit(&rec, &files[fi]);
            continue;
        }
        format_row(&mut buf, &rec, &files[fi], opts);
        visit(&rec, &files[fi]);
        rows += 1;
        if buf.len() >= FLUSH_AT {
            file.write_all(&buf).map_err(werr)?;
            buf.clear();
        }
    }
    file.write_all(&buf).map_err(werr)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Header;
    use crate::record::rundir::open_run;
    use crate::record::testing::{RunDir, valid};

    #[test]
    fn seconds_formatting() {
        let cases = [
            (0u64, 6, "0.000000"),
            (1, 6, "0.000000"),
            (500, 6, "0.000001"),
            (1_234_567_890, 6, "1.234568"),
            (1_234_567_890, 3, "1.235"),
            (999_999_999, 3, "1.000"),
            (12_000_000_000, 0, "12"),
            (5, 9, "0.000000005"),
        ];
        for (ns, d, want) in cases {
            let mut v = Vec::new();
            push_seconds(&mut v, ns, d);
            assert_eq!(String::from_utf8(v).unwrap(), want, "{ns} ns at {d}");
        }
    }

    /// The per-precision fast path against plain arithmetic, at every precision.
    #[test]
    fn push_seconds_matches_reference_at_every_precision() {
        let mut ns = 1u64;
        let mut values = vec![0u64, 499, 500, 999_999_999, 1_000_000_000, u64::MAX];
        while ns < u64::MAX / 7 {
            values.extend([ns, ns * 3 + 1, ns * 7 - 1]);
            ns *= 10;
        }
        for d in 0..=9u32 {
            for &ns in &values {
                let unit = 10u128.pow(9 - d);
                let q = ((ns as u128 + unit / 2) / unit).min(u64::MAX as u128 / unit);
                let scale = 10u128.pow(d);
                let want = if d == 0 {
                    format!("{q}")
                } else {
                    format!("{}.{:0w$}", q / scale, q % scale, w = d as usize)
                };
                let mut v = Vec::new();
                push_seconds(&mut v, ns, d);
                assert_eq!(String::from_utf8(v).unwrap(), want, "{ns} ns at {d}");
            }
        }
    }

    /// Regression: rounding overflowed (a panic in debug builds, a wrapped "0.000"
    /// in release) for end times near u64::MAX, which a damaged file can hold.
    #[test]
    fn push_seconds_saturates_at_u64_max() {
        for d in 0..=9 {
            let mut v = Vec::new();
            push_seconds(&mut v, u64::MAX, d);
            assert!(
                v.starts_with(b"18446744073"),
                "{d}: {:?}",
                String::from_utf8(v)
            );
        }
        let mut v = Vec::new();
        push_seconds(&mut v, u64::MAX, 9);
        assert_eq!(v, b"18446744073.709551615");
    }

    /// Issue 12 item 2: a record that kept the status line of a response cut short
    /// (how every sample file holds it) is written with status 0, and the status it
    /// saw goes to `partial_status`; a failed check keeps its status there.
    #[test]
    fn failed_requests_are_written_with_status_0() {
        use crate::record::ErrorKind;
        let run = RunDir::new("partial-status");
        let header = Header {
            chunk_records: 8,
            ..Default::default()
        };
        let failed = |end_ns, status, error: ErrorKind| Record {
            status,
            error: error as u8,
            ..valid(end_ns)
        };
        run.write(
            0,
            header,
            &[
                valid(1_000_000_000),
                failed(2_000_000_000, 200, ErrorKind::EofMidResponse),
                failed(3_000_000_000, 0, ErrorKind::ConnectRefused),
                failed(4_000_000_000, 404, ErrorKind::UnexpectedStatus),
            ],
        );
        let files = open_run(std::slice::from_ref(&run.0)).unwrap();
        let out = run.0.join("results.csv");
        let opts = CsvOptions {
            precision: 0,
            columns: Column::parse_list("error,partial_status").unwrap(),
            ..Default::default()
        };
        write_csv(&files, &out, &opts, |_, _| {}).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "1,0,200,,\n\
             2,0,0,closed mid-response,200\n\
             3,0,0,connect refused,\n\
             4,0,404,unexpected status,\n"
        );
    }

    #[test]
    fn column_lists() {
        assert_eq!(
            Column::parse_list("connect,tls").unwrap(),
            vec![Column::Connect, Column::Tls]
        );
        assert_eq!(Column::parse_list("all").unwrap().len(), Column::ALL.len());
        assert!(
            Column::parse_list("bogus")
                .unwrap_err()
                .contains("unknown column \"bogus\"")
        );
    }
}
