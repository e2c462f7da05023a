//! Panic mode: when too few servers are up, balancing over all of them (healthy or not)
//! beats piling the whole load onto the few survivors. This is the single definition;
//! the `balance` crate applies it when it builds a selector.

/// Whether a pool is in panic: fewer than `threshold_percent`% of its `total` servers
/// are `up`. A threshold of 0 disables panic mode; above 100 counts as 100; an empty
/// pool is never in panic.
pub fn in_panic(up: usize, total: usize, threshold_percent: u8) -> bool {
    let threshold = u128::from(threshold_percent.min(100));
    threshold > 0 && (up as u128) * 100 < threshold * total as u128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_below_the_threshold_only() {
        assert!(in_panic(4, 10, 50));
        assert!(!in_panic(5, 10, 50));
        assert!(!in_panic(6, 10, 50));
        assert!(in_panic(0, 1, 1));
        assert!(!in_panic(1, 1, 100));
        assert!(in_panic(9, 10, 200), "above 100 counts as 100");
    }

    #[test]
    fn zero_threshold_disables_and_empty_pool_never_panics() {
        assert!(!in_panic(0, 10, 0));
        assert!(!in_panic(0, 0, 50));
    }
}
