//! intervals.csv: the original parse script's time series (per interval: count,
//! throughput, mean response time), extended with error counts and percentiles.
//!
//! One row per interval from the run's start to its last completion, empty intervals
//! included: their count and rps are 0 and their latency fields are empty (no request,
//! so no response time; 0 would read as "instant"). The last interval, when the run's
//! end cuts it short, is marked `partial` and has empty latency fields too: it holds
//! only the requests still in flight at the end, the slow ones, and plotted it would be
//! a spike that is not in the run. Times are seconds, like results.csv.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::IntervalStats;
use crate::record::csv::push_seconds;

/// The header line, naming every column.
pub const HEADER: &str =
    "index,start_s,end_s,count,rps,mean_s,errors,min_s,p50_s,p90_s,p99_s,max_s,stdev_s,partial";

/// Writes intervals.csv.
pub fn write(path: &Path, rows: &[IntervalStats], interval_ns: u64) -> io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    w.write_all(HEADER.as_bytes())?;
    w.write_all(b"\n")?;
    let mut line = Vec::with_capacity(160);
    for r in rows {
        line.clear();
        format_row(&mut line, r, interval_ns);
        w.write_all(&line)?;
    }
    w.flush()
}

/// One row, with its newline.
pub fn format_row(line: &mut Vec<u8>, r: &IntervalStats, interval_ns: u64) {
    let mut ib = itoa::Buffer::new();
    line.extend_from_slice(ib.format(r.index).as_bytes());
    line.push(b',');
    push_seconds(line, r.start_ns, 6);
    line.push(b',');
    push_seconds(line, r.end_ns, 6);
    line.push(b',');
    line.extend_from_slice(ib.format(r.count).as_bytes());
    line.push(b',');
    let rps = r.count as f64 / (interval_ns as f64 / 1e9);
    line.extend_from_slice(format!("{rps:.3}").as_bytes());
    line.push(b',');
    let lat = r.latency;
    if let Some(l) = lat {
        push_seconds(line, l.mean.round() as u64, 9);
    }
    line.push(b',');
    line.extend_from_slice(ib.format(r.errors).as_bytes());
    for v in [
        lat.map(|l| l.min),
        lat.map(|l| l.p50),
        lat.map(|l| l.p90),
        lat.map(|l| l.p99),
        lat.map(|l| l.max),
        lat.map(|l| l.stdev.round() as u64),
    ] {
        line.push(b',');
        if let Some(ns) = v {
            push_seconds(line, ns, 9);
        }
    }
    line.extend_from_slice(if r.partial { b",1\n" } else { b",0\n" });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::IntervalLatency;

    #[test]
    fn rows() {
        let full = IntervalStats {
            index: 2,
            start_ns: 2_000_000_000,
            end_ns: 3_000_000_000,
            count: 4,
            errors: 1,
            latency: Some(IntervalLatency {
                min: 1_000_000,
                mean: 2_500_000.4,
                stdev: 1_000.0,
                p50: 2_000_000,
                p90: 3_000_000,
                p99: 3_000_000,
                max: 3_000_000,
            }),
            ..Default::default()
        };
        let mut line = Vec::new();
        format_row(&mut line, &full, 1_000_000_000);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "2,2.000000,3.000000,4,4.000,0.002500000,1,0.001000000,0.002000000,0.003000000,0.003000000,0.003000000,0.000001000,0\n"
        );
        let empty = IntervalStats {
            index: 3,
            start_ns: 3_000_000_000,
            end_ns: 4_000_000_000,
            ..Default::default()
        };
        let mut line = Vec::new();
        format_row(&mut line, &empty, 1_000_000_000);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "3,3.000000,4.000000,0,0.000,,0,,,,,,,0\n"
        );
        let partial = IntervalStats {
            index: 4,
            start_ns: 4_000_000_000,
            end_ns: 4_003_000_000,
            partial: true,
            count: 7,
            ..Default::default()
        };
        let mut line = Vec::new();
        format_row(&mut line, &partial, 1_000_000_000);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "4,4.000000,4.003000,7,7.000,,0,,,,,,,1\n"
        );
        assert_eq!(HEADER.split(',').count(), 14);
    }
}
