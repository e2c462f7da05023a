//! `peak_ewma`: power of two choices on expected latency, as Finagle and linkerd do it.
//!
//! Cost = peak-EWMA latency × (in_flight + 1). The estimate jumps to any slower sample at
//! once (peak) and otherwise follows an exponentially weighted moving average with decay
//! time `ewma_decay`; between samples it decays towards zero, so a server that was slow
//! once is tried again later instead of being starved forever. Candidates are drawn by
//! (slow-start) weight; the cost itself is unweighted. A server with no sample yet is
//! costed at the pool's median estimate when the snapshot was built (or 1 ms when nobody
//! has one): neither a penalty that starves it nor a zero that floods it.

use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;

use super::alias::Alias;
use super::power_of_two::two_candidates;
use crate::stats::decay_ns;
use crate::{Nanos, Server, ServerId, ServerStats};

/// The prior for servers without samples when no server has any.
const DEFAULT_PRIOR_NS: f64 = 1_000_000.0;

#[derive(Debug)]
pub(crate) struct PeakEwma {
    alias: Alias,
    /// Flat copies so a comparison reads two counters, not two `Server`s first.
    stats: Vec<Arc<ServerStats>>,
    decay_ns: f64,
    prior_ns: f64,
}

// === impl PeakEwma ===

impl PeakEwma {
    pub(crate) fn new(servers: &[Arc<Server>], decay: Duration, now: Nanos) -> PeakEwma {
        let weights: Vec<u64> = servers.iter().map(|s| s.weight_milli.max(1)).collect();
        let decay_ns = decay_ns(decay);
        let mut sampled: Vec<f64> = servers
            .iter()
            .filter(|s| s.stats.latency_samples() > 0)
            .map(|s| s.stats.ewma_ns_at(now, decay_ns))
            .collect();
        sampled.sort_by(f64::total_cmp);
        let prior_ns = match sampled.len() {
            0 => DEFAULT_PRIOR_NS,
            n => sampled[n / 2].max(1.0),
        };
        PeakEwma {
            alias: Alias::new(&weights),
            stats: servers.iter().map(|s| Arc::clone(&s.stats)).collect(),
            decay_ns,
            prior_ns,
        }
    }

    #[inline]
    pub(crate) fn pick<R: RngCore + ?Sized>(
        &self,
        servers: &[Arc<Server>],
        exclude: &[ServerId],
        rng: &mut R,
        now: Nanos,
    ) -> Option<usize> {
        let (a, b) = two_candidates(&self.alias, servers, exclude, rng)?;
        let Some(b) = b else { return Some(a) };
        Some(if self.cost(b, now) < self.cost(a, now) {
            b
        } else {
            a
        })
    }

    #[inline]
    fn cost(&self, i: usize, now: Nanos) -> f64 {
        let stats = &self.stats[i];
        let latency = if stats.latency_samples() == 0 {
            self.prior_ns
        } else {
            stats.ewma_ns_at(now, self.decay_ns)
        };
        latency * (stats.in_flight() + 1) as f64
    }
}
