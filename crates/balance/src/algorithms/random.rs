//! `random`: each pick independent, in proportion to (slow-start) weight.
//!
//! Needs no shared state at all, so it scales perfectly across threads; an alias table
//! makes each pick O(1) whatever the weights.

use std::sync::Arc;

use rand::RngCore;

use super::alias::Alias;
use super::fallback;
use crate::{Server, ServerId};

/// Draws tried before a retry falls back to a scan of the allowed servers.
const DRAWS: usize = 4;

#[derive(Debug)]
pub(crate) struct WeightedRandom {
    alias: Alias,
}

// === impl WeightedRandom ===

impl WeightedRandom {
    pub(crate) fn new(weights: &[u64]) -> WeightedRandom {
        WeightedRandom {
            alias: Alias::new(weights),
        }
    }

    #[inline]
    pub(crate) fn pick<R: RngCore + ?Sized>(
        &self,
        servers: &[Arc<Server>],
        exclude: &[ServerId],
        rng: &mut R,
    ) -> Option<usize> {
        sample_allowed(&self.alias, servers, exclude, rng)
    }
}

/// A weighted draw that skips excluded servers.
#[inline]
pub(crate) fn sample_allowed<R: RngCore + ?Sized>(
    alias: &Alias,
    servers: &[Arc<Server>],
    exclude: &[ServerId],
    rng: &mut R,
) -> Option<usize> {
    for _ in 0..DRAWS {
        let i = alias.sample(rng);
        if exclude.is_empty() || servers[i].allowed(exclude) {
            return Some(i);
        }
    }
    fallback(servers, exclude, rng)
}
