//! Atomic counter and gauge cells for the runtime and data planes to keep their numbers
//! in, shared behind an `Arc` that survives configuration rebuilds.
//!
//! They are plain relaxed atomics: metrics need no ordering with anything else, and the
//! hot path must not pay for more. Rendering them is the job of [`crate::metrics`].

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A monotonically increasing count (`*_total` metrics).
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

/// A value that goes up and down (active connections, in-flight requests).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

// === impl Counter ===

impl Counter {
    /// A counter at zero; `const` so it can live in a `static`.
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

// === impl Gauge ===

impl Gauge {
    /// A gauge at zero.
    pub const fn new() -> Self {
        Self(AtomicI64::new(0))
    }

    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Subtracts one.
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    /// Adds `n` (which may be negative).
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the value.
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// The current value, clamped at zero (for counts that must not show negative).
    pub fn get_unsigned(&self) -> u64 {
        self.get().max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_and_gauge_count() {
        let c = Counter::new();
        c.inc();
        c.add(4);
        assert_eq!(c.get(), 5);
        let g = Gauge::new();
        g.inc();
        g.inc();
        g.dec();
        assert_eq!(g.get(), 1);
        g.add(-3);
        assert_eq!(g.get(), -2);
        assert_eq!(g.get_unsigned(), 0);
        g.set(7);
        assert_eq!(g.get_unsigned(), 7);
    }
}
