//! The HdrHistogram settings every histogram of a report shares (3 significant
//! digits, latencies capped at an hour), the two kinds of histogram (an interval's,
//! auto-resizing, and the whole run's, fixed-range), and percentiles read from them
//! within the exact min and max.

use hdrhistogram::Histogram;

use super::Moments;

/// Latencies above this (one hour) are recorded as one hour: HdrHistogram needs a bound,
/// and a request that took longer than that timed out long before.
pub const MAX_LATENCY_NS: u64 = 3_600_000_000_000;
/// Significant digits of every histogram: values within 0.1%.
pub const SIGFIG: u8 = 3;

/// An interval's histogram.
pub(super) fn new_histogram() -> Histogram<u64> {
    // Auto-resizing from a tiny range: an interval's histogram only spans the values it
    // saw, so closing it (reset, scan, serialize) costs little even for short intervals.
    let mut h = Histogram::new(SIGFIG).expect("valid sigfig");
    h.auto(true);
    h
}

/// A percentile from the histogram, kept within the exact min and max: the histogram
/// reports the top of a 0.1%-wide bucket, which can lie above the largest value seen.
pub fn clamp_quantile(h: &Histogram<u64>, q: f64, m: &Moments) -> u64 {
    h.value_at_quantile(q).clamp(m.min.min(m.max), m.max)
}

/// The histogram everything overall is added into (fixed range: 1 ns .. 1 h).
pub fn overall_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, SIGFIG).expect("valid bounds")
}

#[cfg(test)]
mod tests {
    use crate::report::reservoir::Reservoir;
    use crate::report::{Accumulator, ReportOptions, Sample, SourceInfo};

    /// Percentiles against a brute-force sort of random data, overall and per
    /// interval: within HdrHistogram's stated precision (3 significant digits: the
    /// reported value is in the same 0.1%-wide bucket as the exact one).
    #[test]
    fn percentiles_match_a_sort_within_precision() {
        let mut rng = Reservoir::new(0, 42);
        let mut acc = Accumulator::new(ReportOptions::default());
        let mut all: Vec<u64> = Vec::new();
        let mut per: Vec<Vec<u64>> = vec![Vec::new(); 5];
        for i in 0..200_000u64 {
            // Long-tailed: log-uniform from 10 us to 1 s, plus a spike band.
            let u = rng.uniform();
            let lat = if i % 97 == 0 {
                2_000_000_000 + (u * 1e8) as u64
            } else {
                (10_000.0 * 10f64.powf(u * 5.0)) as u64
            };
            let end = i * 25_000; // 5 s in all
            acc.add(Sample {
                end_ns: end,
                latency_ns: lat,
                status: 200,
                error: 0,
                bytes: 0,
                lag_ns: None,
            });
            all.push(lat);
            per[(end / 1_000_000_000) as usize].push(lat);
        }
        let r = acc
            .finish(SourceInfo {
                kind: "csv",
                ..Default::default()
            })
            .unwrap();
        let exact = |v: &mut Vec<u64>, q: f64| {
            v.sort_unstable();
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            v[rank - 1]
        };
        let close = |got: f64, want: u64, what: &str| {
            let want = want as f64;
            assert!(
                (got - want).abs() <= want * 0.001 + 1.0,
                "{what}: got {got}, exact {want}"
            );
        };
        let l = r.summary.latency_s.clone().unwrap();
        for (q, got) in [
            (0.5, l.p50),
            (0.8, l.p80),
            (0.9, l.p90),
            (0.95, l.p95),
            (0.99, l.p99),
            (0.999, l.p99_9),
        ] {
            close(
                got * 1e9,
                exact(&mut all, q),
                &format!("overall p{}", q * 100.0),
            );
        }
        assert_eq!(
            l.max,
            *all.iter().max().unwrap() as f64 / 1e9,
            "max is exact"
        );
        assert_eq!(
            l.min,
            *all.iter().min().unwrap() as f64 / 1e9,
            "min is exact"
        );
        let mean = all.iter().map(|v| *v as f64).sum::<f64>() / all.len() as f64;
        assert!((l.mean * 1e9 - mean).abs() < 1e-6 * mean, "mean is exact");
        assert_eq!(r.intervals.len(), 5);
        for (iv, v) in r.intervals.iter().zip(per.iter_mut()) {
            assert_eq!(iv.count, v.len() as u64);
            // The last ends with the run, 25 us short: partial, no percentiles.
            let Some(lat) = iv.latency else {
                assert!(iv.partial && iv.index == 4);
                continue;
            };
            for (q, got) in [(0.5, lat.p50), (0.9, lat.p90), (0.99, lat.p99)] {
                close(
                    got as f64,
                    exact(v, q),
                    &format!("interval {} q{q}", iv.index),
                );
            }
            assert_eq!(lat.max, *v.iter().max().unwrap());
        }
    }
}
