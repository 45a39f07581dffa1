//! The command line: clap structs as typed (`args`), validated into a run (`config`)
//! from the target URL (`url`) and the requests as described (`targets`); the banner
//! a run prints first, and the exit codes; shell completions and the man page
//! (`shell`).

pub mod args;
pub mod banner;
pub mod config;
pub mod distributed;
pub mod exit;
pub mod shell;
pub mod targets;
pub mod url;
