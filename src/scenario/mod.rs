//! Scenarios (`barrage run --scenario FILE`): multi-step transactions with captured
//! values, data files, cookies and think time, compiled once into segments the engine
//! renders per request with no interpreter.
//!
//! - `file`: the TOML file as written (serde, spans for errors).
//! - `error`: the one-line `FILE:LINE:COLUMN` errors.
//! - `template`: `{{name}}` templates in paths, header values and bodies.
//! - `capture`: values taken from a response (JSON Pointer, regex, header).
//! - `data`: the CSV data file and how its rows are split between loops.
//! - `cookies`: the per-virtual-user cookie jar.
//! - `rng`: the small random generator behind `{{uuid}}`, `{{random}}` and think times.
//! - `compile`: the scenario set (scenarios, steps, expectations) built from a file.
//! - `vu`: one virtual user's state and the calls the engine makes per step.

pub mod capture;
pub mod cookies;
pub mod data;
pub mod error;
pub mod file;
pub mod rng;
pub mod template;
