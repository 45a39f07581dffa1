//! HdrHistogram files, so results can be merged and compared with the HdrHistogram
//! tools across runs and hosts:
//!
//! - `latency.hlog`: an interval log (one V2-deflate histogram per interval, base64),
//!   as Java's `HistogramLogWriter` writes it, readable by `HistogramLogProcessor`,
//!   HistogramLogAnalyzer and the `hdrhistogram` crate's `IntervalLogIterator`. Values
//!   are nanoseconds; `Interval_Max` is in milliseconds (MaxValueDivisor 1e6), as the
//!   Java tools expect.
//! - `latency.hgrm`: the whole run's percentile distribution in the text format of
//!   Java's `AbstractHistogram.outputPercentileDistribution` (5 ticks per half
//!   distance, values in milliseconds), which the HdrHistogram plotter reads.
//!
//! Both hold the successful requests only, like every percentile of the report.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::Report;

/// Nanoseconds per output unit (milliseconds), Java's `outputValueUnitScalingRatio`.
pub const NS_PER_MS: f64 = 1e6;
/// Java's default `percentileTicksPerHalfDistance`.
pub const TICKS_PER_HALF: u32 = 5;

/// Writes the interval log of `report` to `path`.
pub fn write_interval_log(path: &Path, report: &Report) -> io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    // The header lines Java writes, in its order (the crate's builder cannot put the
    // legend after StartTime).
    writeln!(
        w,
        "#[Logged with barrage {} from {}]",
        env!("CARGO_PKG_VERSION"),
        report
            .source
            .run_id
            .as_deref()
            .unwrap_or(report.source.kind)
    )?;
    writeln!(w, "#[Histogram log format version 1.3]")?;
    if let Some(wall) = report.source.wall_start_ns {
        let secs = wall as f64 / 1e9;
        writeln!(
            w,
            "#[StartTime: {secs:.3} (seconds since epoch), {}]",
            crate::time::pretty_utc(wall / 1_000_000_000)
        )?;
        writeln!(w, "#[BaseTime: {secs:.3} (seconds since epoch)]")?;
    }
    writeln!(
        w,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    )?;
    // The rest is what hdrhistogram's IntervalLogWriter writes (its line format, with
    // the max value divisor), from the histograms the report encoded when it closed
    // each interval.
    writeln!(w, "#[MaxValueDivisor: {NS_PER_MS:.3}]")?;
    let mut empty = Vec::new();
    V2DeflateSerializer::new()
        .serialize(&super::overall_histogram(), &mut empty)
        .map_err(|e| io::Error::other(format!("{e:?}")))?;
    let length = report.opts.interval_ns as f64 / 1e9;
    for iv in &report.intervals {
        // Empty intervals are logged too (as empty histograms), as Java's writers do:
        // a reader counting intervals sees the run's real timeline.
        let encoded = if iv.encoded.is_empty() {
            &empty
        } else {
            &iv.encoded
        };
        writeln!(
            w,
            "{:.3},{length:.3},{:.3},{}",
            iv.start_ns as f64 / 1e9,
            iv.encoded_max as f64 / NS_PER_MS,
            super::fmt::base64(encoded)
        )?;
    }
    w.flush()
}

/// Writes `h` as a `.hgrm` percentile distribution.
pub fn write_hgrm(path: &Path, h: &Histogram<u64>) -> io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    w.write_all(percentile_distribution(h).as_bytes())?;
    w.flush()
}

/// Java's `outputPercentileDistribution(out, 5, 1e6)` for a histogram of nanoseconds.
pub fn percentile_distribution(h: &Histogram<u64>) -> String {
    let mut s = String::new();
    let digits = h.sigfig() as usize;
    let _ = write!(
        s,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(TICKS_PER_HALF) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / NS_PER_MS;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    s,
                    "{value:12.digits$} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(s, "{value:12.digits$} {q:2.12} {total:10}");
            }
        }
    }
    let _ = writeln!(
        s,
        "#[Mean    = {:12.digits$}, StdDeviation   = {:12.digits$}]",
        h.mean() / NS_PER_MS,
        h.stdev() / NS_PER_MS
    );
    let _ = writeln!(
        s,
        "#[Max     = {:12.digits$}, Total count    = {:12}]",
        h.max() as f64 / NS_PER_MS,
        h.len()
    );
    let _ = writeln!(
        s,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_bucket_count(h.sigfig())
    );
    s
}

/// HdrHistogram's sub-bucket count for `sigfig` digits: the power of two at or above
/// 2 * 10^sigfig.
fn sub_bucket_count(sigfig: u8) -> u64 {
    (2 * 10u64.pow(sigfig as u32)).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hgrm_matches_java_layout() {
        let mut h = super::super::overall_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1_000_000).unwrap();
        }
        let text = percentile_distribution(&h);
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines.next().unwrap(), "");
        assert_eq!(
            lines.next().unwrap(),
            "       1.000 0.000000000000          1           1.00"
        );
        let data: Vec<&str> = text
            .lines()
            .skip(2)
            .filter(|l| !l.starts_with('#'))
            .collect();
        assert!(
            data.last().unwrap().ends_with(" 1.000000000000       1000"),
            "{:?}",
            data.last()
        );
        // Every data line has 3 (the last) or 4 numeric columns.
        for l in &data {
            let cols: Vec<f64> = l.split_whitespace().map(|c| c.parse().unwrap()).collect();
            assert!(cols.len() == 3 || cols.len() == 4, "{l}");
        }
        assert!(text.contains("Total count    =         1000]"), "{text}");
        assert!(text.contains("SubBuckets     =         2048]"), "{text}");
    }
}
