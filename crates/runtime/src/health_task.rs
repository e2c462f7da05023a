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
    pub checks_total: AtomicU64,
    pub check_failures_total: AtomicU64,
    pub transitions_up_total: AtomicU64,
    pub transitions_down_total: AtomicU64,
}

/// The process-wide probe counters.
pub static COUNTERS: CheckCounters = CheckCounters {
    checks_total: AtomicU64::new(0),
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
    COUNTERS.checks_total.fetch_add(1, Ordering::Relaxed);
    if !result.ok {
        COUNTERS
            .check_failures_total
            .fetch_add(1, Ordering::Relaxed);
    }
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
