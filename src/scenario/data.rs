//! The data file (`[data] file = "users.csv"`): a CSV file whose first line names the
//! columns and whose every further line is one row, and the cursor a worker loop
//! takes rows with, one row per iteration.
//!
//! CSV as written by spreadsheets: comma-separated; a field in double quotes may hold
//! commas and `""` for a quote; a UTF-8 byte-order mark and CRLF line ends are fine;
//! blank lines are skipped. A value cannot hold a line break or another control byte
//! (tab is fine): a value goes into paths and headers. Column names follow the
//! template rules (letters, digits, `_`, `-`) and cannot be a built-in's name.
//!
//! Order (`order`):
//! - `sequential` (the default): rows are split between every worker loop of the test
//!   (processes x threads x `--shard` hosts, `N` loops in all) so that no two loops
//!   ever take the same row: loop `L` takes rows `L`, `L+N`, `L+2N`, ... and, when it
//!   has used its last one, starts again from row `L`. Rows are therefore reused when
//!   a loop runs more iterations than it has rows, but only by that loop (its virtual
//!   users take them in turn). A file with fewer rows than loops is an error: some
//!   loop would have none.
//! - `random`: every iteration picks a row at random (rows repeat, and loops share).

use std::path::Path;

use toml::Spanned;

use crate::scenario::error::{ScenarioError, Source};
use crate::scenario::file::Order;
use crate::scenario::rng::Rng;
use crate::scenario::template::{is_builtin, valid_name};

/// A loaded data file: column names and every cell, in one buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataTable {
    pub columns: Vec<String>,
    /// Every cell's bytes, row by row.
    cells: Vec<u8>,
    /// Cell `i` (row-major) is `cells[ends[i - 1]..ends[i]]` (from 0 for the first).
    ends: Vec<u32>,
}

impl DataTable {
    /// Reads the data file `file` names (relative to `dir`, the scenario file's
    /// directory). A file that cannot be read is reported at `file`'s place in the
    /// scenario file `scenario`; a problem inside it at its own line and column.
    pub fn load(
        file: &Spanned<String>,
        dir: &Path,
        scenario: &Source,
    ) -> Result<DataTable, ScenarioError> {
        let path = dir.join(file.get_ref());
        let src = Source::read(&path, "data file").map_err(|e| match e {
            ScenarioError::Read { path, why, .. } => scenario.error(
                file.span(),
                format!("cannot read data file {path}: {why}; it is relative to the scenario file's directory"),
            ),
            other => other,
        })?;
        DataTable::parse(&src)
    }

    /// Parses a data file's text.
    pub fn parse(src: &Source) -> Result<DataTable, ScenarioError> {
        let text = src.text.strip_prefix('\u{feff}').unwrap_or(&src.text);
        let bom = src.text.len() - text.len();
        let mut lines = text
            .split('\n')
            .scan(bom, |start, line| {
                let at = *start;
                *start += line.len() + 1;
                Some((at, line.strip_suffix('\r').unwrap_or(line)))
            })
            .filter(|(_, l)| !l.is_empty());
        let Some((at, header)) = lines.next() else {
            return Err(src.error_at(
                0,
                "the data file is empty: its first line names the columns (like user,password) and each further line is one row",
            ));
        };
        let mut fields = Vec::new();
        split_fields(header, at, src, &mut fields)?;
        let mut columns: Vec<String> = Vec::new();
        for (offset, name) in &fields {
            let name = String::from_utf8_lossy(name).into_owned();
            let why = if !valid_name(&name) {
                Some(format!(
                    "column {name:?} is not a name: use letters, digits, _ and -, starting with a letter"
                ))
            } else if is_builtin(&name) {
                Some(format!(
                    "column {name:?} is the name of a built-in ({{{{{name}}}}}): rename the column"
                ))
            } else if columns.contains(&name) {
                Some(format!("column {name:?} is named twice: rename one"))
            } else {
                None
            };
            if let Some(why) = why {
                return Err(src.error_at(*offset, why));
            }
            columns.push(name);
        }
        let mut table = DataTable {
            columns,
            cells: Vec::new(),
            ends: Vec::new(),
        };
        for (at, line) in lines {
            split_fields(line, at, src, &mut fields)?;
            if fields.len() != table.columns.len() {
                return Err(src.error_at(
                    at,
                    format!(
                        "this row has {} but the first line names {} ({}): give every row one value per column, and quote a value with a comma in it (\"a,b\")",
                        plural(fields.len() as u64, "value"),
                        plural(table.columns.len() as u64, "column"),
                        table.columns.join(", ")
                    ),
                ));
            }
            for (_, value) in &fields {
                table.cells.extend_from_slice(value);
                table.ends.push(table.cells.len() as u32);
            }
        }
        if table.ends.is_empty() {
            return Err(src.error_at(
                src.text.len(),
                "the data file has no rows: add one line of values per iteration after the column names",
            ));
        }
        Ok(table)
    }

    pub fn rows(&self) -> usize {
        self.ends.len() / self.columns.len()
    }

    /// The cell of `row` and column `col`.
    pub fn cell(&self, row: usize, col: usize) -> &[u8] {
        let i = row * self.columns.len() + col;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.cells[start..self.ends[i] as usize]
    }

    /// Checks that sequential order can give each of `loops` worker loops rows of
    /// its own (the check the launcher makes before forking).
    pub fn check_split(&self, order: Order, loops: usize) -> Result<(), String> {
        if order == Order::Sequential && self.rows() < loops {
            return Err(format!(
                "the data file has {} but the test runs {loops} worker loops (processes x threads x shards), and sequential order gives each loop rows of its own: add rows, run fewer loops (-p, -t), or set order = \"random\"",
                plural(self.rows() as u64, "row")
            ));
        }
        Ok(())
    }
}

/// `1 row`, `2 rows`.
fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Splits one CSV line into `(offset of the field in the file, value)`.
fn split_fields(
    line: &str,
    at: usize,
    src: &Source,
    out: &mut Vec<(usize, Vec<u8>)>,
) -> Result<(), ScenarioError> {
    out.clear();
    let b = line.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        let mut value = Vec::new();
        if b.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match b.get(i) {
                    None => {
                        return Err(src.error_at(
                            at + start,
                            "this quoted value has no closing quote: end it with \" (a value cannot span lines)",
                        ));
                    }
                    Some(b'"') if b.get(i + 1) == Some(&b'"') => {
                        value.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
            if !matches!(b.get(i), None | Some(b',')) {
                return Err(src.error_at(
                    at + i,
                    "text after a quoted value's closing quote: write a quote inside quotes as \"\"",
                ));
            }
        } else {
            while let Some(&c) = b.get(i).filter(|&&c| c != b',') {
                value.push(c);
                i += 1;
            }
        }
        if let Some(p) = value
            .iter()
            .position(|&c| (c < b' ' && c != b'\t') || c == 0x7f)
        {
            return Err(src.error_at(
                at + start + p,
                format!(
                    "a value holds the control byte 0x{:02x}: values go into paths and headers, remove it",
                    value[p]
                ),
            ));
        }
        out.push((at + start, value));
        if i >= b.len() {
            return Ok(());
        }
        i += 1; // the comma
    }
}

/// The rows one worker loop takes, one per iteration.
#[derive(Debug, Clone)]
pub struct DataCursor {
    order: Order,
    rows: u64,
    /// Sequential: this loop's first row, the stride between its rows, how many it
    /// has, and how many it has taken.
    first: u64,
    stride: u64,
    own: u64,
    taken: u64,
}

impl DataCursor {
    /// The cursor of worker loop `index` of `loops` (over the whole test, every shard
    /// included). Sequential order needs `index < rows` (see [`DataTable::check_split`]).
    pub fn new(
        table: &DataTable,
        order: Order,
        index: usize,
        loops: usize,
    ) -> Result<DataCursor, String> {
        let rows = table.rows() as u64;
        let (first, stride) = (index as u64, loops.max(1) as u64);
        if order == Order::Sequential && first >= rows {
            table.check_split(order, loops)?;
        }
        Ok(DataCursor {
            order,
            rows,
            first,
            stride,
            own: rows.saturating_sub(first).div_ceil(stride),
            taken: 0,
        })
    }

    /// The row for the next iteration.
    pub fn next_row(&mut self, rng: &mut Rng) -> usize {
        match self.order {
            Order::Random => rng.range(0, self.rows - 1) as usize,
            Order::Sequential => {
                let k = self.taken % self.own;
                self.taken += 1;
                (self.first + k * self.stride) as usize
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<DataTable, String> {
        DataTable::parse(&Source {
            name: "u.csv".into(),
            text: text.into(),
        })
        .map_err(|e| e.to_string())
    }

    fn rows(t: &DataTable) -> Vec<Vec<String>> {
        (0..t.rows())
            .map(|r| {
                (0..t.columns.len())
                    .map(|c| String::from_utf8_lossy(t.cell(r, c)).into_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn csv_as_spreadsheets_write_it() {
        let t = table("\u{feff}user,password\r\nalice,a1\r\n\r\n\"bob, jr\",\"say \"\"hi\"\"\"\r\n,\ncarol,\"\"\n").unwrap();
        assert_eq!(t.columns, ["user", "password"]);
        assert_eq!(
            rows(&t),
            [
                ["alice", "a1"],
                ["bob, jr", "say \"hi\""],
                ["", ""],
                ["carol", ""]
            ]
        );
        let one = table("id\n1\n2").unwrap();
        assert_eq!(rows(&one), [["1"], ["2"]]);
        assert_eq!(rows(&table("a\n\"\"\nx\ty\n").unwrap()), [[""], ["x\ty"]]);
    }

    /// Bad input: an empty data file, a ragged row, a header naming a built-in, and
    /// the other malformed files, each at its line and column.
    #[test]
    fn bad_data_files() {
        for (text, want) in [
            ("", "u.csv:1:1: the data file is empty"),
            ("\n\n", "u.csv:1:1: the data file is empty"),
            ("user,password\n", "u.csv:2:1: the data file has no rows"),
            (
                "user,password\nalice\n",
                "u.csv:2:1: this row has 1 value but the first line names 2 columns (user, password)",
            ),
            ("a,b\n1,2\n1,2,3\n", "u.csv:3:1: this row has 3 values"),
            (
                "user,uuid\n",
                "u.csv:1:6: column \"uuid\" is the name of a built-in ({{uuid}}): rename the column",
            ),
            (
                "user,random\n",
                "u.csv:1:6: column \"random\" is the name of a built-in",
            ),
            ("user,user\n", "u.csv:1:6: column \"user\" is named twice"),
            (
                "user,pass word\n",
                "u.csv:1:6: column \"pass word\" is not a name",
            ),
            ("user,\n", "u.csv:1:6: column \"\" is not a name"),
            (
                "a\n\"open\n",
                "u.csv:2:1: this quoted value has no closing quote",
            ),
            (
                "a,b\n\"x\"y,1\n",
                "u.csv:2:4: text after a quoted value's closing quote",
            ),
            (
                "a\nx\ry\n",
                "u.csv:2:2: a value holds the control byte 0x0d",
            ),
        ] {
            let e = table(text).unwrap_err();
            assert!(e.starts_with(want), "{text:?}\n got: {e}\nwant: {want}");
        }
    }

    #[test]
    fn a_missing_data_file_is_named_at_its_key() {
        let scenario = Source {
            name: "s.toml".into(),
            text: "[data]\nfile = \"nope.csv\"\n".into(),
        };
        let file = Spanned::new(14..24, "nope.csv".to_string());
        let e = DataTable::load(&file, Path::new("/nonexistent-dir"), &scenario)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "s.toml:2:8: cannot read data file /nonexistent-dir/nope.csv: no such file (check the path); it is relative to the scenario file's directory"
        );
    }

    /// Sequential rows: loop L of N takes L, L+N, ... then wraps; no two loops share a
    /// row, every row is taken, and a loop with no row is refused up front.
    #[test]
    fn sequential_rows_are_split_between_loops() {
        let ten = table(&format!(
            "n\n{}",
            (0..10).map(|i| format!("{i}\n")).collect::<String>()
        ))
        .unwrap();
        let mut rng = Rng::new(0, 0);
        let take = |index, loops, n| {
            let mut c = DataCursor::new(&ten, Order::Sequential, index, loops).unwrap();
            (0..n)
                .map(|_| c.next_row(&mut Rng::new(0, 0)))
                .collect::<Vec<_>>()
        };
        assert_eq!(take(0, 1, 12), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
        assert_eq!(take(0, 4, 4), [0, 4, 8, 0]);
        assert_eq!(take(1, 4, 4), [1, 5, 9, 1]);
        assert_eq!(take(3, 4, 3), [3, 7, 3]);
        // Two shards of 2 loops each are loops 0..4 of the test: disjoint, complete.
        let mut seen = std::collections::BTreeMap::new();
        for index in 0..4 {
            for row in take(index, 4, 3) {
                assert_eq!(*seen.entry(row).or_insert(index), index, "row {row} shared");
            }
        }
        assert_eq!(seen.len(), 10);
        assert!(ten.check_split(Order::Sequential, 10).is_ok());
        let e = ten.check_split(Order::Sequential, 11).unwrap_err();
        assert!(
            e.starts_with("the data file has 10 rows but the test runs 11 worker loops"),
            "{e}"
        );
        assert!(DataCursor::new(&ten, Order::Sequential, 10, 11).is_err());
        assert!(ten.check_split(Order::Random, 11).is_ok());
        let mut random = DataCursor::new(&ten, Order::Random, 10, 11).unwrap();
        for _ in 0..100 {
            assert!(random.next_row(&mut rng) < 10);
        }
    }
}
