//! Compiling a scenario file into its [`ScenarioSet`] (`set.rs`), once, before any
//! process forks. Every check that can fail happens here, so that running a
//! step can only succeed or record a failed request: origins, methods, header names,
//! templates (each name resolved to a slot or a built-in), captures, think times,
//! expectations (`src/wire/expect.rs`, the step's own over the `--expect-*` flags),
//! weights and the data file.
//!
//! Slots: one per data column (first, in column order), then one per distinct capture
//! name. A capture may reuse a column's name: it then replaces the row's value for the
//! rest of the iteration. A template may use a column, or a value captured by an
//! earlier step of its own scenario (captures and the cookie jar start empty at every
//! iteration, so anything else would always be empty).

use std::ops::Range;
use std::path::Path;

use crate::cli::url::{Url, parse_url};
use crate::scenario::capture::{Capture, regex_message};
use crate::scenario::data::DataTable;
use crate::scenario::error::{ScenarioError, Source};
use crate::scenario::file::{self, OnError, RawFile, RawScenario, RawStep};
pub use crate::scenario::set::{LoadOptions, Scenario, ScenarioSet, Step};
use crate::scenario::template::{BUILTINS, Template, is_builtin, valid_name};
use crate::wire::expect::{Expect, ExpectSpec, StatusSet, parse_size};

impl ScenarioSet {
    /// Reads and compiles a scenario file (and its data file).
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<ScenarioSet, ScenarioError> {
        let src = Source::read(path, "scenario file")?;
        let dir = path.parent().unwrap_or(Path::new("."));
        ScenarioSet::compile(&src, dir, opts)
    }

    /// Compiles a scenario file's text; `dir` is where its data file is looked for.
    pub fn compile(
        src: &Source,
        dir: &Path,
        opts: &LoadOptions,
    ) -> Result<ScenarioSet, ScenarioError> {
        let raw = file::parse(src)?;
        let data = match &raw.data {
            Some(d) => {
                let d = d.get_ref();
                Some((DataTable::load(&d.file, dir, src)?, d.order))
            }
            None => None,
        };
        let mut c = Compiler {
            src,
            opts,
            slots: data.as_ref().map_or(Vec::new(), |(t, _)| t.columns.clone()),
            columns: data.as_ref().map_or(0, |(t, _)| t.columns.len()),
            capturers: Vec::new(),
            regexes: 0,
            origin: None,
        };
        if raw.scenario.is_empty() {
            return Err(src.error_at(
                0,
                "the file has no [[scenario]]: add one, with a name and at least one [[scenario.step]] (see docs/scenarios.md)",
            ));
        }
        c.base(&raw)?;
        let mut scenarios: Vec<Scenario> = Vec::new();
        let mut steps = Vec::new();
        for s in &raw.scenario {
            let name = s.get_ref().name.get_ref();
            if scenarios.iter().any(|o| &o.name == name) {
                return Err(src.error(
                    s.get_ref().name.span(),
                    format!("scenario {name:?} is defined twice: rename one"),
                ));
            }
            let index = scenarios.len() as u16;
            scenarios.push(c.scenario(s.get_ref(), s.span(), index, &mut steps)?);
        }
        if steps.len() > u16::MAX as usize {
            return Err(src.error_at(0, "more than 65535 steps in all: split the file"));
        }
        let origin = match &opts.url {
            Some(url) => command_line_origin(url)?,
            None => c.origin.clone().ok_or_else(|| {
                src.error_at(
                    0,
                    "no origin to send to: set base = \"http://host:port\" at the top of the file, give steps full URLs, or give the URL on the command line",
                )
            })?,
        };
        let cumulative = scenarios
            .iter()
            .scan(0u64, |sum, s| {
                *sum += s.weight as u64;
                Some(*sum)
            })
            .collect();
        Ok(ScenarioSet {
            file: src.name.clone(),
            origin,
            scenarios,
            steps,
            slots: c.slots,
            data,
            cumulative,
        })
    }
}

/// The origin of a URL given on the command line.
fn command_line_origin(url: &str) -> Result<Url, ScenarioError> {
    let u = parse_url(url).map_err(|e| ScenarioError::Command(e.to_string()))?;
    if u.path != "/" {
        return Err(ScenarioError::Command(format!(
            "with --scenario the URL gives only the origin, and {url:?} has the path {:?}: leave it out (each step has its own path)",
            u.path
        )));
    }
    Ok(u)
}

/// State while compiling one file.
struct Compiler<'a> {
    src: &'a Source,
    opts: &'a LoadOptions,
    slots: Vec<String>,
    /// How many slots are data columns.
    columns: usize,
    /// For every slot past the columns: the scenarios that capture it.
    capturers: Vec<Vec<u16>>,
    regexes: usize,
    /// The file's origin: `base`, or the first full URL of a step.
    origin: Option<Url>,
}

impl Compiler<'_> {
    fn base(&mut self, raw: &RawFile) -> Result<(), ScenarioError> {
        let Some(base) = &raw.base else {
            return Ok(());
        };
        let u = parse_url(base.get_ref())
            .map_err(|e| self.src.error(base.span(), format!("base: {e}")))?;
        if u.path != "/" {
            return Err(self.src.error(
                base.span(),
                format!("base gives only the origin (scheme, host, port): remove the path {:?} and start each step's path with it", u.path),
            ));
        }
        self.origin = Some(u);
        Ok(())
    }

    fn scenario(
        &mut self,
        s: &RawScenario,
        span: Range<usize>,
        index: u16,
        steps: &mut Vec<Step>,
    ) -> Result<Scenario, ScenarioError> {
        let src = self.src;
        let name = s.name.get_ref();
        if !valid_name(name) {
            return Err(src.error(
                s.name.span(),
                format!("scenario name {name:?}: use letters, digits, _ and -, like \"buy\""),
            ));
        }
        let weight = match &s.weight {
            None => 1,
            Some(w) => match u32::try_from(*w.get_ref()) {
                Ok(v @ 1..=10_000) => v,
                _ => {
                    return Err(src.error(
                        w.span(),
                        format!("weight {} must be a whole number from 1 to 10000 (a scenario that should not run can be removed)", w.get_ref()),
                    ));
                }
            },
        };
        if s.step.is_empty() {
            return Err(src.error(
                span,
                format!("scenario {name:?} has no steps: add a [[scenario.step]] after it, with a name and a path"),
            ));
        }
        let first = steps.len();
        let cookies = s.cookies.unwrap_or(true);
        for (i, st) in s.step.iter().enumerate() {
            let sname = st.get_ref().name.get_ref();
            if s.step[..i]
                .iter()
                .any(|o| o.get_ref().name.get_ref() == sname)
            {
                return Err(src.error(
                    st.get_ref().name.span(),
                    format!("step {sname:?} comes twice in scenario {name:?}: give each step its own name"),
                ));
            }
            let step = self.step(st.get_ref(), &s.step[i + 1..], index, cookies)?;
            steps.push(step);
        }
        Ok(Scenario {
            name: name.clone(),
            weight,
            cookies,
            steps: first as u16..steps.len() as u16,
        })
    }

    fn step(
        &mut self,
        st: &RawStep,
        later: &[toml::Spanned<RawStep>],
        scenario: u16,
        cookies: bool,
    ) -> Result<Step, ScenarioError> {
        let src = self.src;
        let name = st.name.get_ref();
        if !valid_name(name) {
            return Err(src.error(
                st.name.span(),
                format!("step name {name:?}: use letters, digits, _ and -, like \"login\" (reports and --fail-if name steps)"),
            ));
        }
        let method = match &st.method {
            None => "GET".to_string(),
            Some(m) => {
                let v = m.get_ref();
                if v.is_empty()
                    || !v
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c == '-' || c == '_')
                {
                    return Err(src.error(
                        m.span(),
                        format!("method {v:?}: use an upper-case method like GET or POST"),
                    ));
                }
                v.clone()
            }
        };

        let path = self.path(st)?;
        // Templates see the columns and what earlier steps of this scenario capture;
        // this step's own captures come after its request.
        let known = |n: &str| -> Result<u16, String> { self.resolve(n, scenario, st, later) };
        let template = |text: &toml::Spanned<String>,
                        kind: &str|
         -> Result<Template, ScenarioError> {
            let bad_char = |c: char| match kind {
                "path" => c.is_whitespace() || c.is_control(),
                "header value" => c.is_control() && c != '\t',
                _ => false,
            };
            if let Some(p) = find_outside_variables(text.get_ref(), bad_char) {
                let why = if kind == "path" {
                    "the path holds a space or a control character: percent-encode it (a space is %20)"
                } else {
                    "the header value holds a control character (a line break?): remove it"
                };
                return Err(src.error_at(src.offset_in_string(text.span(), text.get_ref(), p), why));
            }
            Template::compile(text.get_ref(), &known).map_err(|e| {
                src.error_at(
                    src.offset_in_string(text.span(), text.get_ref(), e.offset),
                    e.msg,
                )
            })
        };

        let path = template(&path, "path")?;
        let mut headers = Vec::new();
        let (mut cookie_header, mut has_host, mut has_user_agent) = (None, false, false);
        for (hname, value) in &st.headers {
            let n = hname.get_ref();
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            let why = if n.is_empty() || !n.chars().all(token) {
                Some(format!(
                    "header name {n:?}: use letters, digits and -, like \"Content-Type\""
                ))
            } else if n.eq_ignore_ascii_case("content-length") {
                Some(
                    "barrage sets Content-Length from the rendered body: remove this header"
                        .to_string(),
                )
            } else if n.eq_ignore_ascii_case("transfer-encoding") {
                Some(
                    "barrage sends bodies with Content-Length: remove Transfer-Encoding"
                        .to_string(),
                )
            } else if headers
                .iter()
                .any(|(o, _): &(String, Template)| o.eq_ignore_ascii_case(n))
            {
                Some(format!(
                    "header {n:?} is given twice (names ignore case): keep one"
                ))
            } else {
                None
            };
            if let Some(why) = why {
                return Err(src.error(hname.span(), why));
            }
            if n.eq_ignore_ascii_case("cookie") {
                cookie_header = Some(headers.len());
            }
            has_host |= n.eq_ignore_ascii_case("host");
            has_user_agent |= n.eq_ignore_ascii_case("user-agent");
            headers.push((n.clone(), template(value, "header value")?));
        }
        let body = st.body.as_ref().map(|b| template(b, "body")).transpose()?;
        let sends_length = body.is_some() || matches!(method.as_str(), "POST" | "PUT" | "PATCH");
        let expect = self.expect(st)?;

        let mut captures = Vec::new();
        for (cname, raw) in &st.capture {
            let n = cname.get_ref();
            if !valid_name(n) || is_builtin(n) {
                return Err(src.error(
                    cname.span(),
                    format!("capture name {n:?}: use letters, digits, _ and - (not a built-in: {BUILTINS})"),
                ));
            }
            let slot = self.capture_slot(n, scenario);
            captures.push(Capture::compile(
                raw.get_ref(),
                raw.span(),
                slot,
                &mut self.regexes,
                src,
            )?);
        }
        let think_ns = st.think.as_ref().map(|t| think(t, src)).transpose()?;
        let keeps_head = cookies || captures.iter().any(|c| !c.reads_body());
        let keeps_body = captures.iter().any(Capture::reads_body);
        Ok(Step {
            name: name.clone(),
            scenario,
            method,
            path,
            headers,
            cookie_header,
            has_host,
            has_user_agent,
            body,
            sends_length,
            expect,
            captures,
            think_ns,
            on_error: st.on_error.as_ref().map_or(OnError::End, |o| *o.get_ref()),
            keeps_head,
            keeps_body,
        })
    }

    /// The step's path with a full URL's origin checked and removed.
    fn path(&mut self, st: &RawStep) -> Result<toml::Spanned<String>, ScenarioError> {
        let src = self.src;
        let p = st.path.get_ref();
        if p.starts_with('/') {
            return Ok(st.path.clone());
        }
        let Some(after) = p.find("://").map(|i| i + 3) else {
            return Err(src.error(
                st.path.span(),
                format!("path {p:?} must start with / (or be a full URL of the file's origin, like http://host:port/path)"),
            ));
        };
        let end = p[after..].find(['/', '?']).map_or(p.len(), |i| after + i);
        let origin = &p[..end];
        if origin.contains("{{") {
            return Err(src.error(
                st.path.span(),
                "a template cannot choose the host: one scenario file talks to one origin; write the host out, or start the path with / (the file's base)",
            ));
        }
        let u = parse_url(origin).map_err(|e| src.error(st.path.span(), e.to_string()))?;
        // The rest of the string, pointing at the same place in the file when it can.
        let rest = match &p[end..] {
            "" => "/".to_string(),
            r if r.starts_with('?') => format!("/{r}"),
            r => r.to_string(),
        };
        match &self.origin {
            Some(o)
                if (o.tls, o.host.to_ascii_lowercase(), o.port)
                    != (u.tls, u.host.to_ascii_lowercase(), u.port) =>
            {
                return Err(src.error(
                    st.path.span(),
                    format!(
                        "{origin} is not the file's origin ({}://{}): one scenario file talks to one origin; write the path alone ({rest:?}) to send it there, or give the other origin a scenario file (and a barrage run) of its own",
                        if o.tls { "https" } else { "http" },
                        o.authority
                    ),
                ));
            }
            Some(_) => {}
            None => self.origin = Some(u),
        }
        Ok(toml::Spanned::new(st.path.span(), rest))
    }

    /// A template name's slot for a step of `scenario`.
    fn resolve(
        &self,
        name: &str,
        scenario: u16,
        st: &RawStep,
        later: &[toml::Spanned<RawStep>],
    ) -> Result<u16, String> {
        if let Some(i) = self.slots.iter().position(|s| s == name) {
            let captured_here =
                i >= self.columns && self.capturers[i - self.columns].contains(&scenario);
            if i < self.columns || captured_here {
                return Ok(i as u16);
            }
        }
        if st.capture.contains_key(name) {
            return Err(format!(
                "{{{{{name}}}}} is captured by this step's own response, after its request is sent: a step can use values captured by the steps before it"
            ));
        }
        if let Some(l) = later
            .iter()
            .find(|l| l.get_ref().capture.contains_key(name))
        {
            return Err(format!(
                "{{{{{name}}}}} is captured by a later step ({:?}): a step can use values captured by the steps before it",
                l.get_ref().name.get_ref()
            ));
        }
        if self.slots[self.columns..].iter().any(|s| s == name) {
            return Err(format!(
                "{{{{{name}}}}} is captured in another scenario only: capture it in this one too (captures start empty at every iteration)"
            ));
        }
        let mut choices = Vec::new();
        if self.columns > 0 {
            choices.push(format!(
                "a data column ({})",
                self.slots[..self.columns].join(", ")
            ));
        }
        let earlier: Vec<&str> = self.slots[self.columns..]
            .iter()
            .zip(&self.capturers)
            .filter(|(_, who)| who.contains(&scenario))
            .map(|(n, _)| n.as_str())
            .collect();
        if !earlier.is_empty() {
            choices.push(format!(
                "a value captured by an earlier step ({})",
                earlier.join(", ")
            ));
        }
        choices.push(format!("a built-in ({BUILTINS})"));
        Err(format!(
            "unknown template name {{{{{name}}}}}: use {}",
            choices.join(", or ")
        ))
    }

    /// The slot a capture named `name` in `scenario` writes (made on first use).
    fn capture_slot(&mut self, name: &str, scenario: u16) -> u16 {
        let i = match self.slots.iter().position(|s| s == name) {
            Some(i) => i,
            None => {
                self.slots.push(name.to_string());
                self.slots.len() - 1
            }
        };
        if i >= self.columns {
            let who = &mut self.capturers;
            while who.len() <= i - self.columns {
                who.push(Vec::new());
            }
            if !who[i - self.columns].contains(&scenario) {
                who[i - self.columns].push(scenario);
            }
        }
        i as u16
    }

    /// The step's expectations over the command line's.
    fn expect(&self, st: &RawStep) -> Result<Option<Expect>, ScenarioError> {
        let src = self.src;
        let own = |v: &Option<toml::Spanned<String>>| v.as_ref().map(|s| s.get_ref().clone());
        if let Some(s) = &st.expect_status {
            StatusSet::parse(s.get_ref())
                .map_err(|e| src.error(s.span(), format!("expect_status: {e}")))?;
        }
        if let Some(s) = &st.expect_size {
            parse_size(s.get_ref())
                .map_err(|e| src.error(s.span(), format!("expect_size: {e}")))?;
        }
        if let Some(s) = &st.expect_body_regex {
            regex::bytes::Regex::new(s.get_ref()).map_err(|e| {
                src.error(
                    s.span(),
                    format!("expect_body_regex: {}", regex_message(s.get_ref(), &e)),
                )
            })?;
        }
        if let Some(s) = st.expect_body.as_ref().filter(|s| s.get_ref().is_empty()) {
            return Err(src.error(
                s.span(),
                "expect_body is empty: give the text the body must contain",
            ));
        }
        let spec = ExpectSpec {
            status: own(&st.expect_status),
            body: own(&st.expect_body),
            regex: own(&st.expect_body_regex),
            size: own(&st.expect_size),
        };
        spec.or(&self.opts.expect)
            .compile(self.opts.max_body)
            .map_err(ScenarioError::Command)
    }
}

/// The first character outside `{{...}}` that is `bad`, as a byte offset.
fn find_outside_variables(text: &str, bad: impl Fn(char) -> bool) -> Option<usize> {
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        if text[i..].starts_with("{{")
            && let Some(close) = text[i + 2..].find("}}")
        {
            i += close + 4;
            continue;
        }
        if bad(c) {
            return Some(i);
        }
        i += c.len_utf8();
    }
    None
}

/// `"200ms"` or `"100ms..300ms"`, in nanoseconds.
fn think(t: &toml::Spanned<String>, src: &Source) -> Result<(u64, u64), ScenarioError> {
    let text = t.get_ref();
    let bad = |why: String| src.error(t.span(), format!("think {text:?}: {why}"));
    let one = |s: &str| {
        crate::cli::args::parse_duration(s)
            .map(|d| d.as_nanos().min(u64::MAX as u128) as u64)
            .map_err(&bad)
    };
    match text.split_once("..") {
        None => one(text).map(|d| (d, d)),
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if a > b {
                return Err(bad(
                    "the range's start is after its end: write it low..high, like 100ms..300ms"
                        .into(),
                ));
            }
            Ok((a, b))
        }
    }
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
