//! The scenario's random numbers: `{{uuid}}`, `{{random A..B}}`, think-time ranges,
//! weighted scenario picks and `order = "random"` data rows. One generator per virtual
//! user (so no state is shared between loops), seeded from the run's seed and the
//! user's number; splitmix64 (fast, every 64-bit state distinct), not cryptographic.

/// splitmix64.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for virtual user `vu` of a run seeded with `seed`; two users of one
    /// run, or one user of two runs with different seeds, get different streams.
    pub fn new(seed: u64, vu: u64) -> Rng {
        let mut r = Rng(seed ^ vu.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        r.next_u64();
        r
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (Lemire's multiply-shift; the bias is below 2^-32 for any
    /// range a scenario would ask for).
    #[inline]
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        match (hi - lo).checked_add(1) {
            Some(span) => lo + ((self.next_u64() as u128 * span as u128) >> 64) as u64,
            None => self.next_u64(),
        }
    }

    /// The 16 bytes of a random (version 4, RFC 9562) UUID.
    pub fn uuid(&mut self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        b
    }
}

/// Appends `u` as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (lower-case hex).
pub fn write_uuid(u: &[u8; 16], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(HEX[(byte >> 4) as usize]);
        out.push(HEX[(byte & 15) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_stay_inside_and_reach_both_ends() {
        let mut r = Rng::new(1, 2);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = r.range(10, 14);
            assert!((10..=14).contains(&v));
            seen[(v - 10) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s), "{seen:?}");
        assert_eq!(r.range(7, 7), 7);
        assert_eq!(r.range(9, 3), 9);
        let _ = r.range(0, u64::MAX); // the full range does not overflow
    }

    #[test]
    fn streams_differ_by_user_and_seed() {
        let first = |seed, vu| Rng::new(seed, vu).next_u64();
        assert_ne!(first(1, 1), first(1, 2));
        assert_ne!(first(1, 1), first(2, 1));
        assert_eq!(first(5, 9), first(5, 9));
    }

    #[test]
    fn uuids_are_version_4() {
        let mut r = Rng::new(3, 4);
        let mut out = Vec::new();
        write_uuid(&r.uuid(), &mut out);
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s.len(), 36);
        let parts: Vec<&str> = s.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{s}");
        assert!("89ab".contains(&parts[3][..1]), "{s}");
    }
}
