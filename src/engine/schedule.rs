//! Load shapes: piecewise-linear profiles (`--rate-stages`, `--conn-stages`), the
//! open-loop schedule that gives every request an intended start, and the choice of
//! target for each request.
//!
//! The open-loop schedule is global: request `k` of the whole run is intended at
//! `Λ⁻¹(k)`, where `Λ(t)` is the number of requests the rate profile asks for by time
//! `t`. Loop `l` of `L` (and shard `h` of `N` hosts) takes every request with
//! `k = h + N·(l + L·j)`, so loops and hosts interleave instead of firing together,
//! and their shares sum exactly to the whole.

/// A piecewise-linear function of time: `(t_ns, value)` points, linear between them,
/// constant after the last.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    points: Vec<(u64, f64)>,
    /// Cumulative integral (value·seconds) at each point.
    cumulative: Vec<f64>,
}

impl Profile {
    /// A constant value from time 0.
    pub fn constant(v: f64) -> Profile {
        Profile::from_points(vec![(0, v)])
    }

    /// Parses `10s:1000,30s:5000,10s:0`: each stage moves linearly from the previous
    /// value (0 at the start) to its own over its duration. `0s:500` jumps.
    pub fn parse(spec: &str) -> Result<Profile, String> {
        if spec.trim().is_empty() {
            return Err(
                "empty stage list: give DURATION:VALUE pairs like 10s:1000,30s:5000".into(),
            );
        }
        let mut points = vec![(0u64, 0.0f64)];
        let mut t = 0u64;
        for (i, stage) in spec.split(',').enumerate() {
            let stage = stage.trim();
            let (d, v) = stage.split_once(':').ok_or_else(|| {
                format!(
                    "stage {} {stage:?} is not DURATION:VALUE (like 10s:1000)",
                    i + 1
                )
            })?;
            let d =
                crate::cli::args::parse_duration(d).map_err(|e| format!("stage {}: {e}", i + 1))?;
            let v: f64 = v
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("stage {}: value {v:?} is not a number >= 0", i + 1))?;
            t += d.as_nanos() as u64;
            if t == 0 {
                // A jump at the very start sets the starting value.
                points[0].1 = v;
                continue;
            }
            // A 0s stage later on adds a second point at the same instant: a step.
            points.push((t, v));
        }
        Ok(Profile::from_points(points))
    }

    fn from_points(points: Vec<(u64, f64)>) -> Profile {
        let mut cumulative = vec![0.0];
        for w in points.windows(2) {
            let secs = (w[1].0 - w[0].0) as f64 / 1e9;
            let c = cumulative.last().copied().unwrap_or(0.0) + secs * (w[0].1 + w[1].1) / 2.0;
            cumulative.push(c);
        }
        Profile { points, cumulative }
    }

    /// When the last stage ends, ns.
    pub fn end(&self) -> u64 {
        self.points.last().map_or(0, |p| p.0)
    }

    /// Largest value anywhere.
    pub fn max(&self) -> f64 {
        self.points.iter().map(|p| p.1).fold(0.0, f64::max)
    }

    /// True once `t` is past the last point: the value holds from then on.
    pub fn settled(&self, t: u64) -> bool {
        t >= self.end()
    }

    pub fn value_at(&self, t: u64) -> f64 {
        let i = self.points.partition_point(|p| p.0 <= t);
        if i == 0 {
            return self.points[0].1;
        }
        if i == self.points.len() {
            return self.points[i - 1].1;
        }
        let (t0, v0) = self.points[i - 1];
        let (t1, v1) = self.points[i];
        v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64
    }

    /// `∫₀ᵗ value` in value·seconds.
    pub fn cumulative_at(&self, t: u64) -> f64 {
        let i = self.points.partition_point(|p| p.0 <= t);
        let i = i.max(1) - 1;
        let (t0, v0) = self.points[i];
        let tau = (t.saturating_sub(t0)) as f64 / 1e9;
        let slope = match self.points.get(i + 1) {
            Some(&(t1, v1)) => (v1 - v0) / ((t1 - t0) as f64 / 1e9),
            None => 0.0,
        };
        self.cumulative[i] + v0 * tau + slope * tau * tau / 2.0
    }

    /// The first time the cumulative integral reaches `x`; `None` if it never does.
    pub fn time_of_cumulative(&self, x: f64) -> Option<u64> {
        if x <= 0.0 {
            return Some(0);
        }
        let i = self.cumulative.partition_point(|&c| c < x);
        // Inside segment i-1 (between points i-1 and i), or after the last point.
        let seg = i.max(1) - 1;
        let (t0, v0) = self.points[seg];
        let rest = x - self.cumulative[seg];
        let tau = match self.points.get(seg + 1) {
            Some(&(t1, v1)) if i < self.cumulative.len() => {
                let slope = (v1 - v0) / ((t1 - t0) as f64 / 1e9);
                // Stable root of v0·τ + slope·τ²/2 = rest.
                let disc = (v0 * v0 + 2.0 * slope * rest).max(0.0);
                let denom = v0 + disc.sqrt();
                if denom <= 0.0 {
                    0.0
                } else {
                    2.0 * rest / denom
                }
            }
            _ => {
                let v_last = self.points.last().map_or(0.0, |p| p.1);
                let (tl, _) = *self.points.last().expect("a point");
                if v_last <= 0.0 {
                    return None;
                }
                let rest = x - self.cumulative.last().copied().unwrap_or(0.0);
                return Some(tl + (rest / v_last * 1e9) as u64);
            }
        };
        Some(t0 + (tau * 1e9) as u64)
    }
}

/// One loop's share of the open-loop schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Requests per second over time, for the whole run (all hosts).
    pub rate: Profile,
    /// Global index of this loop's first request, and the step between its requests.
    pub offset: u64,
    pub stride: u64,
}

impl Schedule {
    /// Intended start of this loop's `j`-th request, ns since the time base.
    #[inline]
    pub fn intended(&self, j: u64) -> Option<u64> {
        let k = self.offset + j * self.stride;
        self.rate.time_of_cumulative(k as f64)
    }

    /// How many of this loop's requests are intended before `t`.
    pub fn due_before(&self, t: u64) -> u64 {
        let total = self.rate.cumulative_at(t).ceil() as u64;
        if total <= self.offset {
            0
        } else {
            (total - self.offset).div_ceil(self.stride)
        }
    }
}

/// How requests pick their target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// In turn, each target as often as its weight says (smooth weighted round-robin).
    RoundRobin,
    /// At random, with probability proportional to weight.
    Random,
}

/// The order targets are used in: a table of target indices, one entry per unit of
/// weight, spread out so heavy targets do not come in bursts.
#[derive(Debug, Clone)]
pub struct Picker {
    table: Vec<u16>,
    pick: Pick,
}

impl Picker {
    pub fn new(weights: &[u32], pick: Pick) -> Picker {
        // Smooth weighted round-robin (as nginx balances upstreams).
        let total: i64 = weights.iter().map(|&w| w as i64).sum();
        let mut current = vec![0i64; weights.len()];
        let mut table = Vec::with_capacity(total as usize);
        for _ in 0..total {
            for (c, &w) in current.iter_mut().zip(weights) {
                *c += w as i64;
            }
            let (best, _) = current
                .iter()
                .enumerate()
                .max_by_key(|(i, c)| (**c, -(*i as i64)))
                .expect("a target");
            current[best] -= total;
            table.push(best as u16);
        }
        Picker { table, pick }
    }

    /// The target of request number `n` of a loop; `rng` is the loop's random state.
    #[inline]
    pub fn pick(&self, n: u64, rng: &mut u64) -> u16 {
        if self.table.len() == 1 {
            return self.table[0];
        }
        let i = match self.pick {
            Pick::RoundRobin => n % self.table.len() as u64,
            Pick::Random => {
                // xorshift64*: fast, and good enough to spread requests.
                *rng ^= *rng >> 12;
                *rng ^= *rng << 25;
                *rng ^= *rng >> 27;
                (rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) % self.table.len() as u64
            }
        };
        self.table[i as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn stages_parse_and_interpolate() {
        let p = Profile::parse("10s:1000,30s:5000,10s:0").unwrap();
        assert_eq!(p.end(), 50 * S);
        assert_eq!(p.value_at(0), 0.0);
        assert_eq!(p.value_at(5 * S), 500.0);
        assert_eq!(p.value_at(25 * S), 3000.0);
        assert_eq!(p.value_at(45 * S), 2500.0);
        assert_eq!(p.value_at(99 * S), 0.0);
        // 0..10s: 5000 requests; 10..40s: 90000; 40..50s: 25000.
        assert!((p.cumulative_at(50 * S) - 120_000.0).abs() < 1e-6);
        let step = Profile::parse("0s:2,1s:2,0s:6,1s:6").unwrap();
        assert_eq!(step.value_at(S / 2), 2.0);
        assert_eq!(step.value_at(S - 1), 2.0, "no ramp before the step");
        assert_eq!(step.value_at(S), 6.0);
        assert!((step.cumulative_at(2 * S) - 8.0).abs() < 1e-9);
        assert_eq!(step.time_of_cumulative(5.0), Some(S + S / 2));
        let j = Profile::parse("0s:200,5s:200").unwrap();
        assert_eq!(j.value_at(0), 200.0);
        assert!((j.cumulative_at(5 * S) - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn bad_stages() {
        for (spec, want) in [
            ("", "empty"),
            ("10s", "not DURATION:VALUE"),
            ("10s:abc", "not a number"),
            ("10s:-5", "not a number"),
            ("ten:5", "invalid duration"),
        ] {
            let e = Profile::parse(spec).unwrap_err();
            assert!(e.contains(want), "{spec}: {e}");
        }
    }

    #[test]
    fn schedule_inverts_the_profile() {
        let p = Profile::parse("10s:1000,30s:5000,10s:0").unwrap();
        for x in [0.0, 1.0, 4999.0, 5000.0, 5001.0, 60_000.0, 119_999.0] {
            let t = p.time_of_cumulative(x).unwrap();
            assert!(
                (p.cumulative_at(t) - x).abs() < 0.01,
                "x={x} t={t} back={}",
                p.cumulative_at(t)
            );
        }
        assert_eq!(p.time_of_cumulative(200_000.0), None, "rate ends at 0");
        let c = Profile::constant(100.0);
        assert_eq!(c.time_of_cumulative(250.0), Some(2_500_000_000));
    }

    #[test]
    fn loops_interleave_and_cover_every_request() {
        let rate = Profile::constant(1000.0);
        let (hosts, loops) = (3u64, 4u64);
        let mut all = Vec::new();
        for h in 0..hosts {
            for l in 0..loops {
                let s = Schedule {
                    rate: rate.clone(),
                    offset: h + hosts * l,
                    stride: hosts * loops,
                };
                let mut j = 0;
                while let Some(t) = s.intended(j).filter(|&t| t < S) {
                    all.push(t);
                    j += 1;
                }
                assert_eq!(s.due_before(S), j, "due_before agrees with the schedule");
            }
        }
        all.sort();
        assert_eq!(
            all.len(),
            1000,
            "exactly rate x 1s over all loops and hosts"
        );
        assert!(
            all.windows(2).all(|w| w[1] - w[0] <= 1_000_001),
            "evenly spaced, no bursts"
        );
    }

    #[test]
    fn weighted_round_robin_is_smooth_and_exact() {
        let p = Picker::new(&[5, 1, 1], Pick::RoundRobin);
        let mut rng = 1;
        let seq: Vec<u16> = (0..7).map(|n| p.pick(n, &mut rng)).collect();
        assert_eq!(seq.iter().filter(|&&t| t == 0).count(), 5);
        assert_ne!(&seq[..3], &[0, 0, 0], "heavy target spread out: {seq:?}");
        let r = Picker::new(&[1, 3], Pick::Random);
        let mut rng = 0x9E37_79B9_7F4A_7C15;
        let ones = (0..40_000).filter(|&n| r.pick(n, &mut rng) == 1).count();
        assert!((29_000..31_000).contains(&ones), "about 3/4: {ones}");
    }
}
