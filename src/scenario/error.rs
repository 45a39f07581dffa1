//! Why a scenario file (or its data file) cannot be used, and where: every error is one
//! line that starts with `FILE:LINE:COLUMN` (1-based, columns in characters) and says
//! what to do about it. [`Source`] keeps a file's text so that byte offsets (TOML spans,
//! a CSV row's start) become line and column.

use std::ops::Range;
use std::path::Path;

/// Why a scenario could not be loaded. Each variant prints as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    /// The scenario file or its data file could not be read (missing, unreadable, not
    /// UTF-8). `what` names which.
    #[error("cannot read {what} {path}: {why}")]
    Read {
        what: &'static str,
        path: String,
        why: String,
    },
    /// Something at a place in a file: TOML syntax, an unknown key, a value of the wrong
    /// type or out of range, an unknown template name, a bad JSON Pointer or regex, a
    /// ragged CSV row. `msg` says what is wrong and how to fix it.
    #[error("{file}:{line}:{col}: {msg}")]
    At {
        file: String,
        line: usize,
        col: usize,
        msg: String,
    },
    /// Something the command line adds does not fit the scenario file (a URL with a
    /// path, an `--expect-*` flag the CLI let through).
    #[error("{0}")]
    Command(String),
}

impl ScenarioError {
    /// A file that could not be read, with the usual cause spelled out.
    pub fn read(what: &'static str, path: &Path, e: &std::io::Error) -> ScenarioError {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file (check the path)".to_string(),
            std::io::ErrorKind::PermissionDenied => {
                "permission denied (check the file's permissions)".to_string()
            }
            std::io::ErrorKind::InvalidData => "it is not UTF-8 text".to_string(),
            _ => e.to_string(),
        };
        ScenarioError::Read {
            what,
            path: path.display().to_string(),
            why,
        }
    }
}

/// A file's name (as the user gave it) and text, for turning offsets into positions.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    /// Reads `path`; `what` names the file in the error ("scenario file", "data file").
    pub fn read(path: &Path, what: &'static str) -> Result<Source, ScenarioError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ScenarioError::read(what, path, &e))?;
        Ok(Source {
            name: path.display().to_string(),
            text,
        })
    }

    /// Line and column (1-based; the column counts characters) of byte `offset`.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    /// An error at byte `offset`.
    pub fn error_at(&self, offset: usize, msg: impl Into<String>) -> ScenarioError {
        let (line, col) = self.position(offset);
        ScenarioError::At {
            file: self.name.clone(),
            line,
            col,
            msg: msg.into(),
        }
    }

    /// An error at the start of `span`.
    pub fn error(&self, span: Range<usize>, msg: impl Into<String>) -> ScenarioError {
        self.error_at(span.start, msg)
    }

    /// The byte offset, in this file, of byte `inner` of the string value whose TOML
    /// span is `span`: exact when the value is written without escapes (the common
    /// case), else the value's start. Points an error at the `{{` it is about.
    pub fn offset_in_string(&self, span: Range<usize>, value: &str, inner: usize) -> usize {
        let raw = self.text.get(span.clone()).unwrap_or("");
        for quote in ["\"\"\"", "'''", "\"", "'"] {
            if let Some(rest) = raw.strip_prefix(quote) {
                // A multi-line string drops one newline right after its opening quotes.
                let rest_trim = rest.strip_prefix('\n').unwrap_or(rest);
                let skipped = raw.len() - rest_trim.len();
                if rest_trim.starts_with(value) && inner <= value.len() {
                    return span.start + skipped + inner;
                }
                break;
            }
        }
        span.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source {
            name: "f.toml".into(),
            text: text.into(),
        }
    }

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let s = src("ab\nçd = 1\n\nx");
        for (offset, want) in [
            (0, (1, 1)),
            (1, (1, 2)),
            (3, (2, 1)),
            (5, (2, 2)),  // after the two-byte ç
            (4, (2, 1)),  // inside ç: its start
            (11, (3, 1)), // blank line... then "x" on line 4
            (12, (4, 1)),
            (99, (4, 2)),
        ] {
            assert_eq!(s.position(offset), want, "offset {offset}");
        }
    }

    #[test]
    fn errors_print_as_one_line_with_the_position() {
        let e = src("a = 1\nb = 2\n").error(6..7, "bad b: use 1");
        assert_eq!(e.to_string(), "f.toml:2:1: bad b: use 1");
        let r = ScenarioError::read(
            "scenario file",
            Path::new("nope.toml"),
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(
            r.to_string(),
            "cannot read scenario file nope.toml: no such file (check the path)"
        );
    }

    #[test]
    fn offsets_inside_plain_strings() {
        let s = src("path = \"/a/{{x}}\"\nb = 'lit{{y}}'\nc = \"e\\u0041{{z}}\"\n");
        assert_eq!(s.offset_in_string(7..17, "/a/{{x}}", 3), 11);
        assert_eq!(&s.text[11..13], "{{");
        assert_eq!(s.offset_in_string(22..33, "lit{{y}}", 3), 26);
        // With an escape the text differs from the value: the value's start.
        assert_eq!(s.offset_in_string(38..53, "eA{{z}}", 2), 38);
    }
}
