//! `weighted_round_robin`: nginx's smooth weighted round-robin, precomputed.
//!
//! nginx's smooth WRR spreads a heavy server's turns evenly (5,1,1 gives `a a b a c a a`,
//! not `a a a a a b c`), but each nginx pick is an O(n) pass under a lock. Here the whole
//! cycle is computed once per snapshot into a table that an atomic counter walks: O(1)
//! and lock-free per pick. Weights are reduced by their gcd; a cycle longer than
//! [`MAX_TABLE`] entries is scaled down proportionally (each server keeps at least one
//! entry). The exact nginx recurrence is used when `n × cycle` is small; beyond that the
//! table is built in O(cycle · log n) by earliest-deadline-first with deadlines
//! `(k + ½) / weight`, which is equally smooth and differs only in tie order.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use rand::RngCore;

use super::{fallback, gcd};
use crate::{Server, ServerId};

/// The longest table built (entries are `u32`, so 4 MiB).
pub(crate) const MAX_TABLE: u64 = 1 << 20;
/// Above this many steps (`n × cycle`) the O(n)-per-step nginx recurrence gives way to EDF.
const MAX_EXACT_WORK: u64 = 1 << 24;

#[derive(Debug)]
pub(crate) struct SmoothWrr {
    table: Vec<u32>,
    cursor: Arc<AtomicU64>,
}

/// A server's next deadline in the EDF build: `(2k + 1) / (2 w)`, compared exactly.
#[derive(PartialEq, Eq)]
struct Deadline {
    num: u64,
    weight: u64,
    index: u32,
}

// === impl SmoothWrr ===

impl SmoothWrr {
    pub(crate) fn new(weights: &[u64], cursor: Arc<AtomicU64>) -> SmoothWrr {
        SmoothWrr {
            table: build_table(weights),
            cursor,
        }
    }

    #[inline]
    pub(crate) fn pick<R: RngCore + ?Sized>(
        &self,
        servers: &[Arc<Server>],
        exclude: &[ServerId],
        rng: &mut R,
    ) -> Option<usize> {
        let len = self.table.len() as u64;
        let pos = self.cursor.fetch_add(1, Relaxed) % len;
        let first = self.table[pos as usize] as usize;
        if exclude.is_empty() || servers[first].allowed(exclude) {
            return Some(first);
        }
        // Retry: the next entries of the cycle, then any allowed server.
        let steps = (servers.len() as u64 * 2).min(len);
        (1..steps)
            .map(|k| self.table[((pos + k) % len) as usize] as usize)
            .find(|&i| servers[i].allowed(exclude))
            .or_else(|| fallback(servers, exclude, rng))
    }
}

/// The smooth cycle for `weights` (indices into `weights`).
pub(crate) fn build_table(weights: &[u64]) -> Vec<u32> {
    let weights = reduce(weights);
    let cycle: u64 = weights.iter().sum();
    if weights.len() as u64 * cycle <= MAX_EXACT_WORK {
        nginx_cycle(&weights, cycle)
    } else {
        edf_cycle(&weights, cycle)
    }
}

/// Divides by the gcd and, when the cycle is too long, scales down proportionally.
fn reduce(weights: &[u64]) -> Vec<u64> {
    let mut w: Vec<u64> = weights.iter().map(|&w| w.max(1)).collect();
    let g = w.iter().fold(0, |g, &x| gcd(g, x));
    w.iter_mut().for_each(|x| *x /= g);
    let cycle: u64 = w.iter().sum();
    if cycle > MAX_TABLE {
        // Leave room for the entries that rounding up to 1 adds.
        let budget = MAX_TABLE.saturating_sub(w.len() as u64).max(w.len() as u64);
        w.iter_mut()
            .for_each(|x| *x = ((*x as u128 * budget as u128 / cycle as u128) as u64).max(1));
        let g = w.iter().fold(0, |g, &x| gcd(g, x));
        w.iter_mut().for_each(|x| *x /= g);
    }
    w
}

/// nginx's recurrence: add each weight to its current value, take the largest (first on
/// ties), subtract the total from it.
fn nginx_cycle(weights: &[u64], cycle: u64) -> Vec<u32> {
    let mut current = vec![0i64; weights.len()];
    let mut table = Vec::with_capacity(cycle as usize);
    let total = cycle as i64;
    for _ in 0..cycle {
        let mut best = 0;
        for (i, c) in current.iter_mut().enumerate() {
            *c += weights[i] as i64;
        }
        for i in 1..current.len() {
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        table.push(best as u32);
    }
    table
}

/// Earliest deadline first: server i's k-th turn is due at `(k + ½) / w_i`.
fn edf_cycle(weights: &[u64], cycle: u64) -> Vec<u32> {
    let mut heap: BinaryHeap<Reverse<Deadline>> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            Reverse(Deadline {
                num: 1,
                weight: w,
                index: i as u32,
            })
        })
        .collect();
    let mut table = Vec::with_capacity(cycle as usize);
    while (table.len() as u64) < cycle {
        let Some(Reverse(mut d)) = heap.pop() else {
            break;
        };
        table.push(d.index);
        d.num += 2;
        heap.push(Reverse(d));
    }
    table
}

// === impl Deadline ===

impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> Ordering {
        // num/weight vs other.num/other.weight, exactly; ties by index.
        let l = self.num as u128 * other.weight as u128;
        let r = other.num as u128 * self.weight as u128;
        l.cmp(&r).then(self.index.cmp(&other.index))
    }
}

impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letters(table: &[u32]) -> String {
        let names: Vec<String> = table
            .iter()
            .map(|&i| char::from(b'a' + i as u8).to_string())
            .collect();
        names.join(" ")
    }

    #[test]
    fn smooth_wrr_5_1_1_gives_nginx_sequence() {
        assert_eq!(letters(&build_table(&[5, 1, 1])), "a a b a c a a");
        // Same after gcd reduction (slow-start weights are in thousandths).
        assert_eq!(letters(&build_table(&[5000, 1000, 1000])), "a a b a c a a");
    }

    #[test]
    fn smooth_wrr_interleaves_heavy_servers() {
        let t = build_table(&[3, 2]);
        assert_eq!(letters(&t), "a b a b a");
    }

    #[test]
    fn edf_build_matches_weights_exactly_per_cycle() {
        let weights: Vec<u64> = (0..2000).map(|i| 1 + (i % 7)).collect();
        let cycle: u64 = weights.iter().sum();
        let t = edf_cycle(&weights, cycle);
        let mut counts = vec![0u64; weights.len()];
        t.iter().for_each(|&i| counts[i as usize] += 1);
        assert_eq!(counts, weights);
        // Smooth: a weight-7 server never takes two of seven consecutive turns near each other
        // in a way that leaves a gap over twice its period.
        let positions: Vec<usize> = (0..t.len()).filter(|&p| t[p] == 6).collect();
        let period = cycle as usize / 7;
        assert!(positions.windows(2).all(|w| w[1] - w[0] <= 2 * period));
    }

    #[test]
    fn huge_cycles_are_capped_and_stay_proportional() {
        let weights: Vec<u64> = (0..10_000).map(|i| 1000 * (1 + i % 1000) + 1).collect();
        let t = build_table(&weights);
        assert!(t.len() as u64 <= MAX_TABLE + 10_000, "{}", t.len());
        let mut counts = vec![0u64; weights.len()];
        t.iter().for_each(|&i| counts[i as usize] += 1);
        // Server 999 (weight ~1000) against server 0 (weight ~1): ratio ~1000, capped table
        // keeps it within the rounding of one entry.
        assert!(counts.iter().all(|&c| c >= 1));
        let heavy = counts[999] as f64;
        let light = counts[499] as f64; // weight ~500
        assert!((heavy / light - 2.0).abs() < 0.05, "{heavy} / {light}");
    }
}
