//! A log-linear histogram of latencies (the HdrHistogram layout): exact below
//! `2^sub_bits` nanoseconds, then `2^sub_bits` equal buckets per power of two, so every
//! recorded value is known within a relative error of `2^-sub_bits`.
//!
//! Memory depends on the largest value recorded, never on how many: a long simulation
//! keeps the same few kilobytes, where a `Vec` of every latency would grow without bound.

/// Counts of values in log-linear buckets, plus the exact count, sum and maximum.
#[derive(Debug, Clone)]
pub struct Histogram {
    sub_bits: u32,
    counts: Vec<u64>,
    total: u64,
    sum: f64,
    max: u64,
}

// === impl Histogram ===

impl Histogram {
    /// A histogram precise to `2^-sub_bits` (7 gives under 1%, 4 about 6%).
    pub fn new(sub_bits: u32) -> Self {
        assert!((1..=16).contains(&sub_bits), "sub_bits out of range");
        Self {
            sub_bits,
            counts: Vec::new(),
            total: 0,
            sum: 0.0,
            max: 0,
        }
    }

    pub fn record(&mut self, value: u64) {
        let i = self.index(value);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.total += 1;
        self.sum += value as f64;
        self.max = self.max.max(value);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The exact mean of the recorded values (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum / self.total as f64
        }
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value below which a fraction `q` of the values lie (the middle of its bucket,
    /// never above the maximum); 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, high) = self.bounds(i);
                return (low + (high - low) / 2).min(self.max);
            }
        }
        self.max
    }

    fn index(&self, value: u64) -> usize {
        let s = self.sub_bits;
        if value < (1 << (s + 1)) {
            return value as usize;
        }
        let e = 63 - value.leading_zeros(); // floor(log2 value) > s
        let shift = e - s;
        let mantissa = value >> shift; // in [2^s, 2^(s+1))
        (((shift + 1) as usize) << s) + (mantissa as usize - (1 << s))
    }

    /// The lowest and highest value of bucket `i`.
    fn bounds(&self, i: usize) -> (u64, u64) {
        let s = self.sub_bits;
        if i < (1 << (s + 1)) {
            return (i as u64, i as u64);
        }
        let shift = (i >> s) as u32 - 1;
        let mantissa = (1u64 << s) + (i as u64 & ((1 << s) - 1));
        let low = mantissa << shift;
        // the top bucket ends at u64::MAX: add the width less one, never the width
        (low, low + ((1u64 << shift) - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new(4);
        for v in 1..=20 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), 10);
        assert_eq!(h.quantile(1.0), 20);
        assert_eq!(h.mean(), 10.5);
    }

    #[test]
    fn quantiles_of_a_uniform_spread_are_within_one_percent() {
        let mut h = Histogram::new(7);
        for v in 1..=1_000_000u64 {
            h.record(v * 1000);
        }
        for q in [0.5, 0.95, 0.99] {
            let want = q * 1e9;
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.01, "q{q}: {got} vs {want}");
        }
    }

    #[test]
    fn memory_does_not_grow_with_the_number_of_values() {
        let mut h = Histogram::new(7);
        for v in 0..100_000u64 {
            h.record(v * 50_000);
        }
        let len = h.counts.len();
        for v in 0..1_000_000u64 {
            h.record(v * 4999 % 5_000_000_000);
        }
        assert_eq!(h.counts.len(), len);
        assert!(len < 5000);
    }

    #[test]
    fn the_largest_values_have_a_bucket_and_quantiles() {
        // saturated clock times (a server slowed to a standstill) reach u64::MAX
        let mut h = Histogram::new(7);
        h.record(u64::MAX);
        h.record(u64::MAX - 1);
        let (low, high) = h.bounds(h.index(u64::MAX));
        assert!(low < u64::MAX && high == u64::MAX);
        assert!(h.quantile(0.5) >= low && h.quantile(0.99) >= low);
    }

    proptest! {
        #[test]
        fn every_value_lands_in_a_bucket_that_contains_it(v in 0u64..u64::MAX / 2, bits in 1u32..10) {
            let h = Histogram::new(bits);
            let (low, high) = h.bounds(h.index(v));
            prop_assert!(low <= v && v <= high, "{v} not in [{low}, {high}]");
            prop_assert!((high - low) as f64 <= v as f64 / (1u64 << bits) as f64 + 1.0);
        }
    }
}
