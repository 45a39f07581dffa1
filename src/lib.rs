//! barrage: a low-level HTTP/1.1 load generator.
//!
//! The data's path, one directory per stage:
//!
//! - `cli`: the flags as typed, validated into the run's configuration; the banner
//!   and the exit codes.
//! - `scenario`: multi-step scenarios from a TOML file, compiled before the fork into
//!   templates, captures, data rows and cookie jars; per virtual user, the next
//!   request and what a response leads to.
//! - `engine`: the launcher (time base, fork, pin, signals), one mio loop per thread
//!   (`worker`), one state machine per connection (`conn`), the schedule and the
//!   deadlines, the live progress board.
//! - `wire`: what crosses the socket: request bytes, response framing (`http`), TLS,
//!   response checks (`expect`).
//! - `record`: the 32-byte record every request ends as, the mmapped log of them in
//!   each process's sample file (`log`), and their merge into results.csv.
//! - `report`: summaries, intervals, charts, HTML, HdrHistogram logs, thresholds, and
//!   the terminal summary.
//! - `serve`: the built-in target server and its demo shop.
//!
//! `docs/architecture.md` walks through it. Everything printed for people goes through
//! `console`, which never lets a closed stdout or stderr stop a run.
//!
//! `unsafe` is denied crate-wide and allowed item by item only where there is no safe
//! way: the shared mappings of `record::log` (the record log) and
//! `engine::progress` (the live board), and `engine::launcher`'s `fork`, `_exit` and
//! `adjtimex`. Every block says why it is sound in a `// SAFETY:` line (clippy's
//! `undocumented_unsafe_blocks`, set in Cargo.toml, checks it).

#![deny(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod cli;
pub mod console;
pub mod engine;
pub mod record;
pub mod report;
pub mod scenario;
pub mod serve;
pub mod time;
pub mod wire;
