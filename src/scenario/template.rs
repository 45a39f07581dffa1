//! `{{name}}` templates in a step's path, header values and body: compiled once into
//! literal and variable segments, rendered per request by appending to the caller's
//! buffer (no allocation once the buffer has grown to its working size).
//!
//! A variable is a slot (a data column or a captured value, whose current bytes the
//! virtual user holds) or a built-in: `{{vu}}` (the virtual user's number, from 1,
//! unique across processes and shards), `{{iteration}}` (that user's iteration, from
//! 1), `{{uuid}}` (a random version 4 UUID), `{{random A..B}}` (a whole number from A
//! to B inclusive) and `{{now_ms}}` (Unix time in milliseconds). Spaces inside the
//! braces are ignored. `{{` always opens a variable; there is no escape, and a `{{`
//! without its `}}` is an error.
//!
//! Where a value lands decides how it is written ([`Escape`]): in the path, bytes a
//! request line cannot carry (controls, space, non-ASCII, `"<>\^`{|}#`) are
//! percent-encoded, so a value cannot end the request line or add a header; in a
//! header value, control bytes other than tab are dropped. Neither can happen with the
//! values barrage stores (captures and data cells with a control byte are rejected
//! where they come in), so this is a second guard, not a feature. Bodies get the bytes
//! as they are.

use crate::scenario::rng::{Rng, write_uuid};

/// The built-in variables, as the error message lists them.
pub const BUILTINS: &str = "vu, iteration, uuid, random A..B, now_ms";

/// Whether `name` is a built-in's name (and so cannot name a column or a capture).
pub fn is_builtin(name: &str) -> bool {
    matches!(name, "vu" | "iteration" | "uuid" | "random" | "now_ms")
}

/// Whether `name` can name a column or a capture: letters, digits, `_` and `-`,
/// starting with a letter or `_`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A built-in variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Vu,
    Iteration,
    Uuid,
    Random(u64, u64),
    NowMs,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `lits[start..end]`.
    Literal(u32, u32),
    Slot(u16),
    Builtin(Builtin),
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    lits: Box<[u8]>,
    segs: Box<[Segment]>,
}

/// How a variable's bytes are written where they land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// As they are (bodies).
    None,
    /// Percent-encode what a request target cannot hold (paths).
    Path,
    /// Drop control bytes other than tab (header values).
    Header,
}

/// What rendering needs besides the template: the virtual user's slots and numbers,
/// its random generator, and the clock.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Current value of every slot (empty before it is set).
    pub slots: &'a [Vec<u8>],
    pub vu: u64,
    pub iteration: u64,
    /// Unix time in milliseconds, from the run's clock.
    pub unix_ms: u64,
    pub rng: &'a mut Rng,
}

/// A template that does not compile: `offset` is the byte in the template's text the
/// problem starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub msg: String,
}

impl Template {
    /// Compiles `text`. `slot` resolves a name that is not a built-in to its slot, or
    /// says why it cannot be used (unknown, or captured only by a later step).
    pub fn compile(
        text: &str,
        slot: &dyn Fn(&str) -> Result<u16, String>,
    ) -> Result<Template, TemplateError> {
        let mut lits = Vec::new();
        let mut segs = Vec::new();
        let mut rest = 0;
        while let Some(open) = text[rest..].find("{{").map(|i| rest + i) {
            let Some(close) = text[open + 2..].find("}}").map(|i| open + 2 + i) else {
                return Err(TemplateError {
                    offset: open,
                    msg: "'{{' is not closed: end the name with '}}'".into(),
                });
            };
            push_literal(&mut lits, &mut segs, &text[rest..open]);
            let inner = text[open + 2..close].trim();
            let var = variable(inner, slot).map_err(|msg| TemplateError { offset: open, msg })?;
            segs.push(var);
            rest = close + 2;
        }
        push_literal(&mut lits, &mut segs, &text[rest..]);
        Ok(Template {
            lits: lits.into(),
            segs: segs.into(),
        })
    }

    /// A template that is only `text`.
    pub fn literal(text: &str) -> Template {
        let mut lits = Vec::new();
        let mut segs = Vec::new();
        push_literal(&mut lits, &mut segs, text);
        Template {
            lits: lits.into(),
            segs: segs.into(),
        }
    }

    /// The template's text when it has no variables.
    pub fn as_literal(&self) -> Option<&[u8]> {
        match &*self.segs {
            [] => Some(&[]),
            [Segment::Literal(a, b)] => Some(&self.lits[*a as usize..*b as usize]),
            _ => None,
        }
    }

    /// The slots the template reads.
    pub fn slots(&self) -> impl Iterator<Item = u16> + '_ {
        self.segs.iter().filter_map(|s| match s {
            Segment::Slot(i) => Some(*i),
            _ => None,
        })
    }

    /// Appends the rendered template to `out`.
    pub fn render(&self, ctx: &mut Ctx<'_>, esc: Escape, out: &mut Vec<u8>) {
        for seg in self.segs.iter() {
            match *seg {
                Segment::Literal(a, b) => out.extend_from_slice(&self.lits[a as usize..b as usize]),
                Segment::Slot(i) => {
                    let v = ctx.slots.get(i as usize).map_or(&[][..], |v| &v[..]);
                    write_value(v, esc, out);
                }
                Segment::Builtin(b) => {
                    let mut num = itoa::Buffer::new();
                    match b {
                        Builtin::Vu => out.extend_from_slice(num.format(ctx.vu).as_bytes()),
                        Builtin::Iteration => {
                            out.extend_from_slice(num.format(ctx.iteration).as_bytes())
                        }
                        Builtin::NowMs => out.extend_from_slice(num.format(ctx.unix_ms).as_bytes()),
                        Builtin::Random(lo, hi) => {
                            let v = ctx.rng.range(lo, hi);
                            out.extend_from_slice(num.format(v).as_bytes());
                        }
                        Builtin::Uuid => write_uuid(&ctx.rng.uuid(), out),
                    }
                }
            }
        }
    }
}

fn push_literal(lits: &mut Vec<u8>, segs: &mut Vec<Segment>, text: &str) {
    if text.is_empty() {
        return;
    }
    let start = lits.len() as u32;
    lits.extend_from_slice(text.as_bytes());
    segs.push(Segment::Literal(start, lits.len() as u32));
}

/// The segment for the text between `{{` and `}}` (trimmed).
fn variable(inner: &str, slot: &dyn Fn(&str) -> Result<u16, String>) -> Result<Segment, String> {
    let b = |b| Ok(Segment::Builtin(b));
    match inner {
        "vu" => return b(Builtin::Vu),
        "iteration" => return b(Builtin::Iteration),
        "uuid" => return b(Builtin::Uuid),
        "now_ms" => return b(Builtin::NowMs),
        "" => return Err("'{{}}' names nothing: put a name between the braces".into()),
        _ => {}
    }
    if let Some(range) = inner.strip_prefix("random")
        && (range.is_empty() || range.starts_with(char::is_whitespace))
    {
        let bad = || {
            format!(
                "{{{{{inner}}}}}: write the range as {{{{random A..B}}}} with whole numbers A <= B, like {{{{random 1..1000}}}}"
            )
        };
        let (a, z) = range.trim().split_once("..").ok_or_else(bad)?;
        let (a, z): (u64, u64) = (
            a.trim().parse().map_err(|_| bad())?,
            z.trim().parse().map_err(|_| bad())?,
        );
        if a > z {
            return Err(bad());
        }
        return b(Builtin::Random(a, z));
    }
    if !valid_name(inner) {
        return Err(format!(
            "{{{{{inner}}}}} is not a name: names are letters, digits, _ and -, like {{{{token}}}}"
        ));
    }
    slot(inner).map(Segment::Slot)
}

/// Bytes a request target cannot carry as they are.
#[inline]
fn path_unsafe(c: u8) -> bool {
    c <= b' ' || c >= 0x7f || b"\"<>\\^`{|}#".contains(&c)
}

fn write_value(v: &[u8], esc: Escape, out: &mut Vec<u8>) {
    match esc {
        Escape::None => out.extend_from_slice(v),
        Escape::Path => {
            if !v.iter().any(|&c| path_unsafe(c)) {
                out.extend_from_slice(v);
                return;
            }
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            for &c in v {
                if path_unsafe(c) {
                    out.extend_from_slice(&[b'%', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
                } else {
                    out.push(c);
                }
            }
        }
        Escape::Header => out.extend(
            v.iter()
                .copied()
                .filter(|&c| c == b'\t' || (c >= b' ' && c != 0x7f)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names `a` (slot 0) and `b` (slot 1) are known; `later` is captured later.
    fn resolve(name: &str) -> Result<u16, String> {
        match name {
            "a" => Ok(0),
            "b" => Ok(1),
            "later" => Err("captured later".into()),
            _ => Err(format!("unknown {name}")),
        }
    }

    fn render(t: &Template, esc: Escape, slots: &[Vec<u8>]) -> String {
        let mut rng = Rng::new(1, 1);
        let mut ctx = Ctx {
            slots,
            vu: 7,
            iteration: 3,
            unix_ms: 1_700_000_000_123,
            rng: &mut rng,
        };
        let mut out = b">".to_vec();
        t.render(&mut ctx, esc, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn segments_render_in_order() {
        let slots = [b"x1".to_vec(), b"y".to_vec()];
        for (text, want) in [
            ("", ">"),
            ("plain", ">plain"),
            ("{{a}}", ">x1"),
            (
                "/u/{{ a }}/{{b}}?i={{iteration}}&v={{vu}}",
                ">/u/x1/y?i=3&v=7",
            ),
            ("{{a}}{{b}}{{a}}", ">x1yx1"),
            ("t={{now_ms}}", ">t=1700000000123"),
            ("{{random 5..5}}", ">5"),
            ("{\"a\": {\"b\": 1}}", ">{\"a\": {\"b\": 1}}"), // JSON braces are literal
            ("a}}b", ">a}}b"),
        ] {
            let t = Template::compile(text, &resolve).unwrap();
            assert_eq!(render(&t, Escape::None, &slots), want, "{text}");
        }
        let t = Template::compile("{{random 1..3}} {{uuid}}", &resolve).unwrap();
        let s = render(&t, Escape::None, &slots);
        assert!(matches!(&s[1..2], "1" | "2" | "3"), "{s}");
        assert_eq!(s.len(), 1 + 1 + 1 + 36, "{s}");
    }

    #[test]
    fn literals_and_slots_are_known_after_compiling() {
        let t = Template::compile("/x", &resolve).unwrap();
        assert_eq!(t.as_literal(), Some(&b"/x"[..]));
        assert_eq!(Template::literal("").as_literal(), Some(&b""[..]));
        let t = Template::compile("{{b}}-{{a}}-{{vu}}", &resolve).unwrap();
        assert_eq!(t.as_literal(), None);
        assert_eq!(t.slots().collect::<Vec<_>>(), [1, 0]);
    }

    /// Bad input: unknown names (a compile-time error with the position of its `{{`),
    /// unclosed braces, malformed random ranges.
    #[test]
    fn bad_templates() {
        for (text, offset, msg) in [
            ("/x/{{tokn}}", 3, "unknown tokn"),
            ("ab{{later}}", 2, "captured later"),
            ("{{a", 0, "'{{' is not closed"),
            ("{{a}} {{", 6, "'{{' is not closed"),
            ("{{}}", 0, "names nothing"),
            ("{{ two words }}", 0, "is not a name"),
            ("{{random}}", 0, "{{random A..B}}"),
            ("{{random 9..1}}", 0, "A <= B"),
            ("{{random 1..x}}", 0, "whole numbers"),
            ("{{random -1..3}}", 0, "whole numbers"),
        ] {
            let e = Template::compile(text, &resolve).unwrap_err();
            assert_eq!(e.offset, offset, "{text}");
            assert!(e.msg.contains(msg), "{text}: {}", e.msg);
        }
        // "randomness" is a name like any other, not a range.
        assert!(
            Template::compile("{{randomness}}", &resolve)
                .unwrap_err()
                .msg
                .contains("unknown randomness")
        );
    }

    /// A captured value cannot break the request line or add a header (CR/LF injection).
    #[test]
    fn values_cannot_inject_into_the_path_or_headers() {
        let evil = [b"a b\r\nX-Evil: 1#\xff%".to_vec(), b"ok".to_vec()];
        let t = Template::compile("/p?v={{a}}&w={{b}}", &resolve).unwrap();
        assert_eq!(
            render(&t, Escape::Path, &evil),
            ">/p?v=a%20b%0D%0AX-Evil:%201%23%FF%&w=ok"
        );
        let h = Template::compile("Bearer {{a}}", &resolve).unwrap();
        let mut rng = Rng::new(1, 1);
        let mut out = Vec::new();
        h.render(
            &mut Ctx {
                slots: &evil,
                vu: 1,
                iteration: 1,
                unix_ms: 0,
                rng: &mut rng,
            },
            Escape::Header,
            &mut out,
        );
        assert_eq!(out, b"Bearer a bX-Evil: 1#\xff%");
        // A body gets the bytes as they are.
        assert!(render(&t, Escape::None, &evil).contains("\r\n"));
    }

    #[test]
    fn names() {
        for (n, ok) in [
            ("user", true),
            ("_x1", true),
            ("a-b", true),
            ("1a", false),
            ("", false),
            ("a b", false),
            ("a.b", false),
        ] {
            assert_eq!(valid_name(n), ok, "{n}");
        }
        assert!(is_builtin("uuid") && is_builtin("random") && !is_builtin("user"));
    }
}
