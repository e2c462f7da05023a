//! The process-wide monotonic clock, as `Nanos`, for the I/O crates.
//!
//! Every decision in this crate takes time as an argument so the simulator can drive it
//! with a virtual clock. The proxies, health checker and DNS server must all pass times
//! measured from the same epoch (slow start compares "now" with the time a server came
//! up), so they read it here.

use std::sync::OnceLock;
use std::time::Instant;

pub use crate::Nanos;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the first call in this process (monotonic, never goes back).
pub fn now() -> Nanos {
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_nanos() as Nanos
}

/// The `Instant` corresponding to a `Nanos` value from [`now`].
pub fn instant(at: Nanos) -> Instant {
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch + std::time::Duration::from_nanos(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_monotonic() {
        let a = now();
        let b = now();
        assert!(b >= a);
        assert!(instant(b) >= instant(a));
    }
}
