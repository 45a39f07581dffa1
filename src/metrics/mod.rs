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
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Registry, Token};

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
    /// When the load ended (`None` while it runs): scrapes after it read the time
    /// then, so the elapsed time and an open loop's backlog stay as the load left them.
    pub ended: Option<Instant>,
}

impl Exporter<'_> {
    pub fn register(&mut self, registry: &Registry) -> io::Result<()> {
        self.server.register(registry)
    }

    pub fn owns(token: Token) -> bool {
        Server::owns(token)
    }

    pub fn on_ready(&mut self, registry: &Registry, token: Token) {
        let (board, plan, base, ended) = (self.board, self.plan, self.base, self.ended);
        self.server.on_ready(registry, token, &|| {
            Scrape::read(board, plan, base, ended.unwrap_or_else(Instant::now))
        });
    }

    pub fn deregister(&mut self, registry: &Registry) {
        self.server.deregister(registry);
    }

    /// After the load: serves the final counters from a poll of its own (the
    /// launcher's thread is writing results.csv and the report meanwhile) until `stop`
    /// is set. Without a poll, the socket stays open unserved, as before.
    pub fn serve_until(&mut self, stop: &AtomicBool) {
        let Ok(mut poll) = Poll::new() else { return };
        if self.register(poll.registry()).is_err() {
            return;
        }
        let mut events = Events::with_capacity(8);
        let mut last_expiry = Instant::now();
        while !stop.load(Ordering::Acquire) {
            // Short: `stop` is checked between polls.
            let _ = poll.poll(&mut events, Some(Duration::from_millis(20)));
            for ev in events.iter() {
                if Self::owns(ev.token()) {
                    self.on_ready(poll.registry(), ev.token());
                }
            }
            if last_expiry.elapsed() >= Duration::from_secs(1) {
                self.expire(poll.registry());
                last_expiry = Instant::now();
            }
        }
        self.deregister(poll.registry());
    }

    pub fn expire(&mut self, registry: &Registry) {
        self.server.expire(registry);
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.server.local_addr()
    }
}
