//! `least_connections` and `weighted_least_connections`: the server with the fewest
//! requests in flight (per unit of weight), ties broken at random.
//!
//! An O(n) scan by definition: every pick reads every eligible server's counter. The
//! selector keeps the counters' `Arc`s and the weights in two flat arrays so the scan
//! touches one cache line per server rather than chasing `Server` → `ServerStats`. Ties
//! are broken by (weighted) reservoir sampling driven by one random draw expanded with
//! SplitMix64, so a pool of idle servers spreads evenly (by weight for the weighted form)
//! instead of piling onto the first one listed.

use std::cmp::Ordering;
use std::sync::Arc;

use rand::RngCore;

use crate::hash::mix64;
use crate::{Server, ServerId, ServerStats};

#[derive(Debug)]
pub(crate) struct LeastConnections {
    stats: Vec<Arc<ServerStats>>,
    /// Weight per server in thousandths (all 1 for the unweighted form).
    weights: Vec<u64>,
}

// === impl LeastConnections ===

impl LeastConnections {
    pub(crate) fn new(servers: &[Arc<Server>], weighted: bool) -> LeastConnections {
        LeastConnections {
            stats: servers.iter().map(|s| Arc::clone(&s.stats)).collect(),
            weights: servers
                .iter()
                .map(|s| if weighted { s.weight_milli.max(1) } else { 1 })
                .collect(),
        }
    }

    /// Weighted by `weights` (thousandths, one per server) instead of the servers'
    /// own weights: `least_connections` during a slow-start ramp.
    pub(crate) fn with_weights(servers: &[Arc<Server>], weights: Vec<u64>) -> LeastConnections {
        LeastConnections {
            stats: servers.iter().map(|s| Arc::clone(&s.stats)).collect(),
            weights,
        }
    }

    #[inline]
    pub(crate) fn pick<R: RngCore + ?Sized>(
        &self,
        servers: &[Arc<Server>],
        exclude: &[ServerId],
        rng: &mut R,
    ) -> Option<usize> {
        let mut stream = rng.next_u64();
        let mut best: Option<usize> = None;
        let (mut best_load, mut best_weight) = (0u64, 1u64);
        // Sum of the weights of the servers tied at the best cost so far.
        let mut tied: u64 = 0;
        for (i, (stats, &weight)) in self.stats.iter().zip(&self.weights).enumerate() {
            if !exclude.is_empty() && !servers[i].allowed(exclude) {
                continue;
            }
            let load = stats.in_flight();
            let order = match best {
                None => Ordering::Less,
                // load / weight vs best_load / best_weight, cross-multiplied.
                Some(_) => {
                    (load as u128 * best_weight as u128).cmp(&(best_load as u128 * weight as u128))
                }
            };
            match order {
                Ordering::Less => {
                    (best, best_load, best_weight, tied) = (Some(i), load, weight, weight);
                }
                Ordering::Equal => {
                    // Weighted reservoir: keep the newcomer with probability weight / tied.
                    tied += weight;
                    stream = mix64(stream.wrapping_add(0x9E37_79B9_7F4A_7C15));
                    if ((stream as u128 * tied as u128) >> 64) < weight as u128 {
                        (best, best_load, best_weight) = (Some(i), load, weight);
                    }
                }
                Ordering::Greater => {}
            }
        }
        best
    }
}
