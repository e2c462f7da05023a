//! `power_of_two`: two distinct servers drawn by weight; the one with fewer requests in
//! flight per unit of weight wins (ties go to the first draw, itself weighted).
//!
//! Mitzenmacher's power of two choices: nearly the balance of least-connections at the
//! cost of two random draws and two counter reads, with no O(n) scan and far less herding
//! when many balancers share the same servers. The cost is `in_flight / weight` without a
//! `+1`, so an idle pool degrades to plain weighted random rather than always sending to
//! the heaviest server.

use std::sync::Arc;

use rand::RngCore;

use super::alias::Alias;
use super::random::sample_allowed;
use crate::{Server, ServerId, ServerStats};

/// Draws tried for a second candidate distinct from the first.
const SECOND_DRAWS: usize = 8;

#[derive(Debug)]
pub(crate) struct PowerOfTwo {
    alias: Alias,
    /// Flat copies so a comparison reads two counters, not two `Server`s first.
    stats: Vec<Arc<ServerStats>>,
    weights: Vec<u64>,
}

// === impl PowerOfTwo ===

impl PowerOfTwo {
    pub(crate) fn new(servers: &[Arc<Server>], weights: Vec<u64>) -> PowerOfTwo {
        PowerOfTwo {
            alias: Alias::new(&weights),
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
        let (a, b) = two_candidates(&self.alias, servers, exclude, rng)?;
        let Some(b) = b else { return Some(a) };
        // in_flight_a / w_a <= in_flight_b / w_b, cross-multiplied.
        let ca = self.stats[a].in_flight() as u128 * self.weights[b] as u128;
        let cb = self.stats[b].in_flight() as u128 * self.weights[a] as u128;
        Some(if cb < ca { b } else { a })
    }
}

/// A weighted first candidate and, when another allowed server exists, a distinct second
/// one (also weighted; uniform among the others if the weights make that unlikely).
#[inline]
pub(crate) fn two_candidates<R: RngCore + ?Sized>(
    alias: &Alias,
    servers: &[Arc<Server>],
    exclude: &[ServerId],
    rng: &mut R,
) -> Option<(usize, Option<usize>)> {
    let a = sample_allowed(alias, servers, exclude, rng)?;
    let n = alias.len();
    if n == 1 {
        return Some((a, None));
    }
    let ok = |i: usize| i != a && (exclude.is_empty() || servers[i].allowed(exclude));
    for _ in 0..SECOND_DRAWS {
        let b = alias.sample(rng);
        if ok(b) {
            return Some((a, Some(b)));
        }
    }
    let start = super::below(rng.next_u64(), n);
    let b = (0..n).map(|k| (start + k) % n).find(|&i| ok(i));
    Some((a, b))
}
