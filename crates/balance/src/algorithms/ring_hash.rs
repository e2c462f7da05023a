//! `ring_hash`: consistent hashing on a ring of virtual nodes (Karger et al., ketama).
//!
//! Each server gets `ring_vnodes × weight` points at the top 32 bits of
//! `mix64(xxh64(name) + k·φ)` (ketama's 32-bit ring); a key goes to the owner of the first
//! point at or after its top 32 bits. Point and owner share one `u64` (point in the high
//! half) so a lookup touches one array, found through a radix index. A server's points
//! depend only on its own name and weight, so removing a
//! server moves only its own keys: no key moves between survivors. The ring is capped at
//! [`MAX_POINTS`] by halving every server's point count together (a power-of-two shift,
//! so a membership change rarely changes it). Slow start is ignored: a ramp would move
//! keys back and forth and break affinity.
//!
//! Optional bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018, as in HAProxy's
//! `hash-balance-factor`): with factor c, a server takes a new request only while its
//! in-flight count is below `ceil(c/100 × (pool in-flight + 1) × w / W)`; otherwise the
//! walk continues clockwise to the next server with room. Some server always has room
//! when c ≥ 100, so the walk ends.

use std::sync::Arc;

use rand::RngCore;

use crate::hash::{mix64, xxh64};
use crate::{Server, ServerId};

/// The most points a ring holds (16 MiB of entries).
pub(crate) const MAX_POINTS: u64 = 1 << 21;
const POINT_SEED: u64 = 0x5157_4954_4348_5952; // "SWITCHYR"
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Debug)]
pub(crate) struct Ring {
    /// `point << 32 | owner index`, sorted (ties between servers by server id).
    entries: Vec<u64>,
    /// Radix index over the top `index_bits` of a hash: `index[b]` is the first point whose
    /// top bits are `>= b`, so a lookup binary-searches a handful of points in one or two
    /// cache lines instead of the whole ring (≈20 cache misses at 400k points).
    index: Vec<u32>,
    index_bits: u32,
    /// Bounded loads: (factor in percent, total configured weight).
    bound: Option<(u32, u64)>,
}

// === impl Ring ===

impl Ring {
    pub(crate) fn new(servers: &[Arc<Server>], vnodes: u32, factor: Option<u32>) -> Ring {
        let per_server: Vec<u64> = servers
            .iter()
            .map(|s| s.weight as u64 * vnodes.max(1) as u64)
            .collect();
        let total: u64 = per_server.iter().sum();
        let mut shift = 0;
        while total >> shift > MAX_POINTS {
            shift += 1;
        }
        let mut all: Vec<(u32, ServerId, u32)> = Vec::with_capacity((total >> shift) as usize);
        for (i, s) in servers.iter().enumerate() {
            let base = xxh64(s.name.as_bytes(), POINT_SEED);
            let count = (per_server[i] >> shift).max(1);
            for k in 0..count {
                let point = (mix64(base.wrapping_add(k.wrapping_mul(GOLDEN))) >> 32) as u32;
                all.push((point, s.id, i as u32));
            }
        }
        // Ties (vanishingly rare) resolved by server id so listing order never matters.
        all.sort_unstable_by_key(|&(p, id, _)| (p, id));
        let total_weight = servers.iter().map(|s| s.weight as u64).sum();
        let entries: Vec<u64> = all
            .iter()
            .map(|&(p, _, i)| (p as u64) << 32 | i as u64)
            .collect();
        let (index, index_bits) = radix_index(&entries);
        Ring {
            entries,
            index,
            index_bits,
            bound: factor.map(|f| (f, total_weight)),
        }
    }

    /// The position of the first point at or after `key`, wrapping to 0.
    #[inline]
    fn locate(&self, key: u64) -> usize {
        let b = (key >> (64 - self.index_bits)) as usize;
        let (lo, hi) = (self.index[b] as usize, self.index[b + 1] as usize);
        let k = key >> 32;
        let pos = lo + self.entries[lo..hi].partition_point(|&e| e >> 32 < k);
        if pos == self.entries.len() {
            0
        } else {
            pos
        }
    }

    #[inline]
    pub(crate) fn pick<R: RngCore + ?Sized>(
        &self,
        servers: &[Arc<Server>],
        hash: Option<u64>,
        exclude: &[ServerId],
        rng: &mut R,
    ) -> Option<usize> {
        let key = hash.unwrap_or_else(|| rng.next_u64());
        let len = self.entries.len();
        let start = self.locate(key);
        let first = self.owner(start);
        if self.bound.is_none() && (exclude.is_empty() || servers[first].allowed(exclude)) {
            return Some(first);
        }
        let room = self.room_check(servers);
        let mut fallback = None;
        for k in 0..len {
            let i = self.owner((start + k) % len);
            let s = &servers[i];
            if !s.allowed(exclude) {
                continue;
            }
            if room.as_ref().is_none_or(|r| r(s)) {
                return Some(i);
            }
            fallback.get_or_insert(i);
        }
        // Every allowed server full (the pool counter lagged an algorithm switch): ignore
        // the bound rather than fail.
        fallback
    }

    /// For bounded loads, a test of whether a server has room for one more request.
    fn room_check<'a>(&self, servers: &'a [Arc<Server>]) -> Option<impl Fn(&Server) -> bool + 'a> {
        let (factor, total_weight) = self.bound?;
        Some(super::room_check(servers, factor, total_weight))
    }

    #[inline]
    fn owner(&self, pos: usize) -> usize {
        self.entries[pos] as u32 as usize
    }

    #[cfg(test)]
    fn locate_slow(&self, key: u64) -> usize {
        match self.entries.partition_point(|&e| e >> 32 < key >> 32) {
            i if i == self.entries.len() => 0,
            i => i,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Builds the radix index for sorted `points` (compared by their top bits): two to four
/// points per bucket, between 2^4 and 2^20 buckets.
fn radix_index(points: &[u64]) -> (Vec<u32>, u32) {
    let want = (points.len() / 4).max(1);
    let bits = (usize::BITS - want.leading_zeros()).clamp(4, 20);
    let buckets = 1usize << bits;
    let mut index = Vec::with_capacity(buckets + 1);
    let mut pos = 0usize;
    for b in 0..buckets {
        while pos < points.len() && ((points[pos] >> (64 - bits)) as usize) < b {
            pos += 1;
        }
        index.push(pos as u32);
    }
    index.push(points.len() as u32);
    (index, bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::test_server;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn servers(n: usize, weight: u32) -> Vec<Arc<Server>> {
        (0..n)
            .map(|i| test_server(&format!("s{i}"), weight))
            .collect()
    }

    fn owner_names(ring: &Ring, s: &[Arc<Server>], keys: &[u64]) -> Vec<String> {
        let mut rng = SmallRng::seed_from_u64(1);
        keys.iter()
            .map(|&k| {
                s[ring.pick(s, Some(k), &[], &mut rng).unwrap()]
                    .name
                    .clone()
            })
            .collect()
    }

    #[test]
    fn ring_removing_a_server_moves_no_key_between_survivors() {
        let all = servers(20, 1);
        let ring = Ring::new(&all, 160, None);
        assert_eq!(ring.len(), 20 * 160);
        let keys: Vec<u64> = (0..20_000u64).map(mix64).collect();
        let before = owner_names(&ring, &all, &keys);
        let rest: Vec<Arc<Server>> = all.iter().skip(1).cloned().collect();
        let after = owner_names(&Ring::new(&rest, 160, None), &rest, &keys);
        for (b, a) in before.iter().zip(&after) {
            if b != "s0" {
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn ring_share_spread_is_about_one_over_sqrt_vnodes() {
        let n = 50;
        let s = servers(n, 1);
        let ring = Ring::new(&s, 160, None);
        let keys: Vec<u64> = (0..200_000u64).map(|k| mix64(k ^ 0xABCD)).collect();
        let mut counts = vec![0f64; n];
        let mut rng = SmallRng::seed_from_u64(1);
        for &k in &keys {
            counts[ring.pick(&s, Some(k), &[], &mut rng).unwrap()] += 1.0;
        }
        let mean = keys.len() as f64 / n as f64;
        let var = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / n as f64;
        let cv = var.sqrt() / mean;
        // 1/sqrt(160) ≈ 0.079; allow sampling noise either way.
        assert!(cv > 0.03 && cv < 0.13, "coefficient of variation {cv}");
    }

    #[test]
    fn radix_index_finds_the_same_point_as_a_full_search() {
        for n in [1usize, 3, 40, 700] {
            let s = servers(n, 1 + (n % 3) as u32);
            let ring = Ring::new(&s, 160, None);
            let mut keys: Vec<u64> = (0..5000u64).map(|k| mix64(k ^ n as u64)).collect();
            let first = ring.entries[0] & !0xFFFF_FFFF;
            let last = ring.entries[ring.len() - 1] & !0xFFFF_FFFF;
            keys.extend([0, u64::MAX, first, last, last | 0xFFFF_FFFF]);
            keys.extend(
                ring.entries
                    .iter()
                    .take(50)
                    .map(|e| (e & !0xFFFF_FFFF) + (1 << 32)),
            );
            for k in keys {
                assert_eq!(ring.locate(k), ring.locate_slow(k), "n={n} key={k:x}");
            }
        }
    }

    #[test]
    fn ring_weights_scale_points() {
        let s = vec![test_server("a", 1), test_server("b", 3)];
        let ring = Ring::new(&s, 160, None);
        assert_eq!(ring.len(), 640);
        let a = (0..ring.len()).filter(|&i| ring.owner(i) == 0).count();
        assert_eq!(a, 160);
    }

    #[test]
    fn ring_caps_huge_rings() {
        let s = servers(20_000, 1000);
        let ring = Ring::new(&s, 160, None);
        assert!(ring.len() as u64 <= MAX_POINTS, "{}", ring.len());
    }

    #[test]
    fn bounded_loads_hold_their_bound_for_one_hot_key() {
        let n = 10;
        let load = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let s: Vec<Arc<Server>> = (0..n)
            .map(|i| {
                let t = test_server(&format!("s{i}"), 1);
                let mut t = Arc::try_unwrap(t).unwrap();
                t.pool_load = Some(Arc::clone(&load));
                Arc::new(t)
            })
            .collect();
        let ring = Ring::new(&s, 160, Some(125));
        let mut rng = SmallRng::seed_from_u64(1);
        let mut held = Vec::new();
        for total in 1..=200u64 {
            let i = ring.pick(&s, Some(42), &[], &mut rng).unwrap();
            held.push(crate::Picked::new(&s[i], false));
            let bound = (125 * total).div_ceil(100 * n as u64);
            let max = s.iter().map(|x| x.in_flight()).max().unwrap();
            assert!(max <= bound, "after {total}: max {max} > {bound}");
        }
        // Unbounded, the same key would have put all 200 on one server.
        assert_eq!(load.load(std::sync::atomic::Ordering::Relaxed), 200);
        drop(held);
        assert_eq!(load.load(std::sync::atomic::Ordering::Relaxed), 0);
    }
}
