//! Walker/Vose alias table: O(1) weighted sampling with one 64-bit random draw.
//!
//! Shared by `random`, `power_of_two` and `peak_ewma`. Built in O(n) per snapshot; each
//! draw uses the high 32 bits to choose a column and the low 32 bits to choose between the
//! column's own server and its alias.

use rand::RngCore;

#[derive(Debug)]
pub(crate) struct Alias {
    /// Probability (scaled to 2^32) of keeping column i rather than taking its alias.
    keep: Vec<u64>,
    alias: Vec<u32>,
}

// === impl Alias ===

impl Alias {
    pub(crate) fn new(weights: &[u64]) -> Alias {
        let n = weights.len();
        let total: f64 = weights.iter().map(|&w| w as f64).sum();
        let mut scaled: Vec<f64> = weights
            .iter()
            .map(|&w| w as f64 * n as f64 / total)
            .collect();
        let mut keep = vec![1u64 << 32; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            keep[s] = (scaled[s] * (1u64 << 32) as f64) as u64;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers (rounding) keep their own column.
        Alias { keep, alias }
    }

    pub(crate) fn len(&self) -> usize {
        self.keep.len()
    }

    #[inline]
    pub(crate) fn sample<R: RngCore + ?Sized>(&self, rng: &mut R) -> usize {
        let x = rng.next_u64();
        let col = (((x >> 32) * self.keep.len() as u64) >> 32) as usize;
        if (x & 0xFFFF_FFFF) < self.keep[col] {
            col
        } else {
            self.alias[col] as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn alias_samples_in_proportion_to_weights() {
        let weights = [1u64, 2, 3, 4, 0];
        let a = Alias::new(&weights);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut counts = [0u64; 5];
        let draws = 200_000;
        for _ in 0..draws {
            counts[a.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[4], 0);
        for i in 0..4 {
            let expect = draws as f64 * weights[i] as f64 / 10.0;
            let dev = (counts[i] as f64 - expect).abs() / expect;
            assert!(dev < 0.02, "server {i}: {} vs {expect}", counts[i]);
        }
    }
}
