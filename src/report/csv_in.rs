//! Reading results.csv back: the seed tool's format (`elapsed,response_time,status`,
//! no header, `%.3f` seconds) and barrage's own (any precision, optionally a header
//! line and extra columns). Rows stream into a callback; nothing is kept.
//!
//! A bad line (too few fields, a field that is not a number) is an error naming the
//! file and line, or, with `--skip-bad-lines`, a counted skip. Blank lines are ignored:
//! a trailing newline is not a bad line.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::{ERROR_UNKNOWN, Sample, error_code};
use crate::record::reported_status;

/// Why results.csv could not be read. Each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The file could not be opened.
    #[error("cannot open {path}: {source} (check the path and its permissions)")]
    Open { path: PathBuf, source: io::Error },
    /// A read failed part way.
    #[error("cannot read {path} at line {line}: {source}")]
    Read {
        path: PathBuf,
        line: u64,
        source: io::Error,
    },
    /// The file holds nothing.
    #[error("{path} is empty: it holds no requests to report on")]
    Empty { path: PathBuf },
    /// Every line was bad and skipped, or there was only a header.
    #[error("{path} holds no usable rows ({skipped} bad lines skipped)")]
    NoRows { path: PathBuf, skipped: u64 },
    /// A line could not be parsed.
    #[error(
        "{path}:{line}: {why} (fix or delete the line, or pass --skip-bad-lines to skip such lines)"
    )]
    BadLine {
        path: PathBuf,
        line: u64,
        why: String,
    },
    /// The header line lacks a required column.
    #[error(
        "{path}:1: the header has no {column:?} column (expected elapsed,response_time,status)"
    )]
    BadHeader { path: PathBuf, column: &'static str },
}

/// What reading a results.csv found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsvStats {
    pub rows: u64,
    pub skipped: u64,
    pub header: bool,
}

/// Where each field is, by position.
#[derive(Debug, Clone, Copy)]
struct Layout {
    elapsed: usize,
    response_time: usize,
    status: usize,
    error: Option<usize>,
    bytes: Option<usize>,
    /// Fields a row needs at least.
    needed: usize,
}

impl Layout {
    const SEED: Layout = Layout {
        elapsed: 0,
        response_time: 1,
        status: 2,
        error: None,
        bytes: None,
        needed: 3,
    };

    fn from_header(path: &Path, names: &[&str]) -> Result<Layout, CsvError> {
        let find = |want: &'static str| names.iter().position(|n| n.trim() == want);
        let need = |want: &'static str| {
            find(want).ok_or(CsvError::BadHeader {
                path: path.to_path_buf(),
                column: want,
            })
        };
        let elapsed = need("elapsed")?;
        let response_time = need("response_time")?;
        let status = need("status")?;
        let error = find("error");
        let bytes = find("bytes");
        let needed = 1 + [
            Some(elapsed),
            Some(response_time),
            Some(status),
            error,
            bytes,
        ]
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or(2);
        Ok(Layout {
            elapsed,
            response_time,
            status,
            error,
            bytes,
            needed,
        })
    }
}

/// Reads `path`, handing every row to `visit` as a [`Sample`].
pub fn read(
    path: &Path,
    skip_bad_lines: bool,
    mut visit: impl FnMut(Sample),
) -> Result<CsvStats, CsvError> {
    let file = File::open(path).map_err(|source| CsvError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(256);
    let mut stats = CsvStats::default();
    let mut layout: Option<Layout> = None;
    let mut lineno = 0u64;
    loop {
        line.clear();
        let n = r
            .read_until(b'\n', &mut line)
            .map_err(|source| CsvError::Read {
                path: path.to_path_buf(),
                line: lineno + 1,
                source,
            })?;
        if n == 0 {
            break;
        }
        lineno += 1;
        let text = trim_eol(&line);
        if text.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let fields: Vec<&[u8]> = text.split(|b| *b == b',').collect();
        let lay = match layout {
            Some(l) => l,
            None => {
                // The first line decides: a header names columns, a row starts with a number.
                if parse_seconds(fields[0].trim_ascii()).is_none() {
                    let names: Vec<&str> = fields
                        .iter()
                        .map(|f| std::str::from_utf8(f).unwrap_or(""))
                        .collect();
                    if names.iter().any(|n| n.trim() == "elapsed") {
                        layout = Some(Layout::from_header(path, &names)?);
                        stats.header = true;
                        continue;
                    }
                }
                layout = Some(Layout::SEED);
                Layout::SEED
            }
        };
        match parse_row(&fields, &lay) {
            Ok(s) => {
                stats.rows += 1;
                visit(s);
            }
            Err(_) if skip_bad_lines => stats.skipped += 1,
            Err(why) => {
                return Err(CsvError::BadLine {
                    path: path.to_path_buf(),
                    line: lineno,
                    why,
                });
            }
        }
    }
    if stats.rows == 0 && stats.skipped == 0 && !stats.header {
        return Err(CsvError::Empty {
            path: path.to_path_buf(),
        });
    }
    if stats.rows == 0 {
        return Err(CsvError::NoRows {
            path: path.to_path_buf(),
            skipped: stats.skipped,
        });
    }
    Ok(stats)
}

fn parse_row(fields: &[&[u8]], lay: &Layout) -> Result<Sample, String> {
    if fields.len() < lay.needed {
        return Err(format!(
            "{} field{}, expected at least {} (elapsed,response_time,status): is the line cut short?",
            fields.len(),
            if fields.len() == 1 { "" } else { "s" },
            lay.needed
        ));
    }
    let num = |i: usize, what: &str| {
        let f = fields[i].trim_ascii();
        parse_seconds(f).ok_or_else(|| {
            format!(
                "{what} {:?} is not a number of seconds",
                String::from_utf8_lossy(f)
            )
        })
    };
    let end_ns = num(lay.elapsed, "elapsed")?;
    let latency_ns = num(lay.response_time, "response time")?;
    let sf = fields[lay.status].trim_ascii();
    let status: u16 = std::str::from_utf8(sf)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "status {:?} is not an HTTP status code",
                String::from_utf8_lossy(sf)
            )
        })?;
    let named = lay
        .error
        .map(|i| fields[i].trim_ascii())
        .filter(|f| !f.is_empty())
        .map(|f| error_code(&String::from_utf8_lossy(f)));
    // The seed tool's only failure mark is status 0.
    let error = named.unwrap_or(if status == 0 { ERROR_UNKNOWN } else { 0 });
    // A results.csv written before the status rule kept the status line of a response
    // that then failed (`200` with `closed mid-response`): report it by the same rule
    // as sample files.
    let status = reported_status(status, error);
    let bytes = match lay.bytes {
        Some(i) => {
            let f = fields[i].trim_ascii();
            std::str::from_utf8(f)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or_else(|| format!("bytes {:?} is not a count", String::from_utf8_lossy(f)))?
        }
        None => 0,
    };
    Ok(Sample {
        end_ns,
        latency_ns,
        status,
        error,
        bytes,
        lag_ns: None,
    })
}

fn trim_eol(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// Parses non-negative decimal seconds (`0.562`, `12`, `1.5e-3`) to nanoseconds.
pub fn parse_seconds(f: &[u8]) -> Option<u64> {
    // Fast path: digits[.digits], exact to the nanosecond.
    let (int, frac) = match f.iter().position(|b| *b == b'.') {
        Some(i) => (&f[..i], &f[i + 1..]),
        None => (f, &f[f.len()..]),
    };
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if !int.is_empty() && int.len() <= 10 && digits(int) && digits(frac) {
        let mut ns: u64 = 0;
        for d in int {
            ns = ns * 10 + (d - b'0') as u64;
        }
        ns *= 1_000_000_000;
        let mut scale = 100_000_000u64;
        for d in frac.iter().take(9) {
            ns += (d - b'0') as u64 * scale;
            scale /= 10;
        }
        return Some(ns);
    }
    // Anything else Rust reads as a float (exponents, a leading dot).
    let v: f64 = std::str::from_utf8(f).ok()?.parse().ok()?;
    (v.is_finite() && (0.0..1e10).contains(&v)).then(|| (v * 1e9).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("barrage-csvin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn rows(path: &Path, skip: bool) -> Result<(Vec<Sample>, CsvStats), CsvError> {
        let mut v = Vec::new();
        let st = read(path, skip, |s| v.push(s))?;
        Ok((v, st))
    }

    #[test]
    fn seconds() {
        let cases: [(&str, Option<u64>); 9] = [
            ("0.562", Some(562_000_000)),
            ("12", Some(12_000_000_000)),
            ("0.000000001", Some(1)),
            ("1.1234567891", Some(1_123_456_789)),
            ("1e-3", Some(1_000_000)),
            (".5", Some(500_000_000)),
            ("-1", None),
            ("abc", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_seconds(s.as_bytes()), want, "{s}");
        }
    }

    #[test]
    fn seed_format_loads() {
        let p = write(
            "seed.csv",
            "0.562,0.396,200\r\n0.562,0.319,200\n0.9,1.0,0\n",
        );
        let (v, st) = rows(&p, false).unwrap();
        assert_eq!(st.rows, 3);
        assert!(!st.header);
        assert_eq!(v[0].end_ns, 562_000_000);
        assert_eq!(v[0].latency_ns, 396_000_000);
        assert_eq!(v[2].error, ERROR_UNKNOWN, "status 0 is a failure");
    }

    #[test]
    fn header_with_extra_columns_loads() {
        let p = write(
            "hdr.csv",
            "elapsed,response_time,status,bytes,error\n1.0,0.5,200,100,\n2.0,0.1,0,0,connect refused\n",
        );
        let (v, st) = rows(&p, false).unwrap();
        assert!(st.header);
        assert_eq!(v[0].bytes, 100);
        assert_eq!(v[1].error, crate::record::ErrorKind::ConnectRefused as u8);
    }

    /// Issue 12 item 2: a results.csv written by an older barrage kept the status
    /// line of a response that failed mid-way; its `error` column says so, and the
    /// row reports status 0. A failed check and an unknown error name keep theirs.
    #[test]
    fn old_rows_with_transport_errors_report_status_0() {
        let p = write(
            "old.csv",
            "elapsed,response_time,status,error\n\
             1.0,0.5,200,\n\
             2.0,0.5,200,closed mid-response\n\
             3.0,0.5,200,malformed response\n\
             4.0,0.5,503,unexpected status\n\
             5.0,0.5,200,some future error\n",
        );
        let (v, _) = rows(&p, false).unwrap();
        let statuses: Vec<u16> = v.iter().map(|s| s.status).collect();
        assert_eq!(statuses, [200, 0, 0, 503, 200]);
        assert_eq!(v[1].error, crate::record::ErrorKind::EofMidResponse as u8);
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let cases = [
            ("trunc.csv", "0.1,0.1,200\n0.2,0.1\n", 2, "2 fields"),
            (
                "nan.csv", "0.1,0.1,200\n0.2,zz,200\n", 2, "response time \"zz\"",
            ),
            ("cut.csv", "0.1,0.1,200\n0.2,0.", 2, "2 fields"),
        ];
        for (name, text, line, want) in cases {
            let p = write(name, text);
            let e = rows(&p, false).unwrap_err().to_string();
            assert!(e.contains(&format!("{name}:{line}:")), "{e}");
            assert!(e.contains(want), "{e}");
            assert!(e.contains("--skip-bad-lines"), "{e}");
            let (v, st) = rows(&p, true).unwrap();
            assert_eq!((st.skipped, st.rows, v.len()), (1, 1, 1), "{name}");
        }
        let p = write("status.csv", "0.1,0.1,OK\n");
        let e = rows(&p, false).unwrap_err().to_string();
        assert!(e.contains("status.csv:1: status \"OK\""), "{e}");
        let e = rows(&p, true).unwrap_err();
        assert!(
            matches!(e, CsvError::NoRows { skipped: 1, .. }),
            "all skipped: {e}"
        );
    }

    #[test]
    fn empty_and_missing_files() {
        let p = write("empty.csv", "");
        assert!(matches!(rows(&p, false), Err(CsvError::Empty { .. })));
        let p = write("blank.csv", "\n\n");
        assert!(matches!(rows(&p, true), Err(CsvError::Empty { .. })));
        let p = write("onlyhdr.csv", "elapsed,response_time,status\n");
        assert!(matches!(rows(&p, false), Err(CsvError::NoRows { .. })));
        let e = rows(Path::new("/nonexistent/results.csv"), false).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/results.csv"), "{e}");
        let p = write("badhdr.csv", "elapsed,latency,status\n1,1,200\n");
        let e = rows(&p, false).unwrap_err().to_string();
        assert!(e.contains("\"response_time\""), "{e}");
    }
}
