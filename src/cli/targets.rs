//! The requests to send, as the user described them: `-m`, `-H`, `-b`, `--body-file`
//! and `--content-type` on the command line, or a targets file (vegeta's format, plus
//! weights and per-target response checks). Each becomes a [`RequestSpec`], checked
//! here; `config.rs` turns them into request bytes (`wire::request`) once, before any
//! load.

use std::path::{Path, PathBuf};

use crate::cli::args::RunArgs;
use crate::cli::config::{ConfigError, invalid};
use crate::cli::url::{Url, parse_url};
use crate::wire::expect::ExpectSpec;
use crate::wire::request::{Parts, percent_decode};

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

impl RequestSpec {
    /// The parts its request bytes are built from.
    pub fn parts(&self) -> Parts<'_> {
        Parts {
            method: &self.method,
            authority: &self.url.authority,
            path: &self.url.path,
            headers: &self.headers,
            body: &self.body,
        }
    }

    /// A Content-Length header the body does not match: the request is sent as given
    /// (the user may be testing exactly that), with a warning.
    pub fn length_warnings(&self) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, v)| {
                n.eq_ignore_ascii_case("content-length")
                    && v.trim().parse::<usize>().ok() != Some(self.body.len())
            })
            .map(|(_, v)| {
                format!(
                    "{}: Content-Length: {v} but the body is {} bytes; the request is sent as given and the server may wait or misread it",
                    self.origin,
                    self.body.len()
                )
            })
            .collect()
    }
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

/// The requests of a run: the URL with `-m/-H/-b`, or every target of a targets file
/// with the command line's headers and body filled in where the target has none.
pub fn request_specs(a: &RunArgs) -> Result<Vec<RequestSpec>, ConfigError> {
    let method = a.method.to_ascii_uppercase();
    if method.is_empty()
        || !method
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '-' || c == '_')
    {
        return Err(invalid(format!(
            "--method {:?} is not an HTTP method name (like GET or POST)",
            a.method
        )));
    }
    let mut global = Vec::new();
    for h in &a.headers {
        global.push(parse_header(h, "-H")?);
    }
    if let Some(ct) = &a.content_type {
        if ct.contains(['\r', '\n']) {
            return Err(invalid("--content-type contains CR or LF"));
        }
        if !global
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            global.push(("Content-Type".to_string(), ct.clone()));
        }
    }
    let body = match (&a.body, &a.body_file) {
        (Some(b), _) => Some(b.as_bytes().to_vec()),
        (None, Some(p)) => Some(read_body(p, "--body-file")?),
        (None, None) => None,
    };
    let mut specs = match (&a.url, &a.targets) {
        (Some(_), Some(_)) => return Err(invalid("give either a URL or --targets FILE, not both")),
        (None, None) => {
            return Err(invalid(
                "no target: give a URL (like http://127.0.0.1:8080/) or --targets FILE",
            ));
        }
        (Some(url), None) => vec![RequestSpec {
            method: method.clone(),
            url: parse_url(url)?,
            headers: Vec::new(),
            body: Vec::new(),
            weight: 1,
            expect: Default::default(),
            origin: "the command line".into(),
        }],
        (None, Some(path)) => parse_targets(path)?,
    };
    for s in &mut specs {
        // Command-line headers first; a target's own header of the same name wins.
        let own = std::mem::take(&mut s.headers);
        s.headers = global
            .iter()
            .filter(|(n, _)| !own.iter().any(|(o, _)| o.eq_ignore_ascii_case(n)))
            .cloned()
            .collect();
        s.headers.extend(own);
        if s.body.is_empty()
            && let Some(b) = &body
        {
            s.body = b.clone();
        }
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let warnings = s.length_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("-H: Content-Length: 99 but the body is 3 bytes"));
        let bytes = crate::wire::request::build(&s.parts(), true);
        assert_eq!(
            String::from_utf8(bytes)
                .unwrap()
                .matches("Content-Length")
                .count(),
            1,
            "the user's header is sent as given, and no other"
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
