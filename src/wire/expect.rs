//! Response verification (`--expect-status`, `--expect-body`, `--expect-body-regex`,
//! `--expect-size`): what a response must look like, and the per-connection state that
//! checks a body as it streams past, keeping no more of it than the check needs.
//!
//! A substring check keeps only the last `len(needle) - 1` bytes between pieces, so a
//! needle split across reads or chunks is still found. A regex needs the whole body:
//! it buffers up to `--max-body` and fails with "body too large to check" beyond that.
//! Without any expectation none of this runs: the parser frames the body and drops it.

use memchr::memmem::Finder;
use regex::bytes::Regex;

use crate::record::ErrorKind;

/// Allowed HTTP statuses, as a bitset over 0..1024.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet([u64; 16]);

impl StatusSet {
    /// Parses `200`, `2xx`, `200,301`, `200-299`.
    pub fn parse(s: &str) -> Result<StatusSet, String> {
        let mut bits = [0u64; 16];
        let bad = |part: &str| {
            format!(
                "invalid status {part:?} in {s:?}: use codes like 200, classes like 2xx, ranges like 200-299, comma-separated"
            )
        };
        if s.trim().is_empty() {
            return Err(bad(s));
        }
        for part in s.split(',') {
            let part = part.trim();
            let (lo, hi) =
                if let Some(class) = part.strip_suffix("xx").or_else(|| part.strip_suffix("XX")) {
                    let c: u16 = class
                        .parse()
                        .ok()
                        .filter(|c| (1..=9).contains(c))
                        .ok_or_else(|| bad(part))?;
                    (c * 100, c * 100 + 99)
                } else if let Some((a, b)) = part.split_once('-') {
                    (
                        a.trim().parse().map_err(|_| bad(part))?,
                        b.trim().parse().map_err(|_| bad(part))?,
                    )
                } else {
                    let v: u16 = part.parse().map_err(|_| bad(part))?;
                    (v, v)
                };
            if !(100..=999).contains(&lo) || !(100..=999).contains(&hi) || lo > hi {
                return Err(bad(part));
            }
            for v in lo..=hi {
                bits[v as usize / 64] |= 1 << (v % 64);
            }
        }
        Ok(StatusSet(bits))
    }

    #[inline]
    pub fn contains(&self, status: u16) -> bool {
        let v = status as usize;
        v < 1024 && self.0[v / 64] & (1 << (v % 64)) != 0
    }
}

/// Parses `N` or `N..M` / `N-M` (inclusive) body sizes in bytes.
pub fn parse_size(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("invalid size {s:?}: give bytes like 1024, or a range like 100..200");
    let t = s.trim();
    let (a, b) = t
        .split_once("..")
        .or_else(|| t.split_once('-'))
        .unwrap_or((t, t));
    let (a, b): (u64, u64) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if a > b {
        return Err(bad());
    }
    Ok((a, b))
}

/// What a response must satisfy.
#[derive(Debug, Clone)]
pub struct Expect {
    pub status: Option<StatusSet>,
    body: Option<(Vec<u8>, Finder<'static>)>,
    regex: Option<Regex>,
    pub size: Option<(u64, u64)>,
    /// How much body a regex check may buffer.
    pub max_body: usize,
}

/// The expectation options as given (flags, or a targets-file line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectSpec {
    pub status: Option<String>,
    pub body: Option<String>,
    pub regex: Option<String>,
    pub size: Option<String>,
}

impl ExpectSpec {
    pub fn is_empty(&self) -> bool {
        *self == ExpectSpec::default()
    }

    /// Fills what this spec leaves open from `base` (a target's own options win).
    pub fn or(&self, base: &ExpectSpec) -> ExpectSpec {
        ExpectSpec {
            status: self.status.clone().or_else(|| base.status.clone()),
            body: self.body.clone().or_else(|| base.body.clone()),
            regex: self.regex.clone().or_else(|| base.regex.clone()),
            size: self.size.clone().or_else(|| base.size.clone()),
        }
    }

    /// Compiles the spec; `None` when it asks for nothing.
    pub fn compile(&self, max_body: usize) -> Result<Option<Expect>, String> {
        if self.is_empty() {
            return Ok(None);
        }
        let status = self.status.as_deref().map(StatusSet::parse).transpose()?;
        let size = self.size.as_deref().map(parse_size).transpose()?;
        let body = match &self.body {
            Some(b) if b.is_empty() => {
                return Err("--expect-body is empty: give the text the body must contain".into());
            }
            Some(b) => {
                let needle = b.as_bytes().to_vec();
                Some((needle.clone(), Finder::new(&needle).into_owned()))
            }
            None => None,
        };
        let regex = match &self.regex {
            Some(r) => {
                Some(Regex::new(r).map_err(|e| {
                    // The regex crate's message spans lines (pattern, caret, error):
                    // keep the error line, on one line with the pattern.
                    let msg = e.to_string();
                    let why = msg
                        .lines()
                        .rev()
                        .find_map(|l| l.trim().strip_prefix("error: "))
                        .unwrap_or(msg.trim())
                        .to_string();
                    format!("invalid --expect-body-regex {r:?}: regex parse error: {why}")
                })?)
            }
            None => None,
        };
        Ok(Some(Expect {
            status,
            body,
            regex,
            size,
            max_body,
        }))
    }
}

impl Expect {
    /// Whether the body must be looked at (not just its status).
    pub fn reads_body(&self) -> bool {
        self.body.is_some() || self.regex.is_some() || self.size.is_some()
    }
}

/// Per-connection check state, reset for every response.
#[derive(Debug, Default)]
pub struct Check {
    found: bool,
    /// The tail of the body seen so far that a needle could still start in.
    window: Vec<u8>,
    scratch: Vec<u8>,
    body_len: u64,
    /// The whole body, for a regex (up to max_body).
    buf: Vec<u8>,
    overflow: bool,
}

impl Check {
    pub fn reset(&mut self) {
        self.found = false;
        self.window.clear();
        self.body_len = 0;
        self.buf.clear();
        self.overflow = false;
    }

    /// Looks at the next piece of the body.
    pub fn feed(&mut self, exp: &Expect, piece: &[u8]) {
        self.body_len += piece.len() as u64;
        if let Some((needle, finder)) = &exp.body
            && !self.found
        {
            let keep = needle.len() - 1;
            if !self.window.is_empty() {
                // A needle straddling the previous piece and this one.
                self.scratch.clear();
                self.scratch.extend_from_slice(&self.window);
                self.scratch
                    .extend_from_slice(&piece[..piece.len().min(keep)]);
                self.found = finder.find(&self.scratch).is_some();
            }
            if !self.found {
                self.found = finder.find(piece).is_some();
            }
            if !self.found && keep > 0 {
                if piece.len() >= keep {
                    self.window.clear();
                    self.window.extend_from_slice(&piece[piece.len() - keep..]);
                } else {
                    self.window.extend_from_slice(piece);
                    let excess = self.window.len().saturating_sub(keep);
                    self.window.drain(..excess);
                }
            }
        }
        if exp.regex.is_some() && !self.overflow {
            if self.buf.len() + piece.len() > exp.max_body {
                self.overflow = true;
                self.buf = Vec::new();
            } else {
                self.buf.extend_from_slice(piece);
            }
        }
    }

    /// The verdict on a complete response.
    pub fn verdict(&self, exp: &Expect, status: u16) -> ErrorKind {
        if let Some(set) = &exp.status
            && !set.contains(status)
        {
            return ErrorKind::UnexpectedStatus;
        }
        if let Some((lo, hi)) = exp.size
            && !(lo..=hi).contains(&self.body_len)
        {
            return ErrorKind::SizeMismatch;
        }
        if exp.body.is_some() && !self.found {
            return ErrorKind::BodyMismatch;
        }
        if let Some(re) = &exp.regex {
            if self.overflow {
                return ErrorKind::BodyTooLarge;
            }
            if !re.is_match(&self.buf) {
                return ErrorKind::BodyMismatch;
            }
        }
        ErrorKind::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(
        status: Option<&str>,
        body: Option<&str>,
        regex: Option<&str>,
        size: Option<&str>,
    ) -> Expect {
        ExpectSpec {
            status: status.map(String::from),
            body: body.map(String::from),
            regex: regex.map(String::from),
            size: size.map(String::from),
        }
        .compile(64)
        .unwrap()
        .unwrap()
    }

    #[test]
    fn status_sets() {
        let s = StatusSet::parse("200, 3xx,404-405").unwrap();
        for (code, ok) in [
            (200, true),
            (201, false),
            (301, true),
            (399, true),
            (404, true),
            (405, true),
            (500, false),
            (0, false),
        ] {
            assert_eq!(s.contains(code), ok, "{code}");
        }
        for bad in ["", "abc", "20", "1000", "0xx", "300-200", "2x"] {
            assert!(StatusSet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("3").unwrap(), (3, 3));
        assert_eq!(parse_size("10..20").unwrap(), (10, 20));
        assert_eq!(parse_size("10-20").unwrap(), (10, 20));
        assert!(parse_size("20..10").is_err() && parse_size("x").is_err());
    }

    /// Feeds `body` in pieces cut at `cuts` and returns the verdict.
    fn check(exp: &Expect, body: &[u8], cuts: &[usize], status: u16) -> ErrorKind {
        let mut c = Check::default();
        let mut last = 0;
        for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
            c.feed(exp, &body[last..cut]);
            last = cut;
        }
        c.verdict(exp, status)
    }

    #[test]
    fn substring_found_across_every_split() {
        let exp = spec(None, Some("needle"), None, None);
        let body = b"hay hay hay needle hay";
        for a in 0..=body.len() {
            for b in a..=body.len() {
                assert_eq!(
                    check(&exp, body, &[a, b], 200),
                    ErrorKind::None,
                    "cuts {a},{b}"
                );
            }
        }
        let without = b"hay needl e hay nee dle";
        for a in 0..=without.len() {
            assert_eq!(
                check(&exp, without, &[a], 200),
                ErrorKind::BodyMismatch,
                "cut {a}"
            );
        }
        let single = spec(None, Some("x"), None, None);
        assert_eq!(check(&single, b"aaxaa", &[2, 3], 200), ErrorKind::None);
    }

    #[test]
    fn verdict_order_and_kinds() {
        let exp = spec(Some("200"), Some("ok"), Some("k\n$"), Some("2..3"));
        assert_eq!(check(&exp, b"ok\n", &[1], 200), ErrorKind::None);
        assert_eq!(check(&exp, b"ok\n", &[], 503), ErrorKind::UnexpectedStatus);
        assert_eq!(check(&exp, b"okay", &[], 200), ErrorKind::SizeMismatch);
        assert_eq!(check(&exp, b"no\n", &[], 200), ErrorKind::BodyMismatch);
        assert_eq!(
            check(&exp, b"oko", &[], 200),
            ErrorKind::BodyMismatch,
            "regex fails"
        );
        let big = spec(None, None, Some("z"), None);
        assert_eq!(
            check(&big, &[b'a'; 100], &[50], 200),
            ErrorKind::BodyTooLarge
        );
    }

    #[test]
    fn bad_specs() {
        let e = ExpectSpec {
            regex: Some("(".into()),
            ..Default::default()
        }
        .compile(10)
        .unwrap_err();
        assert!(e.contains("invalid --expect-body-regex"), "{e}");
        assert!(ExpectSpec::default().compile(10).unwrap().is_none());
        assert!(
            ExpectSpec {
                body: Some(String::new()),
                ..Default::default()
            }
            .compile(10)
            .is_err()
        );
    }
}
