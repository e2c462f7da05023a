//! One probe loop per server: probe, feed the rise/fall machine, publish transitions.
//!
//! At start every loop probes at once (so a pool is ready after one round); afterwards
//! the next probe starts `interval` (±10% jitter) after the previous one started. A
//! transition is logged in operators' words and written to the pool with
//! `Pool::set_health`, which every data plane and DNS answer reads.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchyard_balance::clock;
use switchyard_health::{next_delay, ActiveConfig, ActiveHealth, HealthState};
use tokio_util::sync::CancellationToken;

use crate::pools::PoolRuntime;
use crate::probe::Probe;

/// The active health of one server.
pub(crate) struct ServerCheck {
    /// The address probed.
    pub target: SocketAddr,
    pub machine: Arc<Mutex<ActiveHealth>>,
    pub cancel: CancellationToken,
}

/// Counters of every probe loop, for metrics.
#[derive(Debug, Default)]
pub struct CheckCounters {
    /// Successes and failures are counted apart (not as a total and failures), so a
    /// scrape between the two increments cannot count a failing check as a success.
    pub check_successes_total: AtomicU64,
    pub check_failures_total: AtomicU64,
    pub transitions_up_total: AtomicU64,
    pub transitions_down_total: AtomicU64,
}

impl CheckCounters {
    /// Counts one finished check.
    pub fn record_check(&self, ok: bool) {
        let counter = if ok {
            &self.check_successes_total
        } else {
            &self.check_failures_total
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Checks that succeeded, for `switchyard_health_checks_total{result="success"}`.
    pub fn successes(&self) -> u64 {
        self.check_successes_total.load(Ordering::Relaxed)
    }

    /// Checks that failed.
    pub fn failures(&self) -> u64 {
        self.check_failures_total.load(Ordering::Relaxed)
    }
}

/// The process-wide probe counters.
pub static COUNTERS: CheckCounters = CheckCounters {
    check_successes_total: AtomicU64::new(0),
    check_failures_total: AtomicU64::new(0),
    transitions_up_total: AtomicU64::new(0),
    transitions_down_total: AtomicU64::new(0),
};

/// Starts the probe loop of `server`.
pub(crate) fn spawn(
    pool: Arc<PoolRuntime>,
    server: String,
    check: &ServerCheck,
    probe: Probe,
    config: ActiveConfig,
) {
    let machine = check.machine.clone();
    let cancel = check.cancel.clone();
    let target = check.target;
    tokio::spawn(async move {
        let mut rng = SmallRng::from_rng(&mut rand::rng());
        loop {
            let started = tokio::time::Instant::now();
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                result = probe.check(target, config.timeout) => result,
            };
            record(&pool, &server, &machine, result);
            let next = started + next_delay(config.interval, &mut rng);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(next) => {}
            }
        }
    });
}

fn record(
    pool: &PoolRuntime,
    server: &str,
    machine: &Mutex<ActiveHealth>,
    result: switchyard_health::ProbeResult,
) {
    COUNTERS.record_check(result.ok);
    tracing::trace!(pool = %pool.name, server, ok = result.ok, detail = %result.detail, "health check");
    let now = clock::now();
    let transition = machine.lock().expect("machine lock").record(result, now);
    let Some(transition) = transition else { return };
    let up = transition.to == HealthState::Up;
    let ejected = pool
        .outlier
        .lock()
        .expect("outlier lock")
        .as_ref()
        .zip(pool.server_index(server))
        .is_some_and(|(detector, index)| detector.is_ejected(index));
    if up {
        COUNTERS
            .transitions_up_total
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(pool = %pool.name, server, "server {}/{server} up: {}", pool.name, transition.reason());
    } else {
        COUNTERS
            .transitions_down_total
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(pool = %pool.name, server, "server {}/{server} down: {}", pool.name, transition.reason());
    }
    // An ejected server stays out until its ejection ends, whatever the checks say.
    if up && ejected {
        return;
    }
    if let Err(e) = pool.pool.set_health(server, up, now) {
        tracing::debug!(pool = %pool.name, server, error = %e, "server left the pool during a check");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scraped while checks finish on other threads, the success count never runs
    /// ahead of the checks that succeeded: with only failures it stays 0 (a counter
    /// that read 1 and then 0 would go backwards in Prometheus).
    #[test]
    fn the_success_count_never_counts_a_failing_check_in_progress() {
        let counters = Arc::new(CheckCounters::default());
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let counters = counters.clone();
                std::thread::spawn(move || {
                    for _ in 0..200_000 {
                        counters.record_check(false);
                    }
                })
            })
            .collect();
        let reader = {
            let (counters, done) = (counters.clone(), done.clone());
            std::thread::spawn(move || {
                let mut seen = 0;
                while !done.load(Ordering::Relaxed) {
                    seen = seen.max(counters.successes());
                }
                seen
            })
        };
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        assert_eq!(
            reader.join().unwrap(),
            0,
            "a failing check was counted as a success"
        );
        assert_eq!(counters.failures(), 400_000);
    }
}
