//! `--fail-if`: conditions on a run's summary that make `barrage run` and
//! `barrage report` fail (exit code 4) for CI.
//!
//! An expression is `METRIC OP VALUE`: `p99 > 50ms`, `errors > 0.1%`, `errors > 0`,
//! `rps < 10000`, `mean >= 2ms`. Metrics: the latency statistics `min mean p50 p80
//! p90 p95 p99 p99.9 max stdev` (VALUE needs a unit: ns, us, ms, s), `rps`,
//! `requests`, `errors` (a count, or with `%` a share of all requests). OP is one of
//! `> >= < <=`. A latency metric with no value (no request succeeded) fails its
//! threshold: CI should not pass a run it cannot judge.
//!
//! The generator's self-check (`verdict.rs`) has its own: `generator-bound` alone
//! fails a run whose figures describe barrage rather than the server (its verdict is
//! generator-bound, starved, or short of local ports or files);
//! `generator-busy > 90%` compares barrage's busiest core; `loop-delay > 10ms` the
//! loops' timer lateness (p99). Without a verdict (a results.csv, a run recorded
//! before the self-check) they fail, like a latency with no value.

use std::fmt;

use super::Summary;
use super::json::Latency;
use crate::report::fmt::{fmt_secs, trim};

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Min,
    Mean,
    P50,
    P80,
    P90,
    P95,
    P99,
    P999,
    Max,
    Stdev,
    Rps,
    Requests,
    Errors,
    /// `errors` with a `%` value: errors / requests.
    ErrorShare,
    /// 1 when the verdict says the generator was the limit, else 0.
    GeneratorBound,
    /// The verdict's busiest core (a share, given with `%`).
    GeneratorBusy,
    /// The verdict's loop delay p99 (seconds).
    LoopDelay,
}

impl Metric {
    const NAMES: [(&'static str, Metric); 18] = [
        ("min", Metric::Min),
        ("mean", Metric::Mean),
        ("p50", Metric::P50),
        ("p80", Metric::P80),
        ("p90", Metric::P90),
        ("p95", Metric::P95),
        ("p99", Metric::P99),
        ("p99.9", Metric::P999),
        ("p999", Metric::P999),
        ("max", Metric::Max),
        ("stdev", Metric::Stdev),
        ("rps", Metric::Rps),
        ("requests", Metric::Requests),
        ("count", Metric::Requests),
        ("errors", Metric::Errors),
        ("generator-bound", Metric::GeneratorBound),
        ("generator-busy", Metric::GeneratorBusy),
        ("loop-delay", Metric::LoopDelay),
    ];

    fn is_latency(self) -> bool {
        !matches!(
            self,
            Metric::Rps
                | Metric::Requests
                | Metric::Errors
                | Metric::ErrorShare
                | Metric::GeneratorBound
                | Metric::GeneratorBusy
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::ErrorShare => "errors",
            m => Metric::NAMES
                .iter()
                .find(|(_, x)| *x == m)
                .map(|(n, _)| *n)
                .expect("every metric is named"),
        }
    }

    /// The metric's value in `s`: seconds for latency, a ratio for the error share.
    pub fn value(self, s: &Summary) -> Option<f64> {
        match self {
            Metric::Rps => Some(s.requests.rps),
            Metric::Requests => Some(s.requests.total as f64),
            Metric::Errors => Some(s.requests.errors as f64),
            Metric::ErrorShare => Some(s.requests.error_ratio),
            Metric::GeneratorBound => s
                .verdict
                .as_ref()
                .map(|v| if v.generator_limited { 1.0 } else { 0.0 }),
            Metric::GeneratorBusy => s.verdict.as_ref().map(|v| v.busiest_core),
            Metric::LoopDelay => s.verdict.as_ref().map(|v| v.loop_delay_p99_s),
            // A latency metric is named like its statistic in the summary.
            m => {
                let (_, stat) = Latency::STATS.iter().find(|(n, _)| *n == m.name())?;
                s.latency_s.as_ref().map(stat)
            }
        }
    }

    /// A value of this metric as people read it.
    pub fn show(self, v: f64) -> String {
        match self {
            Metric::Rps => format!("{v:.1}"),
            Metric::Requests | Metric::Errors => format!("{v:.0}"),
            Metric::ErrorShare | Metric::GeneratorBusy => {
                format!("{}%", trim(format!("{:.4}", v * 100.0)))
            }
            Metric::GeneratorBound => if v > 0.0 { "yes" } else { "no" }.to_string(),
            _ => fmt_secs(v),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    /// Whether `a OP b`.
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Le => a <= b,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

/// One `--fail-if` condition: the run fails when it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub metric: Metric,
    pub op: Op,
    /// Seconds for latency, a ratio for an error share, else a plain number.
    pub value: f64,
    /// The expression, normalised (`p99 > 50ms`).
    pub text: String,
    /// Scenario runs: the step it is about (`checkout.p99 > 200ms`): a step's full
    /// name (`buy.checkout`) or its name alone, which every scenario's step of that
    /// name answers (counts add up; a latency is the highest of theirs).
    pub step: Option<String>,
}

impl Threshold {
    /// The metric's value in `s` (for its step, if it names one).
    pub fn actual(&self, s: &Summary) -> Option<f64> {
        let Some(step) = &self.step else {
            return self.metric.value(s);
        };
        let steps: Vec<_> = s
            .steps
            .iter()
            .filter(|st| {
                st.name == *step || st.name.split_once('.').is_some_and(|(_, n)| n == step)
            })
            .collect();
        if steps.is_empty() {
            return None;
        }
        let (count, errors) = steps
            .iter()
            .fold((0, 0), |(c, e), st| (c + st.count, e + st.errors));
        let worst = |f: fn(&crate::report::steps::Percentiles) -> f64| {
            steps
                .iter()
                .filter_map(|st| st.latency_s.as_ref().map(f))
                .reduce(f64::max)
        };
        match self.metric {
            Metric::Requests => Some(count as f64),
            Metric::Errors => Some(errors as f64),
            Metric::ErrorShare => Some(if count > 0 {
                errors as f64 / count as f64
            } else {
                0.0
            }),
            Metric::Rps => Some(if s.duration_s > 0.0 {
                count as f64 / s.duration_s
            } else {
                0.0
            }),
            Metric::P50 => worst(|p| p.p50),
            Metric::P90 => worst(|p| p.p90),
            Metric::P99 => worst(|p| p.p99),
            Metric::Max => worst(|p| p.max),
            _ => None,
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Threshold {
    type Err = String;

    fn from_str(s: &str) -> Result<Threshold, String> {
        parse(s)
    }
}

/// Parses `METRIC OP VALUE` (clap's value parser for `--fail-if`).
pub fn parse(s: &str) -> Result<Threshold, String> {
    let text = s.trim();
    if text.eq_ignore_ascii_case("generator-bound") {
        return Ok(Threshold {
            metric: Metric::GeneratorBound,
            op: Op::Gt,
            value: 0.0,
            text: "generator-bound".to_string(),
            step: None,
        });
    }
    let usage = "write METRIC OP VALUE, like 'p99 > 50ms', 'errors > 0.1%', 'rps < 10000', or generator-bound";
    let at = text
        .find(['<', '>', '=', '!'])
        .ok_or_else(|| format!("{text:?} has no comparison (> >= < <=): {usage}"))?;
    let (lhs, rest) = text.split_at(at);
    // The whole operator, so `>>`, `=>`, `==` or `!=` is named, not misread as `>`.
    let op_text = &rest[..rest
        .find(|c: char| !matches!(c, '<' | '>' | '=' | '!'))
        .unwrap_or(rest.len())];
    if !matches!(op_text, ">" | ">=" | "<" | "<=") {
        return Err(format!(
            "unknown operator {op_text:?} in {text:?}: use one of > >= < <="
        ));
    }
    let (op, rhs) = if let Some(r) = rest.strip_prefix(">=") {
        (Op::Ge, r)
    } else if let Some(r) = rest.strip_prefix("<=") {
        (Op::Le, r)
    } else if let Some(r) = rest.strip_prefix('>') {
        (Op::Gt, r)
    } else {
        (Op::Lt, &rest[1..])
    };
    let (step, name) = split_step(lhs.trim());
    if let Some(st) = &step
        && !matches!(
            name.as_str(),
            "p50" | "p90" | "p99" | "max" | "requests" | "count" | "errors" | "rps"
        )
    {
        return Err(format!(
            "{text:?}: a step ({st}) has p50, p90, p99, max, requests, errors and rps"
        ));
    }
    let mut metric = Metric::NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, m)| *m)
        .ok_or_else(|| {
            format!(
                "unknown metric {name:?} in {text:?}: use one of min, mean, p50, p80, p90, p95, p99, p99.9, max, stdev, rps, requests, errors, generator-busy, loop-delay (or generator-bound alone; a scenario step's as STEP.p99)"
            )
        })?;
    let rhs = rhs.trim();
    if rhs.is_empty() {
        return Err(format!("{text:?} has no value: {usage}"));
    }
    let value = if metric.is_latency() {
        parse_latency(rhs).map_err(|why| format!("{text:?}: {why}"))?
    } else if metric == Metric::GeneratorBound {
        return Err(format!(
            "{text:?}: write generator-bound alone, without a comparison"
        ));
    } else if metric == Metric::GeneratorBusy && !rhs.ends_with('%') {
        return Err(format!(
            "{text:?}: give generator-busy as a percentage, like 'generator-busy > 90%'"
        ));
    } else if let Some(pct) = rhs.strip_suffix('%') {
        if metric != Metric::Errors && metric != Metric::GeneratorBusy {
            return Err(format!(
                "{text:?}: only errors and generator-busy take a percentage; give {} as a number",
                metric.name()
            ));
        }
        if metric == Metric::Errors {
            metric = Metric::ErrorShare;
        }
        let v: f64 = pct
            .trim()
            .parse()
            .map_err(|_| format!("{text:?}: {pct:?} is not a percentage"))?;
        v / 100.0
    } else {
        parse_count(rhs).ok_or_else(|| format!("{text:?}: {rhs:?} is not a number"))?
    };
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{text:?}: the value must be a positive number"));
    }
    Ok(Threshold {
        metric,
        op,
        value,
        text: match &step {
            Some(st) => format!("{st}.{} {} {rhs}", metric.name(), op.symbol()),
            None => format!("{} {} {rhs}", metric.name(), op.symbol()),
        },
        step,
    })
}

/// `checkout.p99` -> (`checkout`, `p99`); `buy.checkout.p99.9` -> (`buy.checkout`,
/// `p99.9`); a metric alone -> (`None`, it), lower-cased.
fn split_step(lhs: &str) -> (Option<String>, String) {
    let lower = lhs.to_ascii_lowercase();
    let known = |n: &str| Metric::NAMES.iter().any(|(m, _)| *m == n);
    if known(&lower) {
        return (None, lower);
    }
    for (i, _) in lhs.match_indices('.') {
        let rest = lhs[i + 1..].trim().to_ascii_lowercase();
        if i > 0 && known(&rest) {
            return (Some(lhs[..i].trim().to_string()), rest);
        }
    }
    (None, lower)
}

fn parse_latency(s: &str) -> Result<f64, String> {
    // A bare number is seconds for --duration, but here it is almost always a
    // forgotten "ms": ask for the unit.
    if s.ends_with(|c: char| c.is_ascii_digit() || c == '.') {
        return Err(format!("{s:?} needs a unit, like 50ms, 200us or 1.5s"));
    }
    crate::cli::args::parse_seconds(s)
}

/// `10000`, `10k`, `1.5M`.
fn parse_count(s: &str) -> Option<f64> {
    let (num, scale) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1e3),
        b'm' | b'M' => (&s[..s.len() - 1], 1e6),
        _ => (s, 1.0),
    };
    num.trim().parse::<f64>().ok().map(|v| v * scale)
}

/// The verdict on one threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub threshold: Threshold,
    /// The metric's value; `None` when it has none (no successful request).
    pub actual: Option<f64>,
    pub failed: bool,
}

impl Verdict {
    /// One line for stderr: `threshold failed: p99 > 50ms (p99 = 73.20ms)`.
    pub fn line(&self) -> String {
        let m = self.threshold.metric;
        let actual = match self.actual {
            Some(v) => format!("{} = {}", m.name(), m.show(v)),
            None => format!("{} has no value: no request succeeded", m.name()),
        };
        let what = if self.failed { "failed" } else { "passed" };
        format!("threshold {what}: {} ({actual})", self.threshold)
    }
}

/// Checks every threshold against `s`.
pub fn check(thresholds: &[Threshold], s: &Summary) -> Vec<Verdict> {
    thresholds
        .iter()
        .map(|t| {
            let actual = t.actual(s);
            Verdict {
                threshold: t.clone(),
                actual,
                failed: actual.is_none_or(|v| t.op.holds(v, t.value)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Accumulator, ReportOptions, Sample, SourceInfo};

    #[test]
    fn parses() {
        let t = parse("p99 > 50ms").unwrap();
        assert_eq!((t.metric, t.op, t.value), (Metric::P99, Op::Gt, 0.05));
        let t = parse("errors>0.1%").unwrap();
        assert_eq!(t.metric, Metric::ErrorShare);
        assert!((t.value - 0.001).abs() < 1e-12);
        assert_eq!(t.text, "errors > 0.1%");
        let t = parse("  rps < 10k ").unwrap();
        assert_eq!((t.metric, t.op, t.value), (Metric::Rps, Op::Lt, 10_000.0));
        let t = parse("P99.9 >= 1s").unwrap();
        assert_eq!((t.metric, t.op, t.value), (Metric::P999, Op::Ge, 1.0));
        let t = parse("errors > 0").unwrap();
        assert_eq!(t.metric, Metric::Errors);
        assert_eq!(parse("mean <= 250us").unwrap().value, 250e-6);
    }

    #[test]
    fn rejects_with_a_reason() {
        let cases = [
            ("p99 50ms", "no comparison"),
            ("p98 > 5ms", "unknown metric \"p98\""),
            ("p99 > 50", "needs a unit"),
            ("p99 > 50 parsecs", "unknown unit"),
            (
                "rps < 10%",
                "only errors and generator-busy take a percentage",
            ),
            ("generator-bound > 1", "generator-bound alone"),
            ("generator-busy > 0.9", "as a percentage"),
            ("loop-delay > 10", "needs a unit"),
            ("rps < lots", "not a number"),
            ("p99 >", "no value"),
            ("p99 >> 5ms", "unknown operator \">>\""),
            ("p99 => 5ms", "unknown operator \"=>\""),
            ("p99 == 5ms", "unknown operator \"==\""),
            ("p99 = 5ms", "unknown operator \"=\""),
            ("rps != 5", "unknown operator \"!=\""),
        ];
        for (s, want) in cases {
            let e = parse(s).unwrap_err();
            assert!(e.contains(want), "{s}: {e}");
        }
    }

    /// 1000 requests over 1 s, latency 1..=1000 us, 10 of them failed.
    fn summary() -> Summary {
        let mut acc = Accumulator::new(ReportOptions::default());
        for i in 1..=1000u64 {
            acc.add(Sample {
                end_ns: i * 1_000_000,
                latency_ns: i * 1000,
                status: if i % 100 == 0 { 0 } else { 200 },
                error: if i % 100 == 0 { 1 } else { 0 },
                bytes: 0,
                lag_ns: None,
            });
        }
        acc.finish(SourceInfo::default()).unwrap().summary
    }

    #[test]
    fn thresholds_pass_and_fail() {
        let s = summary();
        let cases = [
            ("p99 > 50ms", false),
            ("p99 > 500us", true),
            ("p50 >= 490us", true),
            ("p50 < 490us", false),
            ("errors > 0", true),
            ("errors > 10", false),
            ("errors > 0.5%", true),
            ("errors > 1%", false),
            ("errors >= 1%", true),
            ("rps < 10000", true),
            ("rps < 500", false),
            ("requests < 1000", false),
            ("max > 999us", true),
        ];
        for (expr, fails) in cases {
            let v = check(&[parse(expr).unwrap()], &s);
            assert_eq!(v[0].failed, fails, "{expr}: {}", v[0].line());
        }
        let v = check(&[parse("p99 > 500us").unwrap()], &s);
        assert_eq!(v[0].line(), "threshold failed: p99 > 500us (p99 = 990.2us)");
    }

    #[test]
    fn no_successes_fail_latency_thresholds() {
        let mut acc = Accumulator::new(ReportOptions::default());
        acc.add(Sample {
            end_ns: 1,
            latency_ns: 1,
            status: 0,
            error: 1,
            bytes: 0,
            lag_ns: None,
        });
        let s = acc.finish(SourceInfo::default()).unwrap().summary;
        let v = check(&[parse("p99 > 1s").unwrap()], &s);
        assert!(v[0].failed);
        assert!(
            v[0].line().contains("no request succeeded"),
            "{}",
            v[0].line()
        );
    }

    /// Issue 14: `generator-bound` and the numeric forms read the verdict; a summary
    /// without one (a results.csv) fails them.
    #[test]
    fn generator_thresholds_read_the_verdict() {
        use crate::record::checks::CheckRecord;
        let mut s = summary();
        for t in [
            "generator-bound", "generator-busy > 90%", "loop-delay > 10ms",
        ] {
            let v = check(&[parse(t).unwrap()], &s);
            assert!(v[0].failed, "{t}: no verdict must fail");
        }
        let rec = |busy: f64| {
            let mut r = CheckRecord {
                wall_ns: 1_000_000_000,
                cpu_ns: (busy * 1e9) as u64,
                delay_samples: 10,
                delay_max_ns: 100_000,
                ..Default::default()
            };
            r.delay_hist[0] = 10;
            (0, r)
        };
        s.verdict = crate::report::verdict::judge(&[rec(0.99)]);
        let cases = [
            ("generator-bound", true),
            ("generator-busy > 90%", true),
            ("generator-busy > 99.5%", false),
            ("loop-delay > 10ms", false),
        ];
        for (t, fails) in cases {
            let v = check(&[parse(t).unwrap()], &s);
            assert_eq!(v[0].failed, fails, "{t}: {}", v[0].line());
        }
        assert_eq!(
            check(&[parse("generator-bound").unwrap()], &s)[0].line(),
            "threshold failed: generator-bound (generator-bound = yes)"
        );
        s.verdict = crate::report::verdict::judge(&[rec(0.3)]);
        assert!(!check(&[parse("GENERATOR-BOUND").unwrap()], &s)[0].failed);
    }
}
