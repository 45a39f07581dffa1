//! Which rate a search tries next: doubling from `--from` while steps hold the SLO
//! (never above `--to`), then bisection between the highest rate that held and the
//! lowest that broke it, until they are within the precision (relative to the one
//! that held). A step the generator could not drive ends the search: nothing above
//! it can be measured, and it is not the server's capacity.

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every SLO held, and barrage drove the rate.
    Held,
    /// An SLO was broken, and barrage drove the rate: the server's limit.
    Broken,
    /// The verdict says the generator was the limit.
    Generator,
    /// Stopped by a signal.
    Interrupted,
}

/// The search's state.
#[derive(Debug, Clone)]
pub struct Search {
    from: f64,
    to: Option<f64>,
    precision: f64,
    /// The highest rate that held, the lowest that broke.
    held: Option<f64>,
    broke: Option<f64>,
    /// The rate at which the generator was the limit, or the search was stopped.
    stopped: Option<(f64, Outcome)>,
}

/// How a search ended.
#[derive(Debug, Clone, PartialEq)]
pub struct End {
    /// The highest rate that held the SLO with the server as the limit above it (or
    /// `--to` reached); `None` when there is no such rate.
    pub max_rate: Option<f64>,
    /// The highest rate that held, whatever stopped the search.
    pub held: Option<f64>,
    /// What limited the search: "server" (a step above `max_rate` broke the SLO),
    /// "to" (`--to` held), "generator" (barrage could not drive a step),
    /// "interrupted", or "from" (`--from` already broke it).
    pub limit: &'static str,
    /// The rate of the step that limited it, if any.
    pub limit_rate: Option<f64>,
}

impl Search {
    pub fn new(from: f64, to: Option<f64>, precision: f64) -> Search {
        Search {
            from,
            to,
            precision,
            held: None,
            broke: None,
            stopped: None,
        }
    }

    /// The next rate to try; `None` when the search is over.
    pub fn next(&self) -> Option<f64> {
        if self.stopped.is_some() {
            return None;
        }
        match (self.held, self.broke) {
            (None, None) => Some(self.from),
            (None, Some(_)) => None,
            (Some(h), None) => match self.to {
                Some(t) if h >= t => None,
                Some(t) => Some((h * 2.0).min(t)),
                None => Some(h * 2.0),
            },
            (Some(h), Some(b)) => {
                if (b - h) <= self.precision * h {
                    return None;
                }
                let mid = (h + b) / 2.0;
                // Whole requests per second when the gap allows.
                let mid = if b - h > 2.0 { mid.round() } else { mid };
                Some(mid)
            }
        }
    }

    pub fn record(&mut self, rate: f64, outcome: Outcome) {
        match outcome {
            Outcome::Held => self.held = Some(self.held.map_or(rate, |h| h.max(rate))),
            Outcome::Broken => self.broke = Some(self.broke.map_or(rate, |b| b.min(rate))),
            Outcome::Generator | Outcome::Interrupted => self.stopped = Some((rate, outcome)),
        }
    }

    pub fn end(&self) -> End {
        let (max_rate, limit, limit_rate) = match (self.stopped, self.held, self.broke) {
            (Some((r, Outcome::Generator)), _, _) => (None, "generator", Some(r)),
            (Some((r, _)), _, _) => (None, "interrupted", Some(r)),
            (None, Some(h), Some(b)) => (Some(h), "server", Some(b)),
            (None, Some(h), None) => (Some(h), "to", None),
            (None, None, b) => (None, "from", b),
        };
        End {
            max_rate,
            held: self.held,
            limit,
            limit_rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a search against a server that holds the SLO below `capacity`.
    fn simulate(from: f64, to: Option<f64>, capacity: f64) -> (Vec<f64>, End) {
        let mut s = Search::new(from, to, 0.05);
        let mut tried = Vec::new();
        while let Some(r) = s.next() {
            tried.push(r);
            s.record(
                r,
                if r <= capacity {
                    Outcome::Held
                } else {
                    Outcome::Broken
                },
            );
            assert!(tried.len() < 50, "{tried:?}");
        }
        (tried, s.end())
    }

    #[test]
    fn doubles_then_bisects_to_the_precision() {
        let (tried, end) = simulate(25.0, None, 103.0);
        assert_eq!(&tried[..4], &[25.0, 50.0, 100.0, 200.0]);
        let max = end.max_rate.unwrap();
        assert!((103.0 / 1.05..=103.0).contains(&max), "{tried:?} {end:?}");
        assert_eq!(end.limit, "server");
        assert!(end.limit_rate.unwrap() > max);
    }

    #[test]
    fn to_caps_the_climb_and_from_can_already_break() {
        let (tried, end) = simulate(100.0, Some(300.0), 1e9);
        assert_eq!(tried, vec![100.0, 200.0, 300.0]);
        assert_eq!((end.max_rate, end.limit), (Some(300.0), "to"));
        let (tried, end) = simulate(100.0, None, 50.0);
        assert_eq!(tried, vec![100.0]);
        assert_eq!((end.max_rate, end.limit), (None, "from"));
    }

    /// A step barrage could not drive ends the search, and is no capacity.
    #[test]
    fn a_generator_limit_is_never_the_capacity() {
        let mut s = Search::new(100.0, None, 0.05);
        s.record(100.0, Outcome::Held);
        assert_eq!(s.next(), Some(200.0));
        s.record(200.0, Outcome::Generator);
        assert_eq!(s.next(), None);
        let end = s.end();
        assert_eq!(end.max_rate, None);
        assert_eq!(
            (end.limit, end.limit_rate, end.held),
            ("generator", Some(200.0), Some(100.0))
        );
    }
}
