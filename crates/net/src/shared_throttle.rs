//! [`Throttle`](crate::Throttle) for events raised by many tasks at once (every request
//! of a pool with no server up): the same at most one warning per period, kept in two
//! atomics so the tasks share it without a lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// At most one warning per period across every task that records into it; the warning
/// says how many events since the last one went unreported.
#[derive(Debug)]
pub struct SharedThrottle {
    every: u64,
    /// The time of the last warning, in nanoseconds since `base`, plus one (0: never).
    last_warned: AtomicU64,
    unreported: AtomicU64,
    base: Instant,
}

impl SharedThrottle {
    /// At most one warning per `every`.
    pub fn new(every: Duration) -> Self {
        SharedThrottle {
            every: u64::try_from(every.as_nanos()).unwrap_or(u64::MAX),
            last_warned: AtomicU64::new(0),
            unreported: AtomicU64::new(0),
            base: Instant::now(),
        }
    }

    /// Records an event at `now`. `Some(n)`: this caller warns now, and says that `n`
    /// events since the last warning went unreported. `None`: stay quiet.
    pub fn record(&self, now: Instant) -> Option<u64> {
        let at = u64::try_from(now.saturating_duration_since(self.base).as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let last = self.last_warned.load(Ordering::Relaxed);
        let due = last == 0 || at.saturating_sub(last) >= self.every;
        // Of the callers that find a warning due, exactly one wins the exchange.
        if due
            && self
                .last_warned
                .compare_exchange(last, at, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.unreported.swap(0, Ordering::Relaxed));
        }
        self.unreported.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_first_then_once_per_period_with_the_count() {
        let t = SharedThrottle::new(Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(t.record(t0), Some(0));
        for i in 1..=9 {
            assert_eq!(t.record(t0 + Duration::from_millis(i * 100)), None);
        }
        assert_eq!(t.record(t0 + Duration::from_secs(5)), Some(9));
        assert_eq!(t.record(t0 + Duration::from_secs(6)), None);
        assert_eq!(t.record(t0 + Duration::from_secs(11)), Some(1));
    }

    #[test]
    fn many_threads_at_once_get_one_warning_and_lose_no_count() {
        let t = std::sync::Arc::new(SharedThrottle::new(Duration::from_secs(3600)));
        let now = Instant::now();
        let warned: u64 = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || (0..1000).filter(|_| t.record(now).is_some()).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap() as u64)
            .sum();
        assert_eq!(warned, 1);
        assert_eq!(t.record(now + Duration::from_secs(3600)), Some(3999));
    }
}
