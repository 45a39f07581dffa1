//! Exact moments of a set of latencies: count, sum, sum of squares, min and max, so
//! the mean, standard deviation, min and max are exact where the histogram rounds.

/// Exact count, sum, min and max of a set of latencies (the histogram rounds to 0.1%;
/// the original tool's average was exact, and so is ours).
#[derive(Debug, Clone, Copy)]
pub struct Moments {
    pub count: u64,
    pub sum: u128,
    pub sum_sq: u128,
    pub min: u64,
    pub max: u64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments {
            count: 0,
            sum: 0,
            sum_sq: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

impl Moments {
    #[inline]
    pub(super) fn add(&mut self, v: u64) {
        self.count += 1;
        self.sum += v as u128;
        self.sum_sq += (v as u128) * (v as u128);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// Population standard deviation, from integer sums so no precision is lost to
    /// cancellation; falls back to floating point if the products overflow.
    pub fn stdev(&self) -> f64 {
        if self.count < 2 {
            return 0.0;
        }
        let n = self.count as u128;
        let exact = n
            .checked_mul(self.sum_sq)
            .and_then(|a| self.sum.checked_mul(self.sum).map(|b| a.saturating_sub(b)));
        match exact {
            Some(num) => ((num as f64) / (n as f64 * n as f64)).sqrt(),
            None => {
                let mean = self.mean();
                (self.sum_sq as f64 / self.count as f64 - mean * mean)
                    .max(0.0)
                    .sqrt()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_exact() {
        let mut m = Moments::default();
        for v in [2u64, 4, 4, 4, 5, 5, 7, 9] {
            m.add(v);
        }
        assert_eq!(m.mean(), 5.0);
        assert_eq!(m.stdev(), 2.0);
        assert_eq!((m.min, m.max), (2, 9));
    }
}
