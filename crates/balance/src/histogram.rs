//! Per-server latency histogram: fixed log-linear buckets of atomic counters, so the
//! admin API can show percentiles for every server without a lock on the response path.
//!
//! Ten buckets per decade (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10ⁿ) from 10 µs to 100 s,
//! plus an overflow bucket; a quantile interpolated inside a bucket is within one bucket
//! width (at most 25%) of the truth. Recording is a binary search over a constant table
//! and one relaxed add. Readers copy the counters into a [`LatencyHistogram`].

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Number of finite bucket upper bounds.
pub const LATENCY_BOUNDS: usize = 71;

/// Finite upper bounds in nanoseconds; bucket `i` counts latencies in
/// `(BOUNDS[i-1], BOUNDS[i]]` and bucket 71 those above 100 s.
pub const LATENCY_BOUNDS_NANOS: [u64; LATENCY_BOUNDS] = bounds();

const MANTISSAS: [u64; 10] = [100, 125, 150, 200, 250, 300, 400, 500, 600, 800];

/// The live counters (inside `ServerStats`).
#[derive(Debug)]
pub(crate) struct AtomicHistogram {
    counts: [AtomicU64; LATENCY_BOUNDS + 1],
}

/// A copy of a server's latency counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: [u64; LATENCY_BOUNDS + 1],
}

const fn bounds() -> [u64; LATENCY_BOUNDS] {
    let mut out = [0u64; LATENCY_BOUNDS];
    let mut scale = 100u64; // 100 × 100 ns = 10 µs
    let mut i = 0;
    while i < 70 {
        out[i] = MANTISSAS[i % 10] * scale;
        i += 1;
        if i % 10 == 0 {
            scale *= 10;
        }
    }
    out[70] = 100 * scale; // 100 s
    out
}

// === impl AtomicHistogram ===

impl AtomicHistogram {
    pub(crate) fn new() -> AtomicHistogram {
        AtomicHistogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    pub(crate) fn observe(&self, latency: Duration) {
        let ns = latency.as_nanos().min(u64::MAX as u128) as u64;
        let bucket = LATENCY_BOUNDS_NANOS.partition_point(|&b| b < ns);
        self.counts[bucket].fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LatencyHistogram {
        LatencyHistogram {
            counts: std::array::from_fn(|i| self.counts[i].load(Relaxed)),
        }
    }
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        AtomicHistogram::new()
    }
}

// === impl LatencyHistogram ===

impl LatencyHistogram {
    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Per-bucket counts: index `i < 71` pairs with `LATENCY_BOUNDS_NANOS[i]`, index 71
    /// is the overflow bucket.
    pub fn counts(&self) -> &[u64; LATENCY_BOUNDS + 1] {
        &self.counts
    }

    /// The `q`-quantile (0..=1), interpolated linearly inside its bucket; `None` when
    /// nothing was recorded. The overflow bucket reports 100 s.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            if (seen + c) as f64 >= rank {
                if i == LATENCY_BOUNDS {
                    return Some(Duration::from_nanos(LATENCY_BOUNDS_NANOS[i - 1]));
                }
                let lo = if i == 0 {
                    0
                } else {
                    LATENCY_BOUNDS_NANOS[i - 1]
                } as f64;
                let hi = LATENCY_BOUNDS_NANOS[i] as f64;
                let within = (rank - seen as f64) / c as f64;
                return Some(Duration::from_nanos((lo + (hi - lo) * within) as u64));
            }
            seen += c;
        }
        None
    }

    /// [`quantile`](Self::quantile) in milliseconds, as the admin API shows it.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        self.quantile(q).map(|d| d.as_secs_f64() * 1000.0)
    }

    /// The observations since `earlier` (a copy of the same histogram): a windowed view
    /// without resetting the shared counters.
    pub fn delta(&self, earlier: &LatencyHistogram) -> LatencyHistogram {
        LatencyHistogram {
            counts: std::array::from_fn(|i| self.counts[i].saturating_sub(earlier.counts[i])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_run_from_10us_to_100s_ten_per_decade() {
        assert_eq!(LATENCY_BOUNDS_NANOS[0], 10_000);
        assert_eq!(LATENCY_BOUNDS_NANOS[10], 100_000);
        assert_eq!(LATENCY_BOUNDS_NANOS[70], 100_000_000_000);
        assert!(LATENCY_BOUNDS_NANOS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn quantiles_land_in_the_right_bucket() {
        let h = AtomicHistogram::new();
        assert_eq!(h.snapshot().quantile_ms(0.5), None);
        for _ in 0..90 {
            h.observe(Duration::from_millis(2));
        }
        for _ in 0..10 {
            h.observe(Duration::from_millis(400));
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 100);
        let p50 = s.quantile_ms(0.5).unwrap();
        assert!((1.5..=2.0).contains(&p50), "{p50}");
        let p99 = s.quantile_ms(0.99).unwrap();
        assert!((300.0..=400.0).contains(&p99), "{p99}");
        h.observe(Duration::from_secs(1000));
        assert_eq!(h.snapshot().quantile(1.0), Some(Duration::from_secs(100)));
        assert_eq!(h.snapshot().delta(&s).count(), 1);
    }
}
