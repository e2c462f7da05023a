//! A pick request and its result.
//!
//! [`Picked`] is an RAII guard: creating it counts the request in flight on its server,
//! dropping it (or [`Picked::finish`]) counts it out, so least-connections and friends see
//! true load even when a request is abandoned half-way.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use crate::{Nanos, Server, ServerId};

/// What the caller knows about a request when it asks for a server.
#[derive(Debug, Clone, Copy, Default)]
pub struct PickRequest<'a> {
    /// `hash_bytes` of the request's hash key, for `ring_hash` and `maglev` (a random key
    /// is used when `None`). Other algorithms ignore it.
    pub hash: Option<u64>,
    /// The server an affinity cookie or session names: used if it is up or draining.
    pub sticky: Option<ServerId>,
    /// Servers already tried for this request (retries): never picked again while any
    /// other eligible server exists.
    pub exclude: &'a [ServerId],
}

/// A chosen server, counted in flight until finished or dropped.
#[derive(Debug)]
pub struct Picked {
    server: Arc<Server>,
    sticky: bool,
}

// === impl PickRequest ===

impl<'a> PickRequest<'a> {
    pub fn new() -> PickRequest<'a> {
        PickRequest::default()
    }

    pub fn with_hash(mut self, hash: u64) -> Self {
        self.hash = Some(hash);
        self
    }

    pub fn with_sticky(mut self, id: ServerId) -> Self {
        self.sticky = Some(id);
        self
    }

    pub fn with_exclude(mut self, exclude: &'a [ServerId]) -> Self {
        self.exclude = exclude;
        self
    }
}

// === impl Picked ===

impl Picked {
    pub(crate) fn new(server: &Arc<Server>, sticky: bool) -> Picked {
        server.stats.acquire();
        if let Some(load) = &server.pool_load {
            load.fetch_add(1, Relaxed);
        }
        Picked {
            server: Arc::clone(server),
            sticky,
        }
    }

    pub fn server(&self) -> &Arc<Server> {
        &self.server
    }

    pub fn id(&self) -> ServerId {
        self.server.id
    }

    pub fn name(&self) -> &str {
        &self.server.name
    }

    pub fn address(&self) -> SocketAddr {
        self.server.address
    }

    /// Whether the server was chosen because the request's sticky id named it.
    pub fn is_sticky(&self) -> bool {
        self.sticky
    }

    /// Records the outcome: counts the request (and a failure), feeds the latency into the
    /// server's peak EWMA, and counts it out of flight.
    pub fn finish(self, success: bool, latency: Duration, now: Nanos) {
        self.server
            .stats
            .record(success, latency, now, self.server.ewma_decay);
    }
}

impl Drop for Picked {
    fn drop(&mut self) {
        self.server.stats.release();
        if let Some(load) = &self.server.pool_load {
            load.fetch_sub(1, Relaxed);
        }
    }
}
