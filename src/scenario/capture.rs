//! Captures: values taken from a finished response for later steps' templates.
//!
//! - `json = "/items/0/id"`: a JSON Pointer (RFC 6901) into the body. The body is
//!   walked with serde_json without building a tree (what is off the pointer's path
//!   is skipped). A string is captured decoded; a number, `true` or `false` as
//!   written; an object or array as its JSON text without the whitespace between
//!   tokens; `null` or a missing member counts as nothing found.
//! - `regex = 'id=(\d+)'`: the first group of the first match in the body.
//! - `header = "Set-Cookie", regex = "sid=([^;]+)"`: the first group of the first
//!   match in the values of that header (every header of that name, in order);
//!   `header` alone captures the first such header's whole value.
//!
//! Everything is compiled once (regexes, the pointer split into its reference tokens).
//! Applying a capture writes into the virtual user's slot buffer and allocates nothing
//! once warm: the regex's group positions live in a per-user [`Scratch`].
//!
//! A capture that finds nothing fails its step as `capture failed`
//! ([`ErrorKind::CaptureFailed`](crate::record::ErrorKind)). So does a value
//! holding a control byte other than tab (CR, LF, NUL...): a slot never holds one,
//! which is what keeps a captured value from splitting a header or the request line.

use std::ops::Range;

use regex::bytes::{CaptureLocations, Regex};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::scenario::error::{ScenarioError, Source};
use crate::scenario::file::RawCapture;

/// Where a capture looks.
#[derive(Debug, Clone)]
enum Place {
    Body,
    /// Header name, as written (compared ignoring case).
    Header(Box<str>),
}

/// How it finds the value there.
#[derive(Debug, Clone)]
enum Find {
    /// Decoded reference tokens of a JSON Pointer.
    Json(Box<[Box<str>]>),
    /// A regex and its index among the set's regex captures (for [`Scratch`]).
    Regex(Regex, usize),
    /// The whole (header) value.
    Whole,
}

/// One compiled capture.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The slot it writes.
    pub slot: u16,
    place: Place,
    find: Find,
}

/// Per-virtual-user working memory for applying captures: one set of group positions
/// per regex capture, so matching allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    locs: Vec<CaptureLocations>,
}

impl Scratch {
    /// Scratch for every capture of a scenario set (in any order).
    pub fn new<'a>(captures: impl Iterator<Item = &'a Capture>) -> Scratch {
        let mut regexes: Vec<(usize, &Regex)> = captures
            .filter_map(|c| match &c.find {
                Find::Regex(re, i) => Some((*i, re)),
                _ => None,
            })
            .collect();
        regexes.sort_by_key(|(i, _)| *i);
        Scratch {
            locs: regexes
                .iter()
                .map(|(_, re)| re.capture_locations())
                .collect(),
        }
    }
}

impl Capture {
    /// Compiles one capture table. `span` is the table's place in the file (for a
    /// table that says neither where nor how); `regex_index` numbers regex captures
    /// across the set and is advanced for this one.
    pub fn compile(
        raw: &RawCapture,
        span: Range<usize>,
        slot: u16,
        regex_index: &mut usize,
        src: &Source,
    ) -> Result<Capture, ScenarioError> {
        let place = match &raw.header {
            Some(h) => {
                let name = h.get_ref();
                let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
                if name.is_empty() || !name.chars().all(token) {
                    return Err(src.error(
                        h.span(),
                        format!("header {name:?} is not a header name: use letters, digits and -, like \"Set-Cookie\""),
                    ));
                }
                Place::Header(name.as_str().into())
            }
            None => Place::Body,
        };
        let find = match (&raw.json, &raw.regex) {
            (Some(j), Some(_)) => {
                return Err(src.error(
                    j.span(),
                    "a capture takes json or regex, not both: keep one",
                ));
            }
            (Some(j), None) => {
                if let Place::Header(_) = place {
                    return Err(src.error(
                        j.span(),
                        "json reads the body, not a header: drop header, or use regex with it",
                    ));
                }
                let tokens = parse_pointer(j.get_ref()).map_err(|why| src.error(j.span(), why))?;
                Find::Json(tokens)
            }
            (None, Some(r)) => {
                let re = Regex::new(r.get_ref())
                    .map_err(|e| src.error(r.span(), regex_message(r.get_ref(), &e)))?;
                if re.captures_len() < 2 {
                    return Err(src.error(
                        r.span(),
                        format!("regex {:?} has no group: put the part to capture in parentheses, like sid=([^;]+)", r.get_ref()),
                    ));
                }
                *regex_index += 1;
                Find::Regex(re, *regex_index - 1)
            }
            (None, None) => match place {
                Place::Header(_) => Find::Whole,
                Place::Body => {
                    return Err(src.error(
                        span,
                        "say where the value is: json = \"/pointer\", regex = '(group)', or header = \"Name\" (with or without regex)",
                    ));
                }
            },
        };
        Ok(Capture { slot, place, find })
    }

    /// Whether the capture reads the body (so the engine must keep it, up to
    /// `--max-body`); otherwise it reads only the head.
    pub fn reads_body(&self) -> bool {
        matches!(self.place, Place::Body)
    }

    /// Applies the capture to a finished response: `head` is its head as received
    /// (status line and header lines), `body` its decoded body. Writes the value into
    /// `out` (cleared first) and says whether one was found; on false `out` is empty.
    pub fn apply(
        &self,
        head: &[u8],
        body: &[u8],
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> bool {
        out.clear();
        let found = match (&self.place, &self.find) {
            (Place::Body, Find::Json(tokens)) => json_find(body, tokens, out),
            (Place::Body, Find::Regex(re, i)) => regex_find(re, &mut scratch.locs[*i], body, out),
            (Place::Header(name), Find::Regex(re, i)) => {
                header_values(head, name).any(|v| regex_find(re, &mut scratch.locs[*i], v, out))
            }
            (Place::Header(name), _) => match header_values(head, name).next() {
                Some(v) => {
                    out.extend_from_slice(v);
                    true
                }
                None => false,
            },
            (Place::Body, Find::Whole) => false, // not built by compile
        };
        if !found || out.iter().any(|&c| (c < b' ' && c != b'\t') || c == 0x7f) {
            out.clear();
            return false;
        }
        true
    }
}

/// The values of every header named `name` (ignoring case) in a response head, in
/// order, trimmed. Lines without a colon are skipped; the head ends at its first
/// empty line.
pub fn header_values<'h>(head: &'h [u8], name: &'h str) -> impl Iterator<Item = &'h [u8]> + 'h {
    head.split(|&c| c == b'\n')
        .skip(1) // the status line
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
        .filter_map(move |l| {
            let colon = l.iter().position(|&c| c == b':')?;
            if !l[..colon].eq_ignore_ascii_case(name.as_bytes()) {
                return None;
            }
            Some(l[colon + 1..].trim_ascii())
        })
}

/// The regex crate's error on one line.
pub fn regex_message(pattern: &str, e: &regex::Error) -> String {
    let msg = e.to_string();
    let why = msg
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(msg.trim());
    format!(
        "invalid regex {pattern:?}: {why}: correct the pattern (Rust regex syntax; in TOML a 'single-quoted' string keeps backslashes as written)"
    )
}

/// Splits a JSON Pointer into its decoded reference tokens.
fn parse_pointer(p: &str) -> Result<Box<[Box<str>]>, String> {
    if p.is_empty() {
        return Ok(Box::new([]));
    }
    let Some(rest) = p.strip_prefix('/') else {
        return Err(format!(
            "invalid JSON Pointer {p:?}: it must start with /, like /token or /items/0/id (or be \"\" for the whole body)"
        ));
    };
    rest.split('/')
        .map(|t| {
            let mut out = String::with_capacity(t.len());
            let mut chars = t.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => {
                        return Err(format!(
                            "invalid JSON Pointer {p:?}: ~ must be followed by 0 or 1 (~0 is ~, ~1 is /)"
                        ));
                    }
                }
            }
            Ok(out.into_boxed_str())
        })
        .collect()
}

fn regex_find(re: &Regex, locs: &mut CaptureLocations, hay: &[u8], out: &mut Vec<u8>) -> bool {
    if re.captures_read(locs, hay).is_none() {
        return false;
    }
    match locs.get(1) {
        Some((a, b)) => {
            out.extend_from_slice(&hay[a..b]);
            true
        }
        None => false, // the group did not take part in the match
    }
}

/// Walks `body` to the pointer's value and writes it to `out`.
///
/// The walk reads the whole body (serde_json has no way to stop early without
/// building an error, and an error allocates); what is not on the pointer's path is
/// skipped with `IgnoredAny`, which allocates nothing. A body that is not JSON up to
/// the value finds nothing; a value found before the body breaks is found.
fn json_find(body: &[u8], tokens: &[Box<str>], out: &mut Vec<u8>) -> bool {
    let mut found = false;
    let mut de = serde_json::Deserializer::from_slice(body);
    // A value found before the body stops being JSON is still found.
    let _ = Walk {
        tokens,
        out,
        found: &mut found,
    }
    .deserialize(&mut de);
    found
}

/// A [`DeserializeSeed`] that follows the rest of a pointer.
struct Walk<'a> {
    tokens: &'a [Box<str>],
    out: &'a mut Vec<u8>,
    found: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if !self.tokens.is_empty() {
            return d.deserialize_any(self);
        }
        let raw = <&RawValue as de::Deserialize>::deserialize(d)?;
        *self.found = write_json_value(raw.get(), self.out);
        Ok(())
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (token, rest) = (&self.tokens[0], &self.tokens[1..]);
        let mut seen = false;
        // The first member of that name is the one (a JSON object's names should be
        // unique; RFC 8259 leaves duplicates to the reader).
        while let Some(is_it) = map.next_key_seed(KeyIs(token, seen))? {
            if is_it {
                seen = true;
                map.next_value_seed(Walk {
                    tokens: rest,
                    out: &mut *self.out,
                    found: &mut *self.found,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (token, rest) = (&self.tokens[0], &self.tokens[1..]);
        // RFC 6901: an array index is 0 or digits without a leading zero.
        let index = match token.as_bytes() {
            [b'0'] => Some(0),
            [b'1'..=b'9', ..] => token.parse::<usize>().ok(),
            _ => None,
        };
        let mut i = 0;
        loop {
            let more = if Some(i) == index {
                seq.next_element_seed(Walk {
                    tokens: rest,
                    out: &mut *self.out,
                    found: &mut *self.found,
                })?
                .is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    // A scalar where the pointer goes on: nothing found (and no error, which would
    // allocate).
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A map key: is it this token (and not seen before)? Compares without allocating,
/// escaped keys included (serde_json unescapes into its own scratch buffer).
struct KeyIs<'a>(&'a str, bool);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(!self.1 && v == self.0)
    }
}

/// Writes the value whose JSON text is `raw`; false for `null`.
fn write_json_value(raw: &str, out: &mut Vec<u8>) -> bool {
    match raw.as_bytes().first() {
        Some(b'"') => unescape(&raw.as_bytes()[1..raw.len() - 1], out),
        Some(b'{' | b'[') => {
            // Compact: drop the whitespace between tokens, keep strings as written.
            let (mut in_str, mut escaped) = (false, false);
            for &c in raw.as_bytes() {
                if in_str {
                    out.push(c);
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, b'\\') => escaped = true,
                        (false, b'"') => in_str = false,
                        _ => {}
                    }
                } else if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                    in_str = c == b'"';
                    out.push(c);
                }
            }
            true
        }
        _ if raw == "null" => false,
        _ => {
            out.extend_from_slice(raw.as_bytes());
            true
        }
    }
}

/// Appends the text of a JSON string's inside (serde_json has checked its escapes);
/// false if an escape is malformed after all.
fn unescape(s: &[u8], out: &mut Vec<u8>) -> bool {
    let hex4 = |at: usize| -> Option<u32> {
        let d = s.get(at..at + 4)?;
        let text = std::str::from_utf8(d).ok()?;
        u32::from_str_radix(text, 16).ok()
    };
    let mut i = 0;
    while i < s.len() {
        let Some(off) = s[i..].iter().position(|&c| c == b'\\') else {
            out.extend_from_slice(&s[i..]);
            return true;
        };
        out.extend_from_slice(&s[i..i + off]);
        i += off + 1;
        let simple = match s.get(i) {
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'/') => b'/',
            Some(b'b') => 8,
            Some(b'f') => 12,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'u') => {
                let Some(mut code) = hex4(i + 1) else {
                    return false;
                };
                i += 5;
                if (0xD800..0xDC00).contains(&code)
                    && s.get(i..i + 2) == Some(b"\\u")
                    && let Some(low) = hex4(i + 2).filter(|l| (0xDC00..0xE000).contains(l))
                {
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    i += 6;
                }
                let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes());
                continue;
            }
            _ => return false,
        };
        out.push(simple);
        i += 1;
    }
    true
}

#[cfg(test)]
#[path = "capture_tests.rs"]
mod tests;
