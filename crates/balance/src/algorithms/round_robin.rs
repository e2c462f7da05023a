//! `round_robin`: every eligible server in turn, ignoring weights.
//!
//! One atomic counter, shared with the pool so a snapshot rebuild does not restart the
//! rotation at the first server (with frequent rebuilds that would favour it).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use rand::RngCore;

use crate::{Server, ServerId};

#[derive(Debug)]
pub(crate) struct RoundRobin {
    cursor: Arc<AtomicU64>,
}

// === impl RoundRobin ===

impl RoundRobin {
    pub(crate) fn new(cursor: Arc<AtomicU64>) -> RoundRobin {
        RoundRobin { cursor }
    }

    #[inline]
    pub(crate) fn pick<R: RngCore + ?Sized>(
        &self,
        servers: &[Arc<Server>],
        exclude: &[ServerId],
        _rng: &mut R,
    ) -> Option<usize> {
        let n = servers.len();
        let start = (self.cursor.fetch_add(1, Relaxed) % n as u64) as usize;
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| servers[i].allowed(exclude))
    }
}
