//! Prometheus families derived from a [`StateDoc`]: per-listener traffic, per-pool mode,
//! per-server state, weight, load and outcomes, datacenter and anycast health.
//!
//! This is what [`Control::render_metrics`](crate::Control::render_metrics) renders by
//! default, so a runtime that fills the state document gets a complete exposition for
//! free and only adds what the document cannot carry (latency histograms).

use crate::metrics::{family, MetricKind};
use crate::state::{ServerDoc, ServerStatus, StateDoc};

/// Appends the state-derived metric families to `out`.
pub fn render_state(out: &mut String, state: &StateDoc) {
    render_listeners(out, state);
    render_pools(out, state);
    render_servers(out, state);
    render_global(out, state);
}

fn render_listeners(out: &mut String, state: &StateDoc) {
    type Pick = fn(&crate::ListenerDoc) -> u64;
    let families: [(&str, MetricKind, &str, Pick); 6] = [
        (
            "switchyard_listener_active_connections",
            MetricKind::Gauge,
            "Connections (or UDP flows) open now on the listener.",
            |l| l.active_connections,
        ),
        (
            "switchyard_listener_connections_total",
            MetricKind::Counter,
            "Connections (or UDP flows) accepted by the listener.",
            |l| l.connections_total,
        ),
        (
            "switchyard_listener_requests_total",
            MetricKind::Counter,
            "Requests (HTTP requests, DNS queries, L4 connections) handled by the listener.",
            |l| l.requests_total,
        ),
        (
            "switchyard_listener_errors_total",
            MetricKind::Counter,
            "Requests the listener answered with an error.",
            |l| l.errors_total,
        ),
        (
            "switchyard_listener_received_bytes_total",
            MetricKind::Counter,
            "Bytes received from clients.",
            |l| l.received_bytes_total,
        ),
        (
            "switchyard_listener_sent_bytes_total",
            MetricKind::Counter,
            "Bytes sent to clients.",
            |l| l.sent_bytes_total,
        ),
    ];
    for (name, kind, help, pick) in families {
        let mut f = family(out, name, kind, help);
        for l in &state.listeners {
            f.sample(&[("listener", &l.name), ("protocol", &l.protocol)], pick(l));
        }
    }
}

fn render_pools(out: &mut String, state: &StateDoc) {
    let mut f = family(
        out,
        "switchyard_pool_info",
        MetricKind::Gauge,
        "The pool's selection algorithm (always 1).",
    );
    for p in &state.pools {
        f.sample(&[("pool", &p.name), ("algorithm", &p.algorithm)], 1u64);
    }
    let mut f = family(
        out,
        "switchyard_pool_panic",
        MetricKind::Gauge,
        "1 while the pool is in panic mode (too few healthy servers).",
    );
    for p in &state.pools {
        f.sample(&[("pool", &p.name)], p.panic);
    }
    let mut f = family(
        out,
        "switchyard_pool_healthy_servers",
        MetricKind::Gauge,
        "Servers of the pool that are up.",
    );
    for p in &state.pools {
        let up = p
            .servers
            .iter()
            .filter(|s| s.state == ServerStatus::Up)
            .count();
        f.sample(&[("pool", &p.name)], up);
    }
}

fn render_servers(out: &mut String, state: &StateDoc) {
    let mut f = family(
        out,
        "switchyard_server_state",
        MetricKind::Gauge,
        "1 for the server's current state (up, down, draining, disabled), 0 for the others.",
    );
    for p in &state.pools {
        for s in &p.servers {
            for status in ServerStatus::ALL {
                f.sample(
                    &[
                        ("pool", &p.name),
                        ("server", &s.name),
                        ("state", status.as_str()),
                    ],
                    s.state == status,
                );
            }
        }
    }
    type Pick = fn(&ServerDoc) -> u64;
    let families: [(&str, MetricKind, &str, Pick); 5] = [
        (
            "switchyard_server_weight",
            MetricKind::Gauge,
            "The server's configured weight.",
            |s| s.weight.into(),
        ),
        (
            "switchyard_server_active_requests",
            MetricKind::Gauge,
            "Requests or connections in flight on the server.",
            |s| s.active,
        ),
        (
            "switchyard_server_requests_total",
            MetricKind::Counter,
            "Requests or connections sent to the server.",
            |s| s.requests_total,
        ),
        (
            "switchyard_server_errors_total",
            MetricKind::Counter,
            "Requests to the server that failed (5xx, connect errors, resets, timeouts).",
            |s| s.errors_total,
        ),
        (
            "switchyard_server_ejections_total",
            MetricKind::Counter,
            "Times outlier detection ejected the server.",
            |s| s.ejections,
        ),
    ];
    for (name, kind, help, pick) in families {
        let mut f = family(out, name, kind, help);
        for p in &state.pools {
            for s in &p.servers {
                f.sample(&[("pool", &p.name), ("server", &s.name)], pick(s));
            }
        }
    }
    // Fractional during slow start, so not among the whole-number families above.
    let mut f = family(
        out,
        "switchyard_server_effective_weight",
        MetricKind::Gauge,
        "The weight the balancer uses now (lower during slow start).",
    );
    for p in &state.pools {
        for s in &p.servers {
            f.sample(
                &[("pool", &p.name), ("server", &s.name)],
                s.effective_weight,
            );
        }
    }
    let mut f = family(
        out,
        "switchyard_server_health_check_latency_seconds",
        MetricKind::Gauge,
        "Duration of the server's last active health check.",
    );
    for p in &state.pools {
        for s in &p.servers {
            if let Some(ms) = s.health.last.as_ref().and_then(|c| c.latency_ms) {
                f.sample(&[("pool", &p.name), ("server", &s.name)], ms / 1e3);
            }
        }
    }
}

fn render_global(out: &mut String, state: &StateDoc) {
    let mut f = family(
        out,
        "switchyard_datacenter_up",
        MetricKind::Gauge,
        "1 while the datacenter's pool has a healthy server.",
    );
    for d in &state.datacenters {
        f.sample(&[("datacenter", &d.name)], d.up);
    }
    let mut f = family(
        out,
        "switchyard_anycast_announced",
        MetricKind::Gauge,
        "1 while the prefix is announced through BIRD.",
    );
    for a in &state.anycast {
        f.sample(
            &[("prefix", &a.prefix), ("bird_protocol", &a.bird_protocol)],
            a.announced,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::PoolDoc;

    #[test]
    fn server_state_is_one_hot() {
        let state = StateDoc {
            pools: vec![PoolDoc {
                name: "app".into(),
                algorithm: "maglev".into(),
                servers: vec![ServerDoc {
                    name: "a".into(),
                    state: ServerStatus::Draining,
                    weight: 3,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut out = String::new();
        render_state(&mut out, &state);
        assert!(out
            .contains("switchyard_server_state{pool=\"app\",server=\"a\",state=\"draining\"} 1\n"));
        assert!(out.contains("switchyard_server_state{pool=\"app\",server=\"a\",state=\"up\"} 0\n"));
        assert!(out.contains("switchyard_server_weight{pool=\"app\",server=\"a\"} 3\n"));
        assert!(out.contains("switchyard_pool_info{pool=\"app\",algorithm=\"maglev\"} 1\n"));
        assert!(out.contains("switchyard_pool_healthy_servers{pool=\"app\"} 0\n"));
    }
}
