//! `/metrics`: the state document's families (pools, servers, listeners) from
//! `switchyard-admin`, plus what only the runtime knows: per-protocol listener counters,
//! health checks, reloads.

use std::sync::atomic::Ordering;
use switchyard_admin::metrics::{family, MetricKind};
use switchyard_admin::{render_state, StateDoc};

use crate::listeners::Plane;
use crate::Runtime;

/// Appends every runtime metric family to `out`.
pub(crate) fn render(runtime: &Runtime, state: &StateDoc, out: &mut String) {
    render_state(out, state);
    let (ok, failed) = runtime.reload_counts();
    family(
        out,
        "switchyard_reloads_total",
        MetricKind::Counter,
        "Configuration reloads by result.",
    )
    .sample(&[("result", "success")], ok)
    .sample(&[("result", "failure")], failed);
    let c = &crate::health_task::COUNTERS;
    family(
        out,
        "switchyard_health_checks_total",
        MetricKind::Counter,
        "Active health checks run, by result.",
    )
    .sample(
        &[("result", "success")],
        c.checks_total.load(Ordering::Relaxed) - c.check_failures_total.load(Ordering::Relaxed),
    )
    .sample(
        &[("result", "failure")],
        c.check_failures_total.load(Ordering::Relaxed),
    );
    family(
        out,
        "switchyard_health_transitions_total",
        MetricKind::Counter,
        "Servers marked up or down by active checks.",
    )
    .sample(
        &[("to", "up")],
        c.transitions_up_total.load(Ordering::Relaxed),
    )
    .sample(
        &[("to", "down")],
        c.transitions_down_total.load(Ordering::Relaxed),
    );
    render_dns(runtime, out);
}

fn render_dns(runtime: &Runtime, out: &mut String) {
    let set = runtime.inner.listeners.lock().expect("listener lock");
    let dns: Vec<(String, switchyard_dns::StatsSnapshot)> = set
        .iter()
        .filter_map(|r| match &r.plane {
            Plane::Dns { stats, .. } => Some((r.config.name.clone(), stats.snapshot())),
            #[allow(unreachable_patterns)]
            _ => None,
        })
        .collect();
    drop(set);
    if dns.is_empty() {
        return;
    }
    let mut f = family(
        out,
        "switchyard_dns_queries_total",
        MetricKind::Counter,
        "DNS queries received, by query type.",
    );
    for (listener, s) in &dns {
        for (qtype, n) in &s.queries_by_type {
            f.sample(&[("listener", listener), ("type", qtype)], *n);
        }
    }
    let mut f = family(
        out,
        "switchyard_dns_responses_total",
        MetricKind::Counter,
        "DNS responses sent, by rcode.",
    );
    for (listener, s) in &dns {
        for (rcode, n) in &s.responses_by_rcode {
            f.sample(&[("listener", listener), ("rcode", rcode)], *n);
        }
    }
    let mut f = family(
        out,
        "switchyard_dns_truncated_total",
        MetricKind::Counter,
        "DNS responses sent with TC set.",
    );
    for (listener, s) in &dns {
        f.sample(&[("listener", listener)], s.truncated);
    }
    let mut f = family(
        out,
        "switchyard_dns_rate_limited_total",
        MetricKind::Counter,
        "DNS responses limited by rate_limit.",
    );
    for (listener, s) in &dns {
        f.sample(&[("listener", listener)], s.rate_limited);
    }
    let mut f = family(
        out,
        "switchyard_dns_malformed_total",
        MetricKind::Counter,
        "DNS packets dropped or answered FORMERR as malformed.",
    );
    for (listener, s) in &dns {
        f.sample(&[("listener", listener)], s.dropped_malformed);
    }
}
