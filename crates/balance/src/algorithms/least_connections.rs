//! `least_connections` and `weighted_least_connections`: the server with the fewest
//! requests in flight (per unit of weight), ties broken at random.
//!
//! An O(n) scan by definition: every pick reads every eligible server's counter. Ties are
//! broken by reservoir sampling driven by one random draw expanded with SplitMix64, so a
//! pool of idle servers spreads evenly (by weight for the weighted form) instead of
//! piling onto the first one listed.

use std::sync::Arc;

use rand::RngCore;

use crate::hash::mix64;
use crate::{Server, ServerId};

#[derive(Debug)]
pub(crate) struct LeastConnections {
    weighted: bool,
}

// === impl LeastConnections ===

impl LeastConnections {
    pub(crate) fn new(weighted: bool) -> LeastConnections {
        LeastConnections { weighted }
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
        for (i, s) in servers.iter().enumerate() {
            if !exclude.is_empty() && !s.allowed(exclude) {
                continue;
            }
            let load = s.in_flight();
            let weight = if self.weighted {
                s.weight_milli.max(1)
            } else {
                1
            };
            let order = match best {
                None => std::cmp::Ordering::Less,
                // load / weight vs best_load / best_weight, cross-multiplied.
                Some(_) => {
                    (load as u128 * best_weight as u128).cmp(&(best_load as u128 * weight as u128))
                }
            };
            match order {
                std::cmp::Ordering::Less => {
                    (best, best_load, best_weight, tied) = (Some(i), load, weight, weight);
                }
                std::cmp::Ordering::Equal => {
                    // Weighted reservoir: keep the newcomer with probability weight / tied.
                    tied += weight;
                    stream = mix64(stream.wrapping_add(0x9E37_79B9_7F4A_7C15));
                    if ((stream as u128 * tied as u128) >> 64) < weight as u128 {
                        (best, best_load, best_weight) = (Some(i), load, weight);
                    }
                }
                std::cmp::Ordering::Greater => {}
            }
        }
        best
    }
}
