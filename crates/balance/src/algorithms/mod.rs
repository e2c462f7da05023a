//! The algorithms, each built from the eligible servers of one snapshot into an
//! immutable selector that picks without locks or allocation.
//!
//! A selector returns an index into the eligible slice it was built from. Every selector
//! honours `PickRequest::exclude` (retries): it steps past excluded servers in its own
//! way (next in sequence, next ring point, a rehash) and falls back to a weighted random
//! scan over the servers still allowed, so a retry never returns an excluded server while
//! another eligible one exists.

pub(crate) mod alias;
pub(crate) mod least_connections;
pub mod maglev;
pub(crate) mod peak_ewma;
pub(crate) mod power_of_two;
pub(crate) mod random;
pub(crate) mod ring_hash;
pub(crate) mod round_robin;
pub(crate) mod weighted_round_robin;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use rand::RngCore;

use crate::{Algorithm, AlgorithmParams, Error, Nanos, PickRequest, Server, ServerId};

/// A built selector for one snapshot.
#[derive(Debug)]
pub(crate) enum Selector {
    Empty,
    RoundRobin(round_robin::RoundRobin),
    WeightedRoundRobin(weighted_round_robin::SmoothWrr),
    LeastConnections(least_connections::LeastConnections),
    Random(random::WeightedRandom),
    PowerOfTwo(power_of_two::PowerOfTwo),
    PeakEwma(peak_ewma::PeakEwma),
    RingHash(ring_hash::Ring),
    Maglev(maglev::Maglev),
}

/// What a selector is built from besides the servers.
pub(crate) struct BuildContext<'a> {
    pub pool: &'a str,
    pub params: &'a AlgorithmParams,
    /// The pool's rotation counter, shared across rebuilds so round-robin keeps turning.
    pub cursor: Arc<AtomicU64>,
    pub now: Nanos,
}

// === impl Selector ===

impl Selector {
    pub(crate) fn build(
        algorithm: Algorithm,
        servers: &[Arc<Server>],
        cx: BuildContext<'_>,
    ) -> Result<Selector, Error> {
        if servers.is_empty() {
            return Ok(Selector::Empty);
        }
        // round_robin and least_connections ignore weights, but a server in its slow
        // start ramp must still take a growing share: while one ramps, they run their
        // weighted form over the ramp factors alone (configured weights still ignored).
        let ramping = servers
            .iter()
            .any(|s| s.weight_milli < s.weight as u64 * 1000);
        Ok(match algorithm {
            Algorithm::RoundRobin if ramping => Selector::WeightedRoundRobin(
                weighted_round_robin::SmoothWrr::new(&ramp_weights(servers), cx.cursor),
            ),
            Algorithm::LeastConnections if ramping => Selector::LeastConnections(
                least_connections::LeastConnections::with_weights(servers, ramp_weights(servers)),
            ),
            Algorithm::RoundRobin => Selector::RoundRobin(round_robin::RoundRobin::new(cx.cursor)),
            Algorithm::WeightedRoundRobin => Selector::WeightedRoundRobin(
                weighted_round_robin::SmoothWrr::new(&milli_weights(servers), cx.cursor),
            ),
            Algorithm::LeastConnections => {
                Selector::LeastConnections(least_connections::LeastConnections::new(servers, false))
            }
            Algorithm::WeightedLeastConnections => {
                Selector::LeastConnections(least_connections::LeastConnections::new(servers, true))
            }
            Algorithm::Random => {
                Selector::Random(random::WeightedRandom::new(&milli_weights(servers)))
            }
            Algorithm::PowerOfTwo => Selector::PowerOfTwo(power_of_two::PowerOfTwo::new(
                servers,
                milli_weights(servers),
            )),
            Algorithm::PeakEwma => Selector::PeakEwma(peak_ewma::PeakEwma::new(
                servers,
                cx.params.ewma_decay,
                cx.now,
            )),
            Algorithm::RingHash => Selector::RingHash(ring_hash::Ring::new(
                servers,
                cx.params.ring_vnodes,
                cx.params.hash_balance_factor,
            )),
            Algorithm::Maglev => Selector::Maglev(
                maglev::Maglev::new(cx.pool, servers, cx.params.maglev_table_size)?
                    .with_bound(servers, cx.params.hash_balance_factor),
            ),
        })
    }

    /// Picks an index into `servers` (the slice the selector was built from).
    #[inline]
    pub(crate) fn pick<R: RngCore + ?Sized>(
        &self,
        servers: &[Arc<Server>],
        req: &PickRequest<'_>,
        rng: &mut R,
        now: Nanos,
    ) -> Option<usize> {
        let ex = req.exclude;
        match self {
            Selector::Empty => None,
            Selector::RoundRobin(s) => s.pick(servers, ex, rng),
            Selector::WeightedRoundRobin(s) => s.pick(servers, ex, rng),
            Selector::LeastConnections(s) => s.pick(servers, ex, rng),
            Selector::Random(s) => s.pick(servers, ex, rng),
            Selector::PowerOfTwo(s) => s.pick(servers, ex, rng),
            Selector::PeakEwma(s) => s.pick(servers, ex, rng, now),
            Selector::RingHash(s) => s.pick(servers, req.hash, ex, rng),
            Selector::Maglev(s) => s.pick(servers, req.hash, ex, rng),
        }
    }

    /// Whether picks need the pool-wide in-flight counter (bounded loads).
    pub(crate) fn needs_pool_load(algorithm: Algorithm, params: &AlgorithmParams) -> bool {
        matches!(algorithm, Algorithm::RingHash | Algorithm::Maglev)
            && params.hash_balance_factor.is_some()
    }
}

/// The slow-start-scaled weights, in thousandths.
fn milli_weights(servers: &[Arc<Server>]) -> Vec<u64> {
    servers.iter().map(|s| s.weight_milli.max(1)).collect()
}

/// Each server's slow-start factor in thousandths (1000 = fully ramped), without its
/// configured weight: the weights of the unweighted algorithms while a server ramps.
fn ramp_weights(servers: &[Arc<Server>]) -> Vec<u64> {
    servers
        .iter()
        .map(|s| (s.weight_milli / u64::from(s.weight.max(1))).clamp(1, 1000))
        .collect()
}

/// A uniform index below `n` from 64 random bits (Lemire's multiply-shift; the bias is
/// below n / 2^64).
#[inline]
pub(crate) fn below(x: u64, n: usize) -> usize {
    ((x as u128 * n as u128) >> 64) as usize
}

/// The last resort of every selector when its own choice is excluded: weighted random
/// over the servers still allowed, by slow-start weight. O(n), allocation-free, and only
/// reached on retries.
pub(crate) fn fallback<R: RngCore + ?Sized>(
    servers: &[Arc<Server>],
    exclude: &[ServerId],
    rng: &mut R,
) -> Option<usize> {
    let total: u64 = servers
        .iter()
        .filter(|s| s.allowed(exclude))
        .map(|s| s.weight_milli.max(1))
        .sum();
    if total == 0 {
        return None;
    }
    let mut target = ((rng.next_u64() as u128 * total as u128) >> 64) as u64;
    for (i, s) in servers.iter().enumerate() {
        if !s.allowed(exclude) {
            continue;
        }
        let w = s.weight_milli.max(1);
        if target < w {
            return Some(i);
        }
        target -= w;
    }
    None
}

/// Bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018, as in HAProxy's
/// `hash-balance-factor`), shared by `ring_hash` and `maglev`: with factor c percent, a
/// server has room for a new request while its in-flight count is below
/// `ceil(c/100 × (pool in-flight + 1) × w / W)`. Some server always has room when
/// c ≥ 100, so a walk looking for one ends.
pub(crate) fn room_check(
    servers: &[Arc<Server>],
    factor: u32,
    total_weight: u64,
) -> impl Fn(&Server) -> bool + '_ {
    let pool_load = servers
        .first()
        .and_then(|s| s.pool_load.as_ref())
        .map_or(0, |l| l.load(Relaxed));
    let scale = factor as u128 * (pool_load as u128 + 1);
    let denom = 100 * total_weight.max(1) as u128;
    move |s: &Server| {
        let cap = (scale * s.weight as u128).div_ceil(denom);
        (s.in_flight() as u128) < cap
    }
}

/// The greatest common divisor, for reducing weights.
pub(crate) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
