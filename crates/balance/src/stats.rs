//! Per-server counters that outlive snapshots: in-flight requests, totals, and the
//! peak-EWMA latency estimate.
//!
//! Held in an `Arc` that every snapshot rebuild, algorithm change and reload carries over
//! for a server kept by name, so metrics and load never reset behind the operator's back.
//! Everything is an atomic; the EWMA update is a racy read-modify-write of two words
//! (estimate and timestamp), which at worst loses one concurrent sample — harmless for an
//! estimate and far cheaper than a lock on the response path.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::histogram::{Histogram, HistogramSnapshot};
use crate::Nanos;

/// Live counters of one server: load, totals, failure run, latency EWMA and histogram.
#[derive(Debug, Default)]
pub struct ServerStats {
    in_flight: AtomicU64,
    requests_total: AtomicU64,
    failures_total: AtomicU64,
    /// Peak-EWMA latency in nanoseconds, as `f64` bits.
    ewma_bits: AtomicU64,
    /// When `ewma_bits` was last written.
    ewma_stamp: AtomicU64,
    /// Latency samples seen (0: no estimate yet).
    ewma_samples: AtomicU64,
    /// Failures since the last success: passive health reads it to eject outliers.
    consecutive_failures: AtomicU64,
    /// Every finished request's latency, for percentiles in the admin API and metrics.
    latency: Histogram,
}

// === impl ServerStats ===

impl ServerStats {
    pub fn new() -> ServerStats {
        ServerStats::default()
    }

    /// Requests (or connections) picked for this server and not yet finished or dropped.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Relaxed)
    }

    /// Requests finished (successfully or not) on this server.
    pub fn requests_total(&self) -> u64 {
        self.requests_total.load(Relaxed)
    }

    /// Requests that finished with `success == false`.
    pub fn failures_total(&self) -> u64 {
        self.failures_total.load(Relaxed)
    }

    /// Failures since the last success, for outlier ejection.
    pub fn consecutive_failures(&self) -> u64 {
        self.consecutive_failures.load(Relaxed)
    }

    /// Starts a new failure run (the outlier detector has consumed this one).
    pub fn reset_consecutive_failures(&self) {
        self.consecutive_failures.store(0, Relaxed);
    }

    /// A copy of the latency histogram of finished requests.
    pub fn latency_histogram(&self) -> HistogramSnapshot {
        self.latency.snapshot()
    }

    /// Latency samples fed into the EWMA.
    pub fn latency_samples(&self) -> u64 {
        self.ewma_samples.load(Relaxed)
    }

    /// The peak-EWMA latency estimate decayed to `now`, or `None` before the first sample.
    pub fn latency_ewma(&self, now: Nanos, decay: Duration) -> Option<Duration> {
        if self.latency_samples() == 0 {
            return None;
        }
        let ns = self.ewma_ns_at(now, decay_ns(decay));
        Some(Duration::from_nanos(ns as u64))
    }

    /// The estimate in nanoseconds decayed towards zero for the time since the last
    /// sample, so a server that was slow once is retried after a while (as in Finagle
    /// and tower). Pure read: no writes on the pick path.
    pub(crate) fn ewma_ns_at(&self, now: Nanos, decay_ns: f64) -> f64 {
        let ewma = f64::from_bits(self.ewma_bits.load(Relaxed));
        let stamp = self.ewma_stamp.load(Relaxed);
        let elapsed = now.saturating_sub(stamp) as f64;
        if elapsed <= 0.0 {
            ewma
        } else {
            ewma * (-elapsed / decay_ns).exp()
        }
    }

    /// Records a finished request and feeds its latency into the peak EWMA: a sample
    /// above the estimate replaces it at once (peak), one below it is averaged in with
    /// weight `1 - exp(-elapsed / decay)`. A failure never lowers the estimate, and each
    /// failure in a row after the first doubles it (up to the decay time; a slower
    /// failure, a timeout, counts as it is): a refused connection or an instant `5xx` is
    /// not a fast answer, and a dead server whose estimate sank with its instant failures
    /// looked faster than the live ones and drew traffic until its health check failed.
    /// A server failing every request loses every comparison within a few; a sporadic
    /// error only holds the estimate. Like a slow server it is retried as the estimate
    /// decays, and coming back up from down starts it afresh
    /// ([`ServerStats::reset_latency`]).
    pub fn record(&self, success: bool, latency: Duration, now: Nanos, decay: Duration) {
        self.requests_total.fetch_add(1, Relaxed);
        self.latency.observe(latency);
        if success {
            // Only write when there is a run to end: keeps the line shared while healthy.
            if self.consecutive_failures.load(Relaxed) != 0 {
                self.consecutive_failures.store(0, Relaxed);
            }
        } else {
            self.failures_total.fetch_add(1, Relaxed);
            self.consecutive_failures.fetch_add(1, Relaxed);
        }
        let rtt = latency.as_nanos() as f64;
        if !success && self.latency_samples() > 0 {
            let prev = f64::from_bits(self.ewma_bits.load(Relaxed));
            let penalty = if self.consecutive_failures() >= 2 {
                (prev * 2.0).min(prev.max(decay_ns(decay)))
            } else {
                prev
            };
            self.ewma_bits.store(penalty.max(rtt).to_bits(), Relaxed);
            self.ewma_stamp.store(now, Relaxed);
            return;
        }
        let first = self.ewma_samples.fetch_add(1, Relaxed) == 0;
        let next = if first {
            rtt
        } else {
            let current = self.ewma_ns_at(now, decay_ns(decay));
            if rtt > current {
                rtt
            } else {
                let prev = f64::from_bits(self.ewma_bits.load(Relaxed));
                let elapsed = now.saturating_sub(self.ewma_stamp.load(Relaxed)) as f64;
                let w = (-elapsed / decay_ns(decay)).exp();
                prev * w + rtt * (1.0 - w)
            }
        };
        self.ewma_bits.store(next.to_bits(), Relaxed);
        self.ewma_stamp.store(now, Relaxed);
    }

    /// Forgets the latency estimate: a server back from down is costed at the pool's
    /// prior again instead of at what it did before (or while) it failed.
    pub fn reset_latency(&self) {
        self.ewma_samples.store(0, Relaxed);
        self.ewma_bits.store(0, Relaxed);
    }

    pub(crate) fn acquire(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    pub(crate) fn release(&self) {
        // Never wraps: every release pairs with one acquire on the same Arc.
        self.in_flight.fetch_sub(1, Relaxed);
    }
}

pub(crate) fn decay_ns(decay: Duration) -> f64 {
    (decay.as_nanos() as f64).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECAY: Duration = Duration::from_secs(10);
    const MS: u64 = 1_000_000;

    #[test]
    fn ewma_jumps_to_peaks_and_decays_slowly_below_them() {
        let s = ServerStats::new();
        assert_eq!(s.latency_ewma(0, DECAY), None);
        s.record(true, Duration::from_millis(10), 0, DECAY);
        assert_eq!(s.latency_ewma(0, DECAY), Some(Duration::from_millis(10)));
        // A peak replaces the estimate.
        s.record(true, Duration::from_millis(100), MS, DECAY);
        let est = s.latency_ewma(MS, DECAY).unwrap();
        assert_eq!(est, Duration::from_millis(100));
        // A fast sample 1 s later moves it by 1 - e^-0.1 (about 9.5%) of the gap.
        s.record(true, Duration::from_millis(10), 1001 * MS, DECAY);
        let est = s.latency_ewma(1001 * MS, DECAY).unwrap().as_secs_f64() * 1e3;
        let w = (-0.1f64).exp();
        let blended = 100.0 * w + 10.0 * (1.0 - w);
        assert!((est - blended).abs() < 0.01, "{est} vs {blended}");
        assert_eq!(s.requests_total(), 3);
        assert_eq!(s.failures_total(), 0);
    }

    #[test]
    fn ewma_decays_towards_zero_while_idle() {
        let s = ServerStats::new();
        s.record(false, Duration::from_millis(50), 0, DECAY);
        let later = s.latency_ewma(10_000 * MS, DECAY).unwrap().as_secs_f64() * 1e3;
        assert!((later - 50.0 / std::f64::consts::E).abs() < 0.01, "{later}");
        assert_eq!(s.failures_total(), 1);
    }

    #[test]
    fn failures_in_a_row_double_the_estimate_up_to_the_decay_and_reset_forgets_it() {
        let s = ServerStats::new();
        s.record(true, Duration::from_millis(20), 0, DECAY);
        // A sporadic failure holds the estimate (averaging the instant failure in, or
        // letting it decay, would have made the server look faster).
        s.record(false, Duration::from_micros(50), MS, DECAY);
        assert_eq!(s.latency_ewma(MS, DECAY), Some(Duration::from_millis(20)));
        s.record(true, Duration::from_millis(20), 2 * MS, DECAY);
        // A dead server refusing at once: each failure in a row after the first doubles it.
        for k in 3..=5u64 {
            s.record(false, Duration::from_micros(50), k * MS, DECAY);
        }
        assert_eq!(
            s.latency_ewma(5 * MS, DECAY),
            Some(Duration::from_millis(80))
        );
        for k in 6..=100u64 {
            s.record(false, Duration::from_micros(50), k * MS, DECAY);
        }
        assert_eq!(s.latency_ewma(100 * MS, DECAY), Some(DECAY));
        assert_eq!(s.failures_total(), 99);
        // A timeout slower than the cap counts as it is.
        s.record(false, Duration::from_secs(30), 101 * MS, DECAY);
        assert_eq!(
            s.latency_ewma(101 * MS, DECAY),
            Some(Duration::from_secs(30))
        );
        s.reset_latency();
        assert_eq!(s.latency_ewma(102 * MS, DECAY), None);
        assert_eq!(s.latency_samples(), 0);
    }

    #[test]
    fn consecutive_failures_reset_on_success() {
        let s = ServerStats::new();
        let ms = Duration::from_millis(1);
        s.record(false, ms, 0, DECAY);
        s.record(false, ms, 1, DECAY);
        assert_eq!(s.consecutive_failures(), 2);
        s.record(true, ms, 2, DECAY);
        assert_eq!(s.consecutive_failures(), 0);
        s.record(false, ms, 3, DECAY);
        s.reset_consecutive_failures();
        assert_eq!((s.consecutive_failures(), s.failures_total()), (0, 3));
        assert_eq!(s.latency_histogram().count(), 4);
    }
}
