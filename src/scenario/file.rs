//! The scenario file as written: TOML read with serde into these raw structs, every
//! table with `deny_unknown_fields` and the values that are checked after parsing
//! (templates, regexes, JSON Pointers, durations, weights) kept as [`Spanned`] so their
//! errors can name `FILE:LINE:COLUMN`. Nothing here interprets a value: `compile.rs`
//! turns a [`RawFile`] into the scenario set the engine runs.
//!
//! ```toml
//! base = "http://127.0.0.1:8080"
//! [data]
//! file = "users.csv"
//! order = "sequential"
//! [[scenario]]
//! name = "buy"
//! weight = 3
//! [[scenario.step]]
//! name = "login"
//! method = "POST"
//! path = "/login"
//! headers = { "Content-Type" = "application/x-www-form-urlencoded" }
//! body = "user={{user}}&password={{password}}"
//! expect_status = "200"
//! capture = { token = { json = "/token" } }
//! think = "100ms..300ms"
//! on_error = "continue"
//! ```
//!
//! `docs/scenarios.md` describes every key.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::scenario::error::{ScenarioError, Source};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// The origin every step talks to; a URL on the command line overrides it.
    pub base: Option<Spanned<String>>,
    /// One row of this CSV file per iteration.
    pub data: Option<Spanned<RawData>>,
    /// The `[[scenario]]` tables, in file order.
    #[serde(default)]
    pub scenario: Vec<Spanned<RawScenario>>,
}

/// `[data]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    /// The CSV file, relative to the scenario file's directory.
    pub file: Spanned<String>,
    #[serde(default)]
    pub order: Order,
}

/// How iterations take data rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// In turn, each row to one worker loop only (`data.rs` says how they are split).
    #[default]
    Sequential,
    /// A row picked at random for every iteration.
    Random,
}

/// One `[[scenario]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Spanned<String>,
    /// Relative share of iterations (1 to 10000; default 1). Signed so that 0 and
    /// negative weights get our message rather than serde's.
    pub weight: Option<Spanned<i64>>,
    /// The per-virtual-user cookie jar (default on).
    pub cookies: Option<bool>,
    /// The `[[scenario.step]]` tables, in order.
    #[serde(default)]
    pub step: Vec<Spanned<RawStep>>,
}

/// One `[[scenario.step]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub name: Spanned<String>,
    /// Default GET.
    pub method: Option<Spanned<String>>,
    /// `/path?query` on the origin, or a full URL of the same origin; a template.
    pub path: Spanned<String>,
    /// Header name to value (a template). TOML tables have no order: headers are sent
    /// in name order.
    #[serde(default)]
    pub headers: BTreeMap<Spanned<String>, Spanned<String>>,
    /// A template.
    pub body: Option<Spanned<String>>,
    pub expect_status: Option<Spanned<String>>,
    pub expect_body: Option<Spanned<String>>,
    pub expect_body_regex: Option<Spanned<String>>,
    pub expect_size: Option<Spanned<String>>,
    /// Capture name to where the value comes from.
    #[serde(default)]
    pub capture: BTreeMap<Spanned<String>, Spanned<RawCapture>>,
    /// Pause after this step: `"200ms"` or `"100ms..300ms"`.
    pub think: Option<Spanned<String>>,
    pub on_error: Option<Spanned<OnError>>,
}

/// One capture: `{ json = "/a/0" }`, `{ regex = 'id=(\d+)' }`,
/// `{ header = "Set-Cookie", regex = "sid=([^;]+)" }` or `{ header = "X-Token" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapture {
    pub json: Option<Spanned<String>>,
    pub regex: Option<Spanned<String>>,
    pub header: Option<Spanned<String>>,
}

/// What a failed step does to its iteration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// End the iteration (the default): the virtual user starts its next one.
    #[default]
    End,
    /// Go on with the next step (its templates see what earlier steps did capture).
    Continue,
}

/// Parses a scenario file's text. A TOML error becomes one line at its position.
pub fn parse(src: &Source) -> Result<RawFile, ScenarioError> {
    toml::from_str(&src.text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        src.error_at(at, toml_message(e.message()))
    })
}

/// toml's message on one line, with a hint where its own wording has none.
fn toml_message(msg: &str) -> String {
    let one_line = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if one_line.starts_with("unknown field") {
        format!("{one_line} (docs/scenarios.md lists every key)")
    } else if one_line.starts_with("missing field") {
        format!("{one_line}: add it")
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<RawFile, String> {
        parse(&Source {
            name: "s.toml".into(),
            text: text.into(),
        })
        .map_err(|e| e.to_string())
    }

    const SHOP: &str = r#"
base = "http://127.0.0.1:8080"

[data]
file = "users.csv"
order = "random"

[[scenario]]
name = "buy"
weight = 3

[[scenario.step]]
name = "login"
method = "POST"
path = "/login"
headers = { "Content-Type" = "application/x-www-form-urlencoded" }
body = "user={{user}}&password={{password}}"
expect_status = "200"
capture = { token = { json = "/token" }, sid = { header = "Set-Cookie", regex = "sid=([^;]+)" } }

[[scenario.step]]
name = "items"
path = "/items?token={{token}}"
capture = { item = { regex = '"id":\s*(\d+)' } }
think = "100ms..300ms"
on_error = "continue"
"#;

    #[test]
    fn the_issue_shape_parses() {
        let f = parse_str(SHOP).unwrap();
        assert_eq!(f.base.unwrap().into_inner(), "http://127.0.0.1:8080");
        let data = f.data.unwrap().into_inner();
        assert_eq!(data.file.get_ref(), "users.csv");
        assert_eq!(data.order, Order::Random);
        assert_eq!(f.scenario.len(), 1);
        let s = f.scenario[0].get_ref();
        assert_eq!(*s.weight.as_ref().unwrap().get_ref(), 3);
        assert_eq!(s.step.len(), 2);
        let login = s.step[0].get_ref();
        assert_eq!(login.capture.len(), 2);
        let sid = login.capture.get("sid").unwrap().get_ref();
        assert_eq!(sid.header.as_ref().unwrap().get_ref(), "Set-Cookie");
        let items = s.step[1].get_ref();
        assert_eq!(
            *items.on_error.as_ref().unwrap().get_ref(),
            OnError::Continue
        );
        assert_eq!(login.on_error, None);
        // Spans point into the text: the step's path value.
        let span = items.path.span();
        assert_eq!(&SHOP[span], "\"/items?token={{token}}\"");
    }

    /// Bad input: TOML syntax, unknown keys, wrong types, unknown enum values, missing
    /// keys. Each is one line naming the position and the fix.
    #[test]
    fn bad_files_name_line_and_column() {
        for (text, want) in [
            ("base = \"http://x\nx = 1", "s.toml:1:"),
            (
                "base = 1",
                "s.toml:1:8: invalid type: integer `1`, expected a string",
            ),
            (
                "bsae = \"x\"",
                "s.toml:1:1: unknown field `bsae`, expected one of `base`, `data`, `scenario` (docs/scenarios.md",
            ),
            (
                "[[scenario]]\nname = \"a\"\n[[scenario.step]]\nname = \"s\"\npath = \"/\"\nexpect_stauts = \"200\"",
                "s.toml:6:1: unknown field `expect_stauts`",
            ),
            (
                "[[scenario]]\nname = \"a\"\n[[scenario.step]]\nname = \"s\"",
                "s.toml:3:1: missing field `path`: add it",
            ),
            (
                "[data]\nfile = \"u.csv\"\norder = \"shuffled\"",
                "s.toml:3:9: unknown variant `shuffled`, expected `sequential` or `random`",
            ),
            (
                "[[scenario]]\nname = \"a\"\n[[scenario.step]]\nname = \"s\"\npath = \"/\"\non_error = \"retry\"",
                "s.toml:6:12: unknown variant `retry`, expected `end` or `continue`",
            ),
            (
                "[[scenario]]\nname = \"a\"\n[[scenario.step]]\nname = \"s\"\npath = \"/\"\ncapture = { t = { jsn = \"/a\" } }",
                "s.toml:6:19: unknown field `jsn`",
            ),
            (
                "[[scenario]]\nname = \"a\"\nweight = 1.5",
                "s.toml:3:10: invalid type: floating point `1.5`, expected i64",
            ),
        ] {
            let e = parse_str(text).unwrap_err();
            assert!(e.starts_with(want), "{text:?}\n got: {e}\nwant: {want}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }
}
