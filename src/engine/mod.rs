//! The load engine: the launcher forks one pinned process per core, each runs a few
//! threads, each thread one mio loop (`worker`) driving many connections (`conn`),
//! on a schedule (`schedule`) with request deadlines (`deadlines`); every loop posts
//! live counters to the progress board (`progress`).

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
pub mod schedule;
pub mod signals;
pub mod transport;
pub mod worker;
