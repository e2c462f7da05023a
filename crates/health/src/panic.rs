//! Panic mode: when too few servers are up, balancing over all of them (healthy or not)
//! beats piling the whole load onto the few survivors — health checks that fail most
//! servers at once are more likely wrong than right (Envoy's rule).
//!
//! This is the single definition of the threshold; `switchyard-balance` applies the same
//! rule when it builds a pool snapshot (`snapshot.rs`, `eligible`). Unlike Envoy, a pool
//! with no server up at all is not in panic: it is dead, and the SPEC's "no healthy
//! server" behaviour (HTTP 503, DNS fail-open) applies instead.

/// Whether a pool is in panic: some, but fewer than `threshold_percent`%, of its `total`
/// servers are `up`. A threshold of 0 disables panic mode; above 100 counts as 100.
pub fn in_panic(up: usize, total: usize, threshold_percent: u8) -> bool {
    let threshold = u128::from(threshold_percent.min(100));
    up > 0 && (up as u128) * 100 < threshold * total as u128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_below_the_threshold_only() {
        assert!(in_panic(4, 10, 50));
        assert!(in_panic(1, 10, 50));
        assert!(!in_panic(5, 10, 50));
        assert!(!in_panic(6, 10, 50));
        assert!(!in_panic(1, 1, 100));
        assert!(in_panic(9, 10, 200), "above 100 counts as 100");
    }

    #[test]
    fn zero_threshold_disables_panic_mode() {
        assert!(!in_panic(1, 10, 0));
    }

    #[test]
    fn a_pool_with_nothing_up_is_dead_not_in_panic() {
        assert!(!in_panic(0, 10, 50));
        assert!(!in_panic(0, 0, 50));
    }
}
