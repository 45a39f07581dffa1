//! The scatter plot's sample: a uniform random sample of at most a fixed number of
//! points from a stream of unknown length, seeded so the same records give the same
//! plot.

use super::Point;

/// A uniform random sample of at most `cap` items from a stream of unknown length
/// (Li's "Algorithm L": once the reservoir is full it draws how many items to skip,
/// so the cost per item is one comparison). Seeded: the same input gives the same plot.
pub(super) struct Reservoir {
    cap: usize,
    pub(super) items: Vec<Point>,
    pub(super) seen: u64,
    /// Value of `seen` at which the next item is taken, once full.
    next_take: u64,
    w: f64,
    rng: u64,
}

impl Reservoir {
    pub(super) fn new(cap: usize, seed: u64) -> Reservoir {
        Reservoir {
            cap,
            items: Vec::new(),
            seen: 0,
            next_take: 0,
            w: 1.0,
            rng: seed,
        }
    }

    #[inline]
    pub(super) fn offer(&mut self, p: Point) {
        self.seen += 1;
        if self.items.len() < self.cap {
            self.items.push(p);
            if self.items.len() == self.cap {
                self.w = (self.uniform().ln() / self.cap as f64).exp();
                self.skip();
            }
            return;
        }
        if self.seen == self.next_take && self.cap > 0 {
            let slot = (self.next_u64() % self.cap as u64) as usize;
            self.items[slot] = p;
            self.w *= (self.uniform().ln() / self.cap as f64).exp();
            self.skip();
        }
    }

    fn skip(&mut self) {
        let gap = (self.uniform().ln() / (1.0 - self.w).ln()).floor();
        let gap = if gap.is_finite() && gap >= 0.0 {
            gap.min(1e18) as u64
        } else {
            u64::MAX / 2
        };
        self.next_take = self.seen.saturating_add(gap).saturating_add(1);
    }

    /// splitmix64.
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub(super) fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservoir_is_capped_and_uniform() {
        let mut r = Reservoir::new(1000, 7);
        for i in 0..1_000_000u64 {
            r.offer(Point {
                end_ns: i,
                latency_ns: 0,
                status: 200,
                error: 0,
            });
        }
        assert_eq!(r.items.len(), 1000);
        assert_eq!(r.seen, 1_000_000);
        // Uniform: each tenth of the stream holds about a tenth of the sample.
        for d in 0..10u64 {
            let n = r.items.iter().filter(|p| p.end_ns / 100_000 == d).count();
            assert!((50..=150).contains(&n), "decile {d}: {n}");
        }
    }
}
