//! The lock-free latency histogram every server keeps (in `ServerStats`), also used by
//! the data planes, the runtime and the admin API (which re-exports it).
//!
//! Every proxied request records its latency here, from many threads at once, so
//! [`Histogram::observe`] is a binary search over a static bound table and three relaxed
//! atomic adds: no lock, no allocation. Buckets are log-linear, ten per decade from
//! 10 µs to 100 s (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10ⁿ), so a percentile estimated
//! by interpolating inside a bucket is within one bucket width (at most 25%) of the
//! truth and usually much closer. The Prometheus exposition publishes a subset of those
//! bounds (1, 2.5 and 5 × 10ⁿ seconds from 100 µs to 10 s) that are exact bucket edges,
//! so exported cumulative counts are exact too.
//!
//! Readers take a [`HistogramSnapshot`] (plain numbers) and ask it for quantiles;
//! [`HistogramSnapshot::delta`] against an earlier snapshot gives a windowed view
//! ("p99 over the last second") without ever resetting the shared atomics.
//!
//! ```
//! use std::time::Duration;
//! use switchyard_balance::Histogram;
//!
//! let latency = Histogram::new();
//! for ms in 1..=100 {
//!     latency.observe(Duration::from_millis(ms));
//! }
//! let snapshot = latency.snapshot();
//! let p99 = snapshot.quantile_ms(0.99).unwrap();
//! assert!((95.0..=100.0).contains(&p99));
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Number of finite bucket upper bounds.
pub const BOUNDS_LEN: usize = 71;

/// Finite upper bounds in nanoseconds; bucket `i` counts values in `(BOUNDS[i-1], BOUNDS[i]]`,
/// and one extra overflow bucket counts values above the last bound.
pub const BOUNDS_NANOS: [u64; BOUNDS_LEN] = build_bounds();

/// The bounds published as Prometheus `le` labels: every one is an exact entry of
/// [`BOUNDS_NANOS`], so cumulative counts at them are exact.
pub const EXPORTED_BOUNDS: [(u64, &str); 16] = [
    (100_000, "0.0001"),
    (250_000, "0.00025"),
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
    (2_500_000_000, "2.5"),
    (5_000_000_000, "5"),
    (10_000_000_000, "10"),
];

const MANTISSAS: [u64; 10] = [100, 125, 150, 200, 250, 300, 400, 500, 600, 800];

/// A concurrent latency histogram: fixed log-linear buckets of atomic counters.
#[derive(Debug)]
pub struct Histogram {
    counts: [AtomicU64; BOUNDS_LEN + 1],
    sum_nanos: AtomicU64,
    max_nanos: AtomicU64,
}

/// A plain copy of a histogram's counters at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistogramSnapshot {
    counts: [u64; BOUNDS_LEN + 1],
    sum_nanos: u64,
    max_nanos: u64,
}

const fn build_bounds() -> [u64; BOUNDS_LEN] {
    let mut out = [0u64; BOUNDS_LEN];
    let mut base = 10_000u64; // 10 µs
    let mut i = 0;
    while i < BOUNDS_LEN - 1 {
        out[i] = base * MANTISSAS[i % 10] / 100;
        i += 1;
        if i % 10 == 0 {
            base *= 10;
        }
    }
    out[BOUNDS_LEN - 1] = base; // 100 s
    out
}

fn bucket_of(nanos: u64) -> usize {
    BOUNDS_NANOS.partition_point(|&bound| bound < nanos)
}

fn saturating_nanos(value: Duration) -> u64 {
    u64::try_from(value.as_nanos()).unwrap_or(u64::MAX)
}

// === impl Histogram ===

impl Histogram {
    /// An empty histogram; `const` so it can live in a `static`.
    pub const fn new() -> Self {
        Self {
            counts: [const { AtomicU64::new(0) }; BOUNDS_LEN + 1],
            sum_nanos: AtomicU64::new(0),
            max_nanos: AtomicU64::new(0),
        }
    }

    /// Records one observation. Lock-free and allocation-free.
    pub fn observe(&self, value: Duration) {
        let nanos = saturating_nanos(value);
        self.counts[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        // A plain load first: the maximum rarely moves, and a load is cheaper than
        // the locked read-modify-write that `fetch_max` always is.
        if nanos > self.max_nanos.load(Ordering::Relaxed) {
            self.max_nanos.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    /// Copies the counters. Concurrent observations may be half-visible (counted in a
    /// bucket but not yet in the sum); that skew is one observation at most per writer.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut counts = [0u64; BOUNDS_LEN + 1];
        for (slot, count) in counts.iter_mut().zip(&self.counts) {
            *slot = count.load(Ordering::Relaxed);
        }
        HistogramSnapshot {
            counts,
            sum_nanos: self.sum_nanos.load(Ordering::Relaxed),
            max_nanos: self.max_nanos.load(Ordering::Relaxed),
        }
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

// === impl HistogramSnapshot ===

impl HistogramSnapshot {
    /// An empty snapshot (no observations).
    pub fn empty() -> Self {
        Self {
            counts: [0; BOUNDS_LEN + 1],
            sum_nanos: 0,
            max_nanos: 0,
        }
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Sum of all observations.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_nanos)
    }

    /// The largest observation (for a [`delta`](Self::delta), the largest of the
    /// newer snapshot's whole life: an upper bound).
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_nanos)
    }

    /// Per-bucket (not cumulative) counts; the last entry is the overflow bucket.
    pub fn bucket_counts(&self) -> &[u64] {
        &self.counts
    }

    /// Cumulative count of observations `<= bound_nanos`, exact when `bound_nanos` is
    /// an entry of [`BOUNDS_NANOS`], otherwise counted up to the bucket holding it.
    pub fn cumulative_at(&self, bound_nanos: u64) -> u64 {
        let last = bucket_of(bound_nanos).min(BOUNDS_LEN);
        self.counts[..=last].iter().sum()
    }

    /// The observations recorded since `earlier` (a snapshot of the same histogram).
    pub fn delta(&self, earlier: &HistogramSnapshot) -> HistogramSnapshot {
        let mut counts = [0u64; BOUNDS_LEN + 1];
        for (i, slot) in counts.iter_mut().enumerate() {
            *slot = self.counts[i].saturating_sub(earlier.counts[i]);
        }
        HistogramSnapshot {
            counts,
            sum_nanos: self.sum_nanos.saturating_sub(earlier.sum_nanos),
            max_nanos: self.max_nanos,
        }
    }

    /// Adds another snapshot into this one (e.g. every server of a pool).
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        for (slot, add) in self.counts.iter_mut().zip(other.counts) {
            *slot = slot.saturating_add(add);
        }
        self.sum_nanos = self.sum_nanos.saturating_add(other.sum_nanos);
        self.max_nanos = self.max_nanos.max(other.max_nanos);
    }

    /// Estimated quantile `q` in `[0, 1]`, interpolated linearly inside its bucket and
    /// never above the largest observation. `None` when there are no observations.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 || q.is_nan() {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut below = 0u64;
        for (i, &count) in self.counts.iter().enumerate() {
            if count == 0 || below + count < rank {
                below += count;
                continue;
            }
            let lower = if i == 0 { 0 } else { BOUNDS_NANOS[i - 1] };
            let upper = BOUNDS_NANOS.get(i).copied().unwrap_or(self.max_nanos);
            let upper = upper.min(self.max_nanos).max(lower);
            let fraction = (rank - below) as f64 / count as f64;
            let nanos = lower as f64 + (upper - lower) as f64 * fraction;
            return Some(Duration::from_nanos(nanos.round() as u64));
        }
        Some(self.max())
    }

    /// [`quantile`](Self::quantile) in milliseconds, as the state document carries it.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        self.quantile(q).map(|d| d.as_secs_f64() * 1e3)
    }
}

impl Default for HistogramSnapshot {
    fn default() -> Self {
        Self::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bounds_are_strictly_increasing_and_span_10us_to_100s() {
        assert_eq!(BOUNDS_NANOS[0], 10_000);
        assert_eq!(BOUNDS_NANOS[BOUNDS_LEN - 1], 100_000_000_000);
        assert!(BOUNDS_NANOS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn exported_bounds_are_exact_bucket_edges() {
        for (nanos, text) in EXPORTED_BOUNDS {
            assert!(BOUNDS_NANOS.contains(&nanos), "{text} is not a bucket edge");
            let seconds: f64 = text.parse().unwrap();
            assert!(
                (seconds * 1e9 - nanos as f64).abs() < 1.0,
                "{text} != {nanos}ns"
            );
        }
    }

    #[test]
    fn value_on_a_bound_lands_in_that_bucket() {
        let h = Histogram::new();
        h.observe(Duration::from_millis(1));
        let s = h.snapshot();
        assert_eq!(s.cumulative_at(1_000_000), 1);
        assert_eq!(s.cumulative_at(800_000), 0);
    }

    #[test]
    fn empty_histogram_has_no_quantile() {
        assert_eq!(Histogram::new().snapshot().quantile(0.5), None);
    }

    #[test]
    fn quantiles_of_uniform_latencies_are_close() {
        let h = Histogram::new();
        for ms in 1..=1000u64 {
            h.observe(Duration::from_millis(ms));
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 1000);
        for (q, expect) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0)] {
            let got = s.quantile_ms(q).unwrap();
            assert!(
                (got - expect).abs() / expect < 0.05,
                "p{q}: {got} vs {expect}"
            );
        }
        assert_eq!(s.quantile(1.0), Some(Duration::from_millis(1000)));
    }

    #[test]
    fn overflow_values_report_the_observed_maximum() {
        let h = Histogram::new();
        h.observe(Duration::from_secs(500));
        assert_eq!(h.snapshot().quantile(0.99), Some(Duration::from_secs(500)));
    }

    #[test]
    fn delta_sees_only_new_observations() {
        let h = Histogram::new();
        for _ in 0..100 {
            h.observe(Duration::from_secs(2));
        }
        let before = h.snapshot();
        for _ in 0..10 {
            h.observe(Duration::from_millis(3));
        }
        let window = h.snapshot().delta(&before);
        assert_eq!(window.count(), 10);
        let p50 = window.quantile_ms(0.5).unwrap();
        assert!((2.5..=3.0).contains(&p50), "windowed p50 {p50}");
        assert_eq!(window.sum(), Duration::from_millis(30));
    }

    #[test]
    fn concurrent_observers_lose_nothing() {
        let h = std::sync::Arc::new(Histogram::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        h.observe(Duration::from_micros(i * (t + 1)));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(h.snapshot().count(), 40_000);
    }

    proptest! {
        #[test]
        fn quantile_is_within_one_bucket_of_the_exact_value(
            mut values in proptest::collection::vec(1u64..50_000_000_000, 1..300),
            q in 0.0f64..=1.0,
        ) {
            let h = Histogram::new();
            for &v in &values {
                h.observe(Duration::from_nanos(v));
            }
            values.sort_unstable();
            let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
            let exact = values[rank - 1];
            let got = h.snapshot().quantile(q).unwrap().as_nanos() as u64;
            let bucket = bucket_of(exact);
            let lower = if bucket == 0 { 0 } else { BOUNDS_NANOS[bucket - 1] };
            let upper = BOUNDS_NANOS[bucket];
            prop_assert!(got >= lower && got <= upper, "q={} exact={} got={} in ({}, {}]", q, exact, got, lower, upper);
        }
    }
}
