//! Scenarios (`barrage run --scenario FILE`): multi-step transactions with captured
//! values, data files, cookies and think time, compiled once into segments that the
//! engine renders per request, with no interpreter. `docs/scenarios.md` describes the
//! file; the engine's side is three calls on a [`vu::Vu`].
//!
//! In the order a request meets them:
//!
//! - `file`: the TOML file as written (serde, spans for errors).
//! - `error`: the one-line `FILE:LINE:COLUMN` errors.
//! - `compile`: a file (and its data file) checked and compiled, before any fork...
//! - `set`: ...into the scenario set the loops read: scenarios, steps, slots.
//! - `data`: the CSV data file and how its rows are split between loops.
//! - `template`: `{{name}}` templates in paths, header values and bodies.
//! - `request`: a step's request bytes, rendered into the connection's buffer.
//! - `cookies`: the per-virtual-user cookie jar.
//! - `capture`: values taken from a response (JSON Pointer, regex, header).
//! - `vu`: one virtual user's state and the calls the engine makes per step.
//! - `rng`: the small random generator behind `{{uuid}}`, `{{random}}`, think times.
//! - `dry_run`: `--dry-run`'s text, the first iteration of every scenario.

pub mod capture;
pub mod compile;
pub mod cookies;
pub mod data;
pub mod dry_run;
pub mod error;
pub mod file;
pub mod request;
pub mod rng;
pub mod set;
pub mod template;
pub mod vu;
