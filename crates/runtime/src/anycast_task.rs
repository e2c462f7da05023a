//! `[anycast]` in the runtime: starts the `switchyard-anycast` controller, hands it each
//! reloaded configuration, withdraws first on shutdown, and turns its state into the
//! admin state document and metrics.
//!
//! The controller reads pool health through a weak reference to the runtime, so it never
//! keeps a stopped runtime alive: each pool's count of up servers comes from the same
//! snapshot every data plane reads.

use std::sync::{Arc, Weak};

use switchyard_admin::metrics::{family, MetricKind};
use switchyard_admin::AnnouncementDoc;
use switchyard_anycast::{Controller, HealthSource};
use switchyard_config as config;

use crate::Inner;

/// Where the runtime keeps its controller. An `Arc`, so that a graceful shutdown can
/// withdraw and wait `withdraw_delay` while the state and metrics still show the
/// announcements (withdrawn, `shutting down`) instead of nothing.
pub(crate) type Slot = std::sync::Mutex<Option<Arc<Controller>>>;

/// Starts, updates or stops the controller to match `wanted`.
pub(crate) async fn reconcile(slot: &Slot, wanted: Option<&config::Anycast>, inner: Weak<Inner>) {
    let stopped = {
        let mut slot = slot.lock().expect("anycast lock");
        match (slot.as_ref(), wanted) {
            (Some(running), Some(cfg)) => {
                running.update(cfg);
                None
            }
            (None, Some(cfg)) => {
                *slot = Some(Arc::new(Controller::start(cfg, health_source(inner))));
                None
            }
            (Some(_), None) => slot.take(),
            (None, None) => None,
        }
    };
    if let Some(controller) = stopped {
        tracing::info!("[anycast] removed: withdrawing every prefix");
        controller.stop().await;
    }
}

/// Shutdown: withdraws every prefix and waits `withdraw_delay` (no-op without anycast).
/// The controller stays in `slot` meanwhile, so `/api/v1/state` and `/metrics` show the
/// withdrawal; it is removed once done.
pub(crate) async fn shutdown(slot: &Slot) {
    let controller = slot.lock().expect("anycast lock").clone();
    if let Some(controller) = controller {
        tracing::info!("shutting down: withdrawing anycast prefixes first");
        controller.shutdown().await;
        slot.lock().expect("anycast lock").take();
    }
}

/// Pool health as the controller reads it: servers up in the pool's snapshot.
fn health_source(inner: Weak<Inner>) -> Arc<dyn HealthSource> {
    Arc::new(move |pool: &str| {
        let inner = inner.upgrade()?;
        let pools = inner.pools.load();
        pools.get(pool).map(|p| p.pool.snapshot().up_count())
    })
}

/// The announcements for `/api/v1/state` (`since` as unix ms through `unix_ms`).
pub(crate) fn docs(slot: &Slot, unix_ms: impl Fn(u64) -> u64) -> Vec<AnnouncementDoc> {
    let slot = slot.lock().expect("anycast lock");
    let Some(controller) = slot.as_ref() else {
        return Vec::new();
    };
    controller
        .status()
        .into_iter()
        .map(|s| AnnouncementDoc {
            prefix: s.prefix,
            bird_protocol: s.bird_protocol,
            announced: s.announced,
            reason: s.reason,
            since: Some(unix_ms(s.since)),
        })
        .collect()
}

/// The controller's counters (the announced gauge comes from the state document).
pub(crate) fn render_metrics(slot: &Slot, out: &mut String) {
    let counters = match slot.lock().expect("anycast lock").as_ref() {
        Some(controller) => controller.counters(),
        None => return,
    };
    let families = [
        (
            "switchyard_anycast_announces_total",
            "BIRD protocols enabled (prefixes announced) by the anycast controller.",
            counters.announces,
        ),
        (
            "switchyard_anycast_withdrawals_total",
            "BIRD protocols disabled (prefixes withdrawn) by the anycast controller.",
            counters.withdrawals,
        ),
        (
            "switchyard_anycast_errors_total",
            "Failed connects to BIRD, refused commands and broken control sockets.",
            counters.errors,
        ),
    ];
    for (name, help, value) in families {
        family(out, name, MetricKind::Counter, help).sample(&[], value);
    }
    family(
        out,
        "switchyard_anycast_bird_connected",
        MetricKind::Gauge,
        "1 while the anycast controller is connected to BIRD's control socket.",
    )
    .sample(&[], counters.connected);
}
