//! The options of a distributed run: which shard of the test this host is
//! (`--shard I/N`, `BARRAGE_SHARD`, or a Kubernetes indexed Job's
//! `JOB_COMPLETION_INDEX` with `--shards`), the common start instant (`--start-at`), and
//! this host's name in the sample headers. docs/distributed.md explains the whole.

use std::time::Duration;

use crate::cli::config::{ConfigError, invalid};

/// `I/N` from `--shard`, `BARRAGE_SHARD`, or `JOB_COMPLETION_INDEX` with `--shards`.
pub fn resolve_shard(
    flag: Option<&str>,
    env_shard: Option<String>,
    job_index: Option<String>,
    shards: Option<u32>,
) -> Result<(u32, u32), ConfigError> {
    let parse = |s: &str, from: &str| -> Result<(u32, u32), ConfigError> {
        let bad = || {
            invalid(format!(
                "{from} {s:?}: write I/N with whole numbers, like 0/3 (0-based)"
            ))
        };
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let (i, n): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 {
            return Err(invalid(format!(
                "{from} {s:?}: the shard count must be at least 1"
            )));
        }
        if i >= n {
            return Err(invalid(format!(
                "{from} {s:?}: the index must be below the count (0-based: 0/{n} .. {}/{n})",
                n - 1
            )));
        }
        Ok((i, n))
    };
    if let Some(f) = flag {
        return parse(f, "--shard");
    }
    if let Some(e) = env_shard.filter(|e| !e.is_empty()) {
        return parse(&e, "BARRAGE_SHARD");
    }
    match (shards, job_index) {
        (Some(n), Some(i)) => parse(&format!("{i}/{n}"), "JOB_COMPLETION_INDEX with --shards"),
        (Some(_), None) => Err(invalid(
            "--shards needs the shard index: set JOB_COMPLETION_INDEX or use --shard I/N",
        )),
        (None, _) => Ok((0, 1)),
    }
}

/// Parses `--start-at` (Unix seconds) and checks it against `now_ns`.
pub fn resolve_start_at(s: &str, now_ns: u64, tolerance: Duration) -> Result<u64, ConfigError> {
    let t: f64 = s
        .trim()
        .parse()
        .ok()
        .filter(|t: &f64| t.is_finite() && *t > 0.0)
        .ok_or_else(|| {
            invalid(format!(
                "--start-at {s:?} is not a Unix time in seconds (like $(date +%s) + 10)"
            ))
        })?;
    if t > 1e11 {
        return Err(invalid(format!(
            "--start-at {s}: that is in the year 5000; give seconds, not milliseconds"
        )));
    }
    let at = (t * 1e9) as u64;
    if at + (tolerance.as_nanos() as u64) < now_ns {
        return Err(invalid(format!(
            "--start-at is {:.3} s in the past (tolerance {:?}): pick a later time, or raise --start-tolerance",
            (now_ns - at) as f64 / 1e9,
            tolerance
        )));
    }
    if at > now_ns + 86_400_000_000_000 {
        return Err(invalid(format!(
            "--start-at {s} is more than a day away: check the time"
        )));
    }
    Ok(at)
}

/// This host's name, for `--host-id`'s default.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards() {
        assert_eq!(
            resolve_shard(Some("1/3"), None, None, None).unwrap(),
            (1, 3)
        );
        assert_eq!(
            resolve_shard(None, Some("2/4".into()), None, None).unwrap(),
            (2, 4)
        );
        assert_eq!(
            resolve_shard(None, None, Some("0".into()), Some(2)).unwrap(),
            (0, 2)
        );
        assert_eq!(resolve_shard(None, None, None, None).unwrap(), (0, 1));
        for (flag, want) in [
            ("3/3", "below the count"),
            ("x/2", "write I/N"),
            ("1/0", "at least 1"),
            ("12", "write I/N"),
        ] {
            let e = resolve_shard(Some(flag), None, None, None)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{flag}: {e}");
        }
        assert!(
            resolve_shard(None, None, None, Some(3))
                .unwrap_err()
                .to_string()
                .contains("JOB_COMPLETION_INDEX")
        );
    }

    #[test]
    fn start_times() {
        let now = 1_800_000_000_000_000_000u64;
        let tol = Duration::from_secs(1);
        assert_eq!(
            resolve_start_at("1800000010.5", now, tol).unwrap(),
            1_800_000_010_500_000_000
        );
        assert!(
            resolve_start_at("1800000000", now + 500_000_000, tol).is_ok(),
            "within tolerance"
        );
        let e = resolve_start_at("1799999990", now, tol)
            .unwrap_err()
            .to_string();
        assert!(e.contains("10.000 s in the past"), "{e}");
        assert!(
            resolve_start_at("soon", now, tol)
                .unwrap_err()
                .to_string()
                .contains("not a Unix time")
        );
        assert!(
            resolve_start_at("1800000000000", now, tol)
                .unwrap_err()
                .to_string()
                .contains("milliseconds")
        );
    }
}
