//! barrage: a low-level HTTP/1.1 load generator.
//!
//! The data's path, one module per stage: `cli` (flags as typed) -> `config` (the
//! validated run) -> `launcher` (time base, fork, pin, signals) -> `worker` (one
//! thread's mio loop) -> `conn` (one connection's state machine) -> `http` (request
//! bytes, response framing) -> `sample` (the mmapped record log) -> `merge`
//! (results.csv) -> `summary`. `serve` is the built-in target server.
//! `docs/architecture.md` walks through it. Everything printed for people goes through
//! `console`, which never lets a closed stdout or stderr stop a run.
//!
//! `unsafe` is denied crate-wide and allowed item by item only where there is no safe
//! way: the shared mappings of `sample` (the record log) and `progress` (the live
//! board), and `launcher`'s `fork`, `_exit` and `adjtimex`. Every block says why it
//! is sound in a `// SAFETY:` line (clippy's `undocumented_unsafe_blocks`, set in
//! Cargo.toml, checks it).

#![deny(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod banner;
pub mod cli;
pub mod config;
pub mod conn;
pub mod console;
pub mod deadlines;
pub mod exit;
pub mod expect;
pub mod http;
pub mod launcher;
pub mod merge;
pub mod progress;
pub mod report;
pub mod request;
pub mod sample;
pub mod schedule;
pub mod serve;
pub mod summary;
pub mod time;
pub mod tls;
pub mod tls_verify;
pub mod worker;
