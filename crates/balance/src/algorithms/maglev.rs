//! `maglev`: Google's Maglev consistent hashing (Eisenbud et al., NSDI 2016).
//!
//! Each server has a permutation of the M table slots, `(offset + j·skip) mod M`, with
//! offset and skip from two independent hashes of its name (M prime, so every skip visits
//! every slot). Servers take turns claiming their next free preferred slot until the
//! table is full; a key goes to `table[key mod M]`: one division and one load per pick.
//! Servers are sorted by name first, so listing order never changes the table.
//!
//! Weights: each server's share of the M entries is fixed up front by largest remainder
//! (weights 1:2 in 65537 give exactly 21,846 and 43,691), and the turns are interleaved
//! in proportion to weight (a server of half the largest weight claims every other round,
//! as in Envoy). With equal weights this is exactly the paper's algorithm: every server
//! holds ⌊M/N⌋ or ⌈M/N⌉ entries. Slow start is ignored: a ramp would move keys.
//!
//! Optional bounded loads (`hash_balance_factor`, the same rule as `ring_hash`): a key
//! whose server is full walks the table from its slot to the next slot whose server has
//! room. Table neighbours are spread over all servers, so a hot key's overflow spreads
//! evenly instead of piling onto one neighbour.

use std::sync::Arc;

use rand::RngCore;

use super::fallback;
use crate::hash::{mix64, xxh64};
use crate::{Error, Server, ServerId};

/// Smallest and largest accepted table sizes.
pub const MIN_TABLE_SIZE: u64 = 7;
pub const MAX_TABLE_SIZE: u64 = 1 << 26;
const OFFSET_SEED: u64 = 0x6D61_676C_6576_6F66; // "maglevof"
const SKIP_SEED: u64 = 0x6D61_676C_6576_736B; // "maglevsk"
const EMPTY: u32 = u32::MAX;
/// Rehashes tried when the key's server is excluded (a retry), before a scan.
const REHASHES: u64 = 4;

#[derive(Debug)]
pub(crate) struct Maglev {
    /// Slot → index into the snapshot's eligible servers.
    table: Vec<u32>,
    /// Bounded loads: (factor in percent, total configured weight).
    bound: Option<(u32, u64)>,
}

// === impl Maglev ===

impl Maglev {
    pub(crate) fn new(pool: &str, servers: &[Arc<Server>], m: u64) -> Result<Maglev, Error> {
        check_table_size(pool, m)?;
        let mut order: Vec<usize> = (0..servers.len()).collect();
        order.sort_by(|&a, &b| servers[a].name.cmp(&servers[b].name));
        let perms: Vec<(u64, u64)> = order
            .iter()
            .map(|&i| permutation(&servers[i].name, m))
            .collect();
        let weights: Vec<u32> = order.iter().map(|&i| servers[i].weight.max(1)).collect();
        let mut table = build_maglev_table(m, &perms, &weights);
        for slot in &mut table {
            *slot = order[*slot as usize] as u32;
        }
        Ok(Maglev { table, bound: None })
    }

    /// Turns on bounded loads with `factor` percent (`None` leaves them off).
    pub(crate) fn with_bound(mut self, servers: &[Arc<Server>], factor: Option<u32>) -> Maglev {
        let total_weight = servers.iter().map(|s| s.weight as u64).sum();
        self.bound = factor.map(|f| (f, total_weight));
        self
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
        let m = self.table.len() as u64;
        let slot = (key % m) as usize;
        let first = self.table[slot] as usize;
        if let Some((factor, total_weight)) = self.bound {
            return self.pick_bounded(servers, slot, exclude, factor, total_weight);
        }
        if exclude.is_empty() || servers[first].allowed(exclude) {
            return Some(first);
        }
        // A retry: rehash deterministically so the same key retries the same way.
        (1..=REHASHES)
            .map(|k| self.table[(mix64(key ^ k) % m) as usize] as usize)
            .find(|&i| servers[i].allowed(exclude))
            .or_else(|| fallback(servers, exclude, rng))
    }

    /// Bounded loads: the first allowed server with room, walking the table from `slot`;
    /// when every allowed server is full (the pool counter lagged an algorithm switch),
    /// the first allowed one, ignoring the bound rather than failing.
    fn pick_bounded(
        &self,
        servers: &[Arc<Server>],
        slot: usize,
        exclude: &[ServerId],
        factor: u32,
        total_weight: u64,
    ) -> Option<usize> {
        let room = super::room_check(servers, factor, total_weight);
        let len = self.table.len();
        let mut fallback = None;
        for k in 0..len {
            let i = self.table[(slot + k) % len] as usize;
            let s = &servers[i];
            if !s.allowed(exclude) {
                continue;
            }
            if room(s) {
                return Some(i);
            }
            fallback.get_or_insert(i);
        }
        fallback
    }

    #[cfg(test)]
    pub(crate) fn table(&self) -> &[u32] {
        &self.table
    }
}

/// A server's (offset, skip) in a table of size `m`.
pub(crate) fn permutation(name: &str, m: u64) -> (u64, u64) {
    let offset = xxh64(name.as_bytes(), OFFSET_SEED) % m;
    let skip = xxh64(name.as_bytes(), SKIP_SEED) % (m - 1) + 1;
    (offset, skip)
}

/// Builds a Maglev lookup table of size `m` (prime) for servers given by their
/// permutation `(offset, skip)` and weight, in the order given; entry values index
/// `perms`. Exposed so the construction can be checked against the paper's example and
/// benchmarked without a pool. Returns an empty table unless `m` is prime.
pub fn build_maglev_table(m: u64, perms: &[(u64, u64)], weights: &[u32]) -> Vec<u32> {
    // A composite size could strand a permutation on a subset of full slots.
    if perms.is_empty() || !is_prime(m) {
        return Vec::new();
    }
    let quota = quotas(m, weights);
    let w_max = weights.iter().copied().max().unwrap_or(1).max(1) as u64;
    // One record per server keeps the round loop on contiguous memory.
    let mut cursors: Vec<Cursor> = perms
        .iter()
        .zip(weights)
        .zip(quota)
        .map(|((&(offset, skip), &w), quota)| Cursor {
            next: offset % m,
            skip: (skip % m).max(1),
            placed: 0,
            quota,
            weight: w.max(1) as u64,
        })
        .collect();
    let mut table = vec![EMPTY; m as usize];
    let mut filled = 0u64;
    let mut round = 0u64;
    while filled < m {
        round += 1;
        for (i, cur) in cursors.iter_mut().enumerate() {
            // Credit: by round r, a server may hold r·w/w_max entries (and its quota).
            if cur.placed >= cur.quota || cur.placed * w_max >= round * cur.weight {
                continue;
            }
            let mut c = cur.next;
            while table[c as usize] != EMPTY {
                c += cur.skip;
                if c >= m {
                    c -= m;
                }
            }
            table[c as usize] = i as u32;
            c += cur.skip;
            cur.next = if c >= m { c - m } else { c };
            cur.placed += 1;
            filled += 1;
            if filled == m {
                break;
            }
        }
    }
    table
}

/// A server's position in its permutation while the table is built.
struct Cursor {
    next: u64,
    skip: u64,
    placed: u64,
    quota: u64,
    weight: u64,
}

/// Each server's share of `m` entries by largest remainder (ties to the earlier server).
fn quotas(m: u64, weights: &[u32]) -> Vec<u64> {
    let total: u128 = weights.iter().map(|&w| w.max(1) as u128).sum();
    let exact: Vec<(u64, u128)> = weights
        .iter()
        .map(|&w| {
            let num = m as u128 * w.max(1) as u128;
            ((num / total) as u64, num % total)
        })
        .collect();
    let mut quota: Vec<u64> = exact.iter().map(|e| e.0).collect();
    let short = m - quota.iter().sum::<u64>();
    let mut by_remainder: Vec<usize> = (0..weights.len()).collect();
    by_remainder.sort_by(|&a, &b| exact[b].1.cmp(&exact[a].1).then(a.cmp(&b)));
    for &i in by_remainder.iter().take(short as usize) {
        quota[i] += 1;
    }
    quota
}

/// Whether `n` is prime (deterministic trial division; table sizes are small).
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    let mut d = 3u64;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

pub(crate) fn check_table_size(pool: &str, m: u64) -> Result<(), Error> {
    if !(MIN_TABLE_SIZE..=MAX_TABLE_SIZE).contains(&m) {
        return Err(Error::MaglevSize {
            pool: pool.to_string(),
            size: m,
            min: MIN_TABLE_SIZE,
            max: MAX_TABLE_SIZE,
        });
    }
    if !is_prime(m) {
        return Err(Error::MaglevNotPrime {
            pool: pool.to_string(),
            size: m,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::test_server;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn names(table: &[u32], labels: &[&str]) -> String {
        let v: Vec<&str> = table.iter().map(|&i| labels[i as usize]).collect();
        v.join(" ")
    }

    fn servers(n: usize) -> Vec<Arc<Server>> {
        (0..n).map(|i| test_server(&format!("s{i}"), 1)).collect()
    }

    fn counts(table: &[u32], n: usize) -> Vec<u64> {
        let mut c = vec![0u64; n];
        table.iter().for_each(|&i| c[i as usize] += 1);
        c
    }

    #[test]
    fn maglev_matches_the_papers_example() {
        // Eisenbud et al., table 1: M = 7.
        let t = build_maglev_table(7, &[(3, 4), (0, 2), (3, 1)], &[1, 1, 1]);
        assert_eq!(names(&t, &["B0", "B1", "B2"]), "B1 B0 B1 B0 B2 B2 B0");
        let t = build_maglev_table(7, &[(3, 4), (3, 1)], &[1, 1]);
        assert_eq!(names(&t, &["B0", "B2"]), "B0 B0 B0 B0 B2 B2 B2");
    }

    #[test]
    fn maglev_rejects_non_prime_and_out_of_range_sizes() {
        let err = check_table_size("app", 65536).unwrap_err().to_string();
        assert!(
            err.contains("maglev table size 65536 is not prime"),
            "{err}"
        );
        assert!(err.contains("\"app\""), "{err}");
        assert!(check_table_size("app", 65537).is_ok());
        assert!(check_table_size("app", 5).is_err());
        assert!(Maglev::new("app", &servers(3), 100).is_err());
        assert!(is_prime(2) && is_prime(65537) && !is_prime(1) && !is_prime(65535));
    }

    #[test]
    fn maglev_equal_weights_give_floor_or_ceil_entries() {
        let m = 65537;
        let n = 1000;
        let mg = Maglev::new("app", &servers(n), m).unwrap();
        let c = counts(mg.table(), n);
        let (lo, hi) = (m / n as u64, m.div_ceil(n as u64));
        assert!(c.iter().all(|&x| x == lo || x == hi), "{lo}..{hi}");
        let max = *c.iter().max().unwrap() as f64;
        let mean = m as f64 / n as f64;
        assert!(max / mean <= 1.0071, "{}", max / mean);
    }

    #[test]
    fn maglev_weights_are_exact_entry_shares() {
        let s = vec![test_server("light", 1), test_server("heavy", 2)];
        let mg = Maglev::new("app", &s, 65537).unwrap();
        assert_eq!(counts(mg.table(), 2), vec![21_846, 43_691]);
        let s = vec![
            test_server("a", 1),
            test_server("b", 3),
            test_server("c", 1000),
        ];
        let c = counts(Maglev::new("app", &s, 65537).unwrap().table(), 3);
        let total = 1004.0;
        for (i, w) in [1.0, 3.0, 1000.0].into_iter().enumerate() {
            assert!((c[i] as f64 - 65537.0 * w / total).abs() <= 1.0, "{c:?}");
        }
    }

    #[test]
    fn maglev_table_ignores_listing_order() {
        let s = servers(50);
        let mut r = s.clone();
        r.reverse();
        let a = Maglev::new("app", &s, 65537).unwrap();
        let b = Maglev::new("app", &r, 65537).unwrap();
        let name = |s: &[Arc<Server>], t: &[u32]| -> Vec<String> {
            t.iter().map(|&i| s[i as usize].name.clone()).collect()
        };
        assert_eq!(name(&s, a.table()), name(&r, b.table()));
    }

    #[test]
    fn maglev_removing_one_of_1000_moves_few_entries_between_survivors() {
        let m = 65537;
        let all = servers(1000);
        let before = Maglev::new("app", &all, m).unwrap();
        for removed in [0usize, 321, 999] {
            let rest: Vec<Arc<Server>> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != removed)
                .map(|(_, s)| Arc::clone(s))
                .collect();
            let after = Maglev::new("app", &rest, m).unwrap();
            let moved = (0..m as usize)
                .filter(|&slot| {
                    let old = &all[before.table()[slot] as usize].name;
                    let new = &rest[after.table()[slot] as usize].name;
                    *old != all[removed].name && old != new
                })
                .count();
            let share = moved as f64 / m as f64;
            eprintln!("removing s{removed}: {moved} entries ({share:.4}) moved between survivors");
            assert!(share < 0.012, "removing s{removed} moved {share}");
            assert!(share > 0.001, "suspiciously few moved: {share}");
        }
    }

    #[test]
    fn maglev_is_stable_per_key_and_retries_elsewhere() {
        let s = servers(10);
        let mg = Maglev::new("app", &s, 65537).unwrap();
        let mut rng = SmallRng::seed_from_u64(3);
        for key in 0..1000u64 {
            let key = mix64(key);
            let a = mg.pick(&s, Some(key), &[], &mut rng).unwrap();
            assert_eq!(mg.pick(&s, Some(key), &[], &mut rng), Some(a));
            let ex = [s[a].id];
            let b = mg.pick(&s, Some(key), &ex, &mut rng).unwrap();
            assert_ne!(a, b);
        }
    }
}
