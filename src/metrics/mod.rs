//! Live metrics for `barrage run --metrics-listen ADDR`: the launcher serves the
//! progress board's counters (`engine/progress.rs`) while the load runs, from its
//! own wait loop. `expose` turns the counters into Prometheus text 0.0.4 or OpenMetrics
//! 1.0; `server` is the small non-blocking HTTP server on the launcher's poll, which
//! also serves the live page (`page.html`: inline CSS and JS that polls `/metrics`).
//! The loops do nothing for it beyond the board's few stores per request.
//! `docs/metrics.md` says what is served and how to point Prometheus at it.

pub mod expose;
pub mod server;

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::{Registry, Token};

use crate::engine::plan::Plan;
use crate::engine::progress::Board;
pub use expose::{Format, Labels, Scrape};
pub use server::Server;

/// The server and where its numbers come from, for the launcher's wait loop.
pub struct Exporter<'a> {
    pub server: Server,
    pub board: &'a Board,
    pub plan: &'a Plan,
    /// The run's time base.
    pub base: Instant,
}

impl Exporter<'_> {
    pub fn register(&mut self, registry: &Registry) -> io::Result<()> {
        self.server.register(registry)
    }

    pub fn owns(token: Token) -> bool {
        Server::owns(token)
    }

    pub fn on_ready(&mut self, registry: &Registry, token: Token) {
        let (board, plan, base) = (self.board, self.plan, self.base);
        self.server
            .on_ready(registry, token, &|| Scrape::read(board, plan, base));
    }

    pub fn expire(&mut self, registry: &Registry) {
        self.server.expire(registry);
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.server.local_addr()
    }
}
