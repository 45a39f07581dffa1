//! The load engine, in the order a run meets it: the load plan built from the
//! configuration (`plan`); the launcher (`launcher`) takes the time base (`clock`),
//! forks one pinned process per core (`process`) and waits, forwarding stop signals
//! (`signals`) and printing the progress line (`live`) from the board every loop
//! writes (`progress`). Each process runs a few threads, each one mio loop (`worker`)
//! whose requests start on the closed-loop (`closed_loop`) or open-loop
//! (`open_loop`, on the rate profiles of `schedule`) model, with request deadlines
//! (`deadlines`). Each connection is a state machine (`conn`) over a plain or TLS
//! transport (`transport`), carrying one request (`inflight`) at a time. Each loop
//! checks itself (`selfcheck`): its CPU time, how late its timers fire, local
//! resources, so the run can say whose limit it measured.

pub mod clock;
pub mod closed_loop;
pub mod conn;
pub mod deadlines;
pub mod inflight;
pub mod launcher;
pub mod live;
pub mod open_loop;
pub mod plan;
pub mod process;
pub mod progress;
pub mod scenario_loop;
pub mod schedule;
pub mod selfcheck;
pub mod signals;
pub mod transport;
pub mod wakeups;
pub mod worker;
