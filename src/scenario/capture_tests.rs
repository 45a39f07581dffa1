//! Tests of `capture.rs`: JSON Pointers, regexes, headers, and every bad capture.

use super::*;
use crate::scenario::file::RawFile;

/// Compiles the capture `toml` (the inline table's text) as slot 0.
fn compile(table: &str) -> Result<Capture, String> {
    let text = format!(
        "[[scenario]]\nname = \"s\"\n[[scenario.step]]\nname = \"a\"\npath = \"/\"\ncapture = {{ v = {table} }}\n"
    );
    let src = Source {
        name: "c.toml".into(),
        text,
    };
    let f: RawFile = crate::scenario::file::parse(&src).map_err(|e| e.to_string())?;
    let step = f.scenario[0].get_ref().step[0].get_ref();
    let (_, raw) = step.capture.iter().next().unwrap();
    Capture::compile(raw.get_ref(), raw.span(), 0, &mut 0, &src).map_err(|e| e.to_string())
}

fn apply(c: &Capture, head: &str, body: &str) -> Option<String> {
    let mut scratch = Scratch::new(std::iter::once(c));
    let mut out = b"stale".to_vec();
    let found = c.apply(head.as_bytes(), body.as_bytes(), &mut scratch, &mut out);
    if !found {
        assert!(out.is_empty(), "out is cleared when nothing is found");
    }
    found.then(|| String::from_utf8(out).unwrap())
}

const BODY: &str = r#"{"token": "t-1", "n": 1.50, "ok": true, "none": null,
    "items": [{"id": 7, "name": "a"}, {"id": 9, "tags": ["x", "y z"]}],
    "a/b": 1, "m~n": 2, "esc\"aped": "q\"uo\u0041\n", "": "empty key"}"#;

#[test]
fn json_pointers() {
    for (pointer, want) in [
        ("/token", Some("t-1")),
        ("/n", Some("1.50")), // as written
        ("/ok", Some("true")),
        ("/none", None), // null is nothing
        ("/missing", None),
        ("/items/0/id", Some("7")),
        ("/items/1/id", Some("9")),
        ("/items/2/id", None),
        ("/items/01", None), // a leading zero is not an index
        ("/items/-", None),
        ("/items/1/tags", Some(r#"["x","y z"]"#)),
        ("/items/0", Some(r#"{"id":7,"name":"a"}"#)),
        ("/token/x", None), // into a string
        ("/a~1b", Some("1")),
        ("/m~0n", Some("2")),
        ("/esc\"aped", None), // decoded value has a newline: refused
        ("/", Some("empty key")),
    ] {
        let c = compile(&format!("{{ json = '{pointer}' }}")).unwrap();
        assert_eq!(apply(&c, "", BODY).as_deref(), want, "{pointer}");
    }
    let whole = compile("{ json = '' }").unwrap();
    assert_eq!(apply(&whole, "", " 42 ").as_deref(), Some("42"));
    let c = compile("{ json = '/a' }").unwrap();
    assert_eq!(apply(&c, "", r#"{"a": "x\ty"}"#).as_deref(), Some("x\ty"));
    assert_eq!(apply(&c, "", r#"{"a": "\u00e9"}"#).as_deref(), Some("é"));
    assert_eq!(
        apply(&c, "", r#"{"a": "x\/y \ud83d\ude00 \"q\" \\ \u0041"}"#).as_deref(),
        Some("x/y 😀 \"q\" \\ A")
    );
    assert_eq!(
        apply(&c, "", r#"{"a": "\ud800 lone"}"#).as_deref(),
        Some("\u{fffd} lone")
    );
    // Duplicate names: the first one.
    assert_eq!(apply(&c, "", r#"{"a": 1, "a": 2}"#).as_deref(), Some("1"));
    // Not JSON, truncated, or JSON after the value is broken: found or not by what
    // came before it.
    assert_eq!(apply(&c, "", "<html>").as_deref(), None);
    assert_eq!(apply(&c, "", r#"{"b": [1, 2"#).as_deref(), None);
    assert_eq!(apply(&c, "", r#"{"a": 5, "b": ]"#).as_deref(), Some("5"));
    assert_eq!(apply(&c, "", "").as_deref(), None);
}

const HEAD: &str = "HTTP/1.1 200 OK\r\nSet-Cookie: theme=dark; Path=/\r\nset-cookie: sid=abc123; HttpOnly\r\nX-Token:  tok \r\n\r\n";

#[test]
fn regexes_and_headers() {
    let body_re = compile(r#"{ regex = '"id":\s*(\d+)' }"#).unwrap();
    assert!(body_re.reads_body());
    assert_eq!(apply(&body_re, "", BODY).as_deref(), Some("7"));
    assert_eq!(apply(&body_re, "", "no ids").as_deref(), None);
    let optional = compile("{ regex = 'a(x)?b' }").unwrap();
    assert_eq!(apply(&optional, "", "ab").as_deref(), None); // the group took no part
    assert_eq!(apply(&optional, "", "axb").as_deref(), Some("x"));

    let sid = compile(r#"{ header = "Set-Cookie", regex = "sid=([^;]+)" }"#).unwrap();
    assert!(!sid.reads_body());
    assert_eq!(apply(&sid, HEAD, "sid=body").as_deref(), Some("abc123"));
    let whole = compile(r#"{ header = "x-token" }"#).unwrap();
    assert_eq!(apply(&whole, HEAD, "").as_deref(), Some("tok"));
    let absent = compile(r#"{ header = "X-None" }"#).unwrap();
    assert_eq!(apply(&absent, HEAD, "").as_deref(), None);
    // A header's value never holds CR/LF; a body match that does is refused.
    let line = compile(r#"{ regex = '(?s)a(.*)z' }"#).unwrap();
    assert_eq!(apply(&line, "", "a1\r\n2z").as_deref(), None);
    assert_eq!(apply(&line, "", "a1\t2z").as_deref(), Some("1\t2"));
}

#[test]
fn header_lines() {
    let v: Vec<&[u8]> = header_values(HEAD.as_bytes(), "SET-COOKIE").collect();
    assert_eq!(v, [&b"theme=dark; Path=/"[..], b"sid=abc123; HttpOnly"]);
    // The status line is not a header, and nothing after the blank line is.
    let odd = b"Set-Cookie: no\nA: 1\nbad line\nA:2\n\nA: body";
    assert_eq!(
        header_values(odd, "a").collect::<Vec<_>>(),
        [&b"1"[..], b"2"]
    );
    assert_eq!(header_values(odd, "set-cookie").count(), 0);
}

/// Bad input: invalid JSON Pointer or regex, captures that say neither where nor
/// how. Each error names the value's line and column.
#[test]
fn bad_captures() {
    for (table, want) in [
        (
            "{ json = 'token' }",
            "c.toml:6:26: invalid JSON Pointer \"token\": it must start with /",
        ),
        (
            "{ json = '/a~2' }",
            "c.toml:6:26: invalid JSON Pointer \"/a~2\": ~ must be followed by 0 or 1",
        ),
        (
            "{ regex = '(' }",
            "c.toml:6:27: invalid regex \"(\": unclosed group",
        ),
        (
            "{ regex = 'sid=.*' }",
            "c.toml:6:27: regex \"sid=.*\" has no group: put the part",
        ),
        (
            "{ json = '/a', regex = '(x)' }",
            "c.toml:6:26: a capture takes json or regex, not both",
        ),
        (
            "{ header = 'X', json = '/a' }",
            "c.toml:6:40: json reads the body, not a header",
        ),
        (
            "{ header = 'a b' }",
            "c.toml:6:28: header \"a b\" is not a header name",
        ),
        ("{ }", "c.toml:6:17: say where the value is"),
    ] {
        let e = compile(table).unwrap_err();
        assert!(e.starts_with(want), "{table}\n got: {e}\nwant: {want}");
    }
}

#[test]
fn scratch_has_one_slot_per_regex() {
    let src = Source {
        name: "x".into(),
        text: String::new(),
    };
    let raw = |re: &str| RawCapture {
        json: None,
        regex: Some(toml::Spanned::new(0..0, re.to_string())),
        header: None,
    };
    let mut n = 0;
    let a = Capture::compile(&raw("(a)"), 0..0, 0, &mut n, &src).unwrap();
    let b = Capture::compile(&raw("(b)(c)"), 0..0, 1, &mut n, &src).unwrap();
    assert_eq!(n, 2);
    let mut s = Scratch::new([&b, &a].into_iter());
    let mut out = Vec::new();
    assert!(b.apply(b"", b"xbc", &mut s, &mut out));
    assert_eq!(out, b"b");
    assert!(a.apply(b"", b"xa", &mut s, &mut out));
    assert_eq!(out, b"a");
}
