//! Pool maintenance every [`POLL`]: slow-start weight ramps, and passive outlier
//! ejection, which watches each server's run of failed real-traffic outcomes
//! and ejects it through the pool's `OutlierDetector`.
//!
//! The data planes only bump atomics when a request finishes (`Picked::finish`), so the
//! hot path takes no lock; this task reads the consecutive-failure counters every
//! [`POLL`] and does the bookkeeping (ejection length, max ejection percent, expiry).
//! An ejection therefore lands at most one poll after the failure that caused it.

use std::sync::Arc;
use std::time::Duration;

use switchyard_balance::clock;

use crate::pools::PoolRuntime;

/// How often ejections are decided and expired.
pub const POLL: Duration = Duration::from_millis(50);

/// Starts the outlier task of `pool` (it idles while the pool has no `[pool.outlier]`).
pub(crate) fn spawn(pool: &Arc<PoolRuntime>) {
    let pool = Arc::downgrade(pool);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(pool) = pool.upgrade() else { return };
            if pool.is_stopped() {
                return;
            }
            poll(&pool);
        }
    });
}

/// Panic mode is said in the log when it starts and ends (the state and metrics show it
/// all along). Not during the first health round: the servers' first checks come back
/// one by one, so every start would warn `in panic mode: only 1 of 4 servers up` for a
/// healthy pool; a pool still in panic once every server has been checked is said then.
fn log_panic_change(pool: &PoolRuntime, snapshot: &switchyard_balance::Snapshot) {
    let panic = snapshot.panic();
    if panic && !pool.panic.load(std::sync::atomic::Ordering::Relaxed) && !pool.first_round_done() {
        return;
    }
    if pool.panic.swap(panic, std::sync::atomic::Ordering::Relaxed) == panic {
        return;
    }
    let up = snapshot.up_count();
    let total = snapshot.servers().len();
    if panic {
        tracing::warn!(pool = %pool.name, up, total,
            "pool {} in panic mode: only {up} of {total} servers up, balancing over all of them", pool.name);
    } else {
        tracing::info!(pool = %pool.name, up, total, "pool {} out of panic mode: {up} of {total} servers up", pool.name);
    }
}

fn poll(pool: &PoolRuntime) {
    let now = clock::now();
    // Slow start: rebuild the snapshot while a server's weight is ramping up.
    if pool.pool.next_refresh().is_some_and(|at| at <= now) {
        pool.pool.refresh(now);
    }
    log_panic_change(pool, &pool.pool.snapshot());
    let servers = pool.config().servers;
    let mut guard = pool.outlier.lock().expect("outlier lock");
    let Some(detector) = guard.as_mut() else {
        return;
    };
    let threshold = detector.config().consecutive_failures;
    for index in detector.tick(now) {
        if let Some(server) = servers.get(index) {
            tracing::info!(pool = %pool.name, server = %server.name, "server {}/{} back from ejection", pool.name, server.name);
            let checked_up = pool
                .health_view(&server.name)
                .is_none_or(|h| h.state != "down");
            if checked_up {
                let _ = pool.pool.set_health(&server.name, true, now);
            }
        }
    }
    let snapshot = pool.pool.snapshot();
    for (index, server) in servers.iter().enumerate() {
        let Some(entry) = snapshot.server(&server.name) else {
            continue;
        };
        let stats = entry.stats();
        let failures = stats.consecutive_failures();
        if failures < threshold as u64 || detector.is_ejected(index) {
            continue;
        }
        // Feed the run to the detector, which owns the ejection rules.
        let mut ejection = None;
        for _ in 0..threshold {
            ejection = detector.record(index, false, now).or(ejection);
        }
        stats.reset_consecutive_failures();
        match ejection {
            Some(ejection) => {
                tracing::warn!(pool = %pool.name, server = %server.name,
                    "server {}/{} down: ejected: {}", pool.name, server.name, ejection.reason());
                let _ = pool.pool.set_health(&server.name, false, now);
            }
            None => tracing::info!(pool = %pool.name, server = %server.name,
                "server {}/{} not ejected: max_ejection_percent reached", pool.name, server.name),
        }
    }
}
