//! What is sent: request definitions from the command line (`-m`, `-H`, `-b`,
//! `--body-file`, `-T`) or a targets file (vegeta's format, plus weights), turned
//! into exact request bytes once, before any load. The hot path only ever copies
//! these bytes to the socket.

use std::path::{Path, PathBuf};

use crate::cli::config::{ConfigError, Url, parse_url};
use crate::wire::expect::ExpectSpec;

/// One request as the user described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    pub method: String,
    pub url: Url,
    /// Header lines as given, "Name: value".
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub weight: u32,
    /// Response checks of this target (filled from the flags where left open).
    pub expect: ExpectSpec,
    /// Where it was defined, for messages ("targets.txt line 4", "the command line").
    pub origin: String,
}

/// Checks a header line and splits it into name and value.
pub fn parse_header(line: &str, origin: &str) -> Result<(String, String), ConfigError> {
    let bad = |why: &str| ConfigError::Invalid(format!("{origin}: header {line:?} {why}"));
    if line.contains(['\r', '\n']) {
        return Err(bad("contains CR or LF: give one header per -H"));
    }
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| bad("has no colon: write it as \"Name: value\""))?;
    let name = name.trim();
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(bad("has an invalid name: use letters, digits and -"));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(bad("has control characters in its value"));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

fn method_ok(m: &str) -> bool {
    !m.is_empty()
        && m.chars()
            .all(|c| c.is_ascii_uppercase() || c == '-' || c == '_')
}

/// The request bytes for `spec`, with warnings about inconsistencies the user asked
/// for (a Content-Length that does not match the body).
pub fn build(spec: &RequestSpec, keepalive: bool) -> (Vec<u8>, Vec<String>) {
    let mut warnings = Vec::new();
    let has = |name: &str| {
        spec.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let mut r = format!("{} {} HTTP/1.1\r\n", spec.method, spec.url.path);
    if !has("host") {
        r.push_str(&format!("Host: {}\r\n", spec.url.authority));
    }
    if !has("user-agent") {
        r.push_str(&format!(
            "User-Agent: barrage/{}\r\n",
            env!("CARGO_PKG_VERSION")
        ));
    }
    let wants_length =
        !spec.body.is_empty() || matches!(spec.method.as_str(), "POST" | "PUT" | "PATCH");
    if wants_length && !has("content-length") {
        r.push_str(&format!("Content-Length: {}\r\n", spec.body.len()));
    }
    if !keepalive && !has("connection") {
        r.push_str("Connection: close\r\n");
    }
    for (n, v) in &spec.headers {
        if n.eq_ignore_ascii_case("content-length")
            && v.trim().parse::<usize>().ok() != Some(spec.body.len())
        {
            warnings.push(format!(
                "{}: Content-Length: {v} but the body is {} bytes; the request is sent as given and the server may wait or misread it",
                spec.origin,
                spec.body.len()
            ));
        }
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(&spec.body);
    (bytes, warnings)
}

/// Reads a body file, naming it on failure.
pub fn read_body(path: &Path, origin: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| {
        ConfigError::Invalid(format!(
            "{origin}: cannot read body file {}: {e}",
            path.display()
        ))
    })
}

/// Decodes `%XX` escapes (a malformed escape stays as it is), and `+` as a space
/// when `plus_is_space` (query strings). Targets files use it so a value can hold
/// spaces (`expect-body=two%20words`); `barrage serve` for its query parameters.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let hex = |i: usize| b.get(i).and_then(|&c| (c as char).to_digit(16));
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn decode_value(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode(s, false)).into_owned()
}

/// Parses a targets file.
///
/// ```text
/// GET http://127.0.0.1:8080/a weight=3
/// X-Trace: 1
///
/// POST http://127.0.0.1:8080/b
/// Content-Type: application/json
/// @body.json
/// ```
pub fn parse_targets(path: &Path) -> Result<Vec<RequestSpec>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::Invalid(format!("cannot read targets file {}: {e}", path.display()))
    })?;
    let base: PathBuf = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = path.display().to_string();
    let mut out: Vec<RequestSpec> = Vec::new();
    let mut open = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let origin = format!("{name} line {}", i + 1);
        if line.is_empty() {
            open = false;
            continue;
        }
        if line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        let second = words.next().unwrap_or("");
        if method_ok(first) && second.contains("://") {
            let url =
                parse_url(second).map_err(|e| ConfigError::Invalid(format!("{origin}: {e}")))?;
            let mut weight = 1;
            let mut expect = ExpectSpec::default();
            for opt in words {
                match opt.split_once('=') {
                    Some(("expect-status", v)) => expect.status = Some(v.to_string()),
                    Some(("expect-body", v)) => expect.body = Some(decode_value(v)),
                    Some(("expect-regex", v)) => expect.regex = Some(decode_value(v)),
                    Some(("expect-size", v)) => expect.size = Some(v.to_string()),
                    Some(("weight", w)) => {
                        weight = w
                            .parse()
                            .ok()
                            .filter(|w| *w > 0 && *w <= 10_000)
                            .ok_or_else(|| {
                                ConfigError::Invalid(format!(
                                    "{origin}: weight {w:?} must be a whole number from 1 to 10000"
                                ))
                            })?;
                    }
                    _ => {
                        return Err(ConfigError::Invalid(format!(
                            "{origin}: unknown option {opt:?} after the URL (weight=N, expect-status=, expect-body=, expect-regex=, expect-size=)"
                        )));
                    }
                }
            }
            out.push(RequestSpec {
                method: first.to_string(),
                url,
                headers: Vec::new(),
                body: Vec::new(),
                weight,
                expect,
                origin,
            });
            open = true;
            continue;
        }
        if !open {
            return Err(ConfigError::Invalid(format!(
                "{origin}: expected \"METHOD URL\" (like GET http://host/path), found {line:?}"
            )));
        }
        let t = out.last_mut().expect("open target");
        if let Some(file) = line.strip_prefix('@') {
            let p = base.join(file.trim());
            t.body = read_body(&p, &origin)?;
        } else {
            t.headers.push(parse_header(line, &origin)?);
        }
    }
    if out.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "targets file {name} has no targets: add lines like \"GET http://127.0.0.1:8080/\""
        )));
    }
    if out.len() > u16::MAX as usize {
        return Err(ConfigError::Invalid(format!(
            "targets file {name} has more than {} targets",
            u16::MAX
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(method: &str, headers: &[(&str, &str)], body: &[u8], keep: bool) -> String {
        let s = RequestSpec {
            method: method.into(),
            url: parse_url("http://h:81/p?q").unwrap(),
            headers: headers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            body: body.to_vec(),
            weight: 1,
            expect: ExpectSpec::default(),
            origin: "test".into(),
        };
        String::from_utf8(build(&s, keep).0).unwrap()
    }

    #[test]
    fn request_bytes() {
        let v = env!("CARGO_PKG_VERSION");
        assert_eq!(
            spec("GET", &[], b"", true),
            format!("GET /p?q HTTP/1.1\r\nHost: h:81\r\nUser-Agent: barrage/{v}\r\n\r\n")
        );
        assert_eq!(
            spec(
                "POST",
                &[("Content-Type", "text/plain"), ("X-A", "1")],
                b"hello",
                false
            ),
            format!(
                "POST /p?q HTTP/1.1\r\nHost: h:81\r\nUser-Agent: barrage/{v}\r\nContent-Length: 5\r\nConnection: close\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\nhello"
            )
        );
        assert!(spec("PUT", &[], b"", true).contains("Content-Length: 0\r\n"));
        let own = spec("GET", &[("Host", "other"), ("User-Agent", "me")], b"", true);
        assert!(
            own.contains("Host: other\r\n")
                && !own.contains("Host: h:81")
                && !own.contains("barrage/")
        );
    }

    #[test]
    fn content_length_mismatch_warns() {
        let s = RequestSpec {
            method: "POST".into(),
            url: parse_url("http://h/").unwrap(),
            headers: vec![("Content-Length".into(), "99".into())],
            body: b"abc".to_vec(),
            weight: 1,
            expect: ExpectSpec::default(),
            origin: "-H".into(),
        };
        let (bytes, warnings) = build(&s, true);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            String::from_utf8(bytes)
                .unwrap()
                .matches("Content-Length")
                .count()
                == 1
        );
    }

    #[test]
    fn headers_are_checked() {
        assert_eq!(
            parse_header("X-A:  b c ", "t").unwrap(),
            ("X-A".into(), "b c".into())
        );
        for (h, want) in [
            ("NoColon", "no colon"),
            ("X: a\r\nB: c", "CR or LF"),
            ("Bad Name: x", "invalid name"),
            (": x", "invalid name"),
        ] {
            let e = parse_header(h, "-H").unwrap_err().to_string();
            assert!(e.contains(want), "{h:?}: {e}");
        }
    }

    #[test]
    fn targets_file() {
        let dir = std::env::temp_dir().join(format!("barrage-targets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("body.json"), b"{\"a\":1}").unwrap();
        let f = dir.join("targets.txt");
        std::fs::write(
            &f,
            "# comment\nGET http://127.0.0.1:8080/a weight=3\nX-Trace: 1\n\nPOST http://127.0.0.1:8080/b\nContent-Type: application/json\n@body.json\nGET http://127.0.0.1:8080/c\n",
        )
        .unwrap();
        let t = parse_targets(&f).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!((t[0].weight, t[0].headers.len()), (3, 1));
        assert_eq!(t[1].body, b"{\"a\":1}");
        assert_eq!(t[2].url.path, "/c");
        let bad = [
            ("", "has no targets"),
            ("X-Header: 1\n", "line 1: expected \"METHOD URL\""),
            ("GET http://h/\n\nGET http://h:0/\n", "line 3: invalid URL"),
            ("GET http://h/ weight=0\n", "line 1: weight"),
            (
                "GET http://h/\n@missing.bin\n", "line 2: cannot read body file",
            ),
            ("GET http://h/\nbad header\n", "line 2: header"),
        ];
        for (body, want) in bad {
            std::fs::write(&f, body).unwrap();
            let e = parse_targets(&f).unwrap_err().to_string();
            assert!(e.contains(want), "{body:?}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
