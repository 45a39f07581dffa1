//! barrage: a low-level HTTP/1.1 load generator.
//!
//! The data's path, one directory per stage:
//!
//! - `cli`: the flags as typed, validated into the run's configuration (the URL, the
//!   requests as described, the distributed options); the banner and the exit codes.
//! - `scenario`: multi-step scenarios from a TOML file, compiled before the fork into
//!   templates, captures, data rows and cookie jars; per virtual user, the next
//!   request and what a response leads to.
//! - `engine`: the load plan (`plan`), the launcher (fork, wait) and each worker
//!   process (`process`: pin, threads), one mio loop per thread (`worker`) with its
//!   load model (`closed_loop`, `open_loop`), one state machine per connection
//!   (`conn`) over its transport (plain or TLS), the deadlines, the live progress.
//! - `wire`: what crosses the socket: request bytes (`request`), response framing
//!   (`http`, `head`), response checks (`expect`), TLS.
//! - `record`: the 32-byte record every request ends as, the mmapped log of them in
//!   each process's sample file (`log`), and their merge into results.csv.
//! - `report`: summaries, intervals, charts, HTML, HdrHistogram logs, thresholds, and
//!   the terminal summary.
//! - `metrics`: `--metrics-listen`, the live counters served as Prometheus metrics and
//!   a live page from the launcher's wait loop.
//! - `serve`: the built-in target server and its demo shop.
//! - `search`: `barrage search`, steps of runs at rising rates to the highest that
//!   holds an SLO.
//!
//! `docs/architecture.md` walks through it. Everything printed for people goes through
//! `console`, which never lets a closed stdout or stderr stop a run.
//!
//! `unsafe` is denied crate-wide and allowed item by item only where there is no safe
//! way: the shared mappings of `record::log` (the record log) and
//! `engine::progress` (the live board), `engine::launcher`'s `fork` and `_exit`, and
//! `engine::clock`'s `adjtimex`. Every block says why it is sound in a `// SAFETY:` line (clippy's
//! `undocumented_unsafe_blocks`, set in Cargo.toml, checks it).

#![deny(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod cli;
pub mod console;
pub mod engine;
pub mod metrics;
pub mod record;
pub mod report;
pub mod scenario;
pub mod search;
pub mod serve;
pub mod time;
pub mod wire;
