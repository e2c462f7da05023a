//! `/metrics`: the state document's families (pools, servers, listeners) from
//! `switchyard-admin`, plus what only the runtime knows: per-protocol listener counters,
//! health checks, reloads, dropped access log lines, the anycast controller's counters.

use std::sync::atomic::Ordering;
use switchyard_admin::metrics::{family, MetricKind};
use switchyard_admin::{render_state, StateDoc};

use crate::listeners::Plane;
use crate::Runtime;

/// Appends every runtime metric family to `out`.
pub(crate) fn render(runtime: &Runtime, state: &StateDoc, out: &mut String) {
    render_state(out, state);
    render_latency(runtime, out);
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
    .sample(&[("result", "success")], c.successes())
    .sample(&[("result", "failure")], c.failures());
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
    family(
        out,
        "switchyard_access_log_dropped_total",
        MetricKind::Counter,
        "Access log lines dropped because the writer fell behind (its queue was full).",
    )
    .sample(&[], runtime.access_log_dropped());
    render_http(runtime, out);
    render_l4(runtime, out);
    render_dns(runtime, out);
    crate::anycast_task::render_metrics(&runtime.inner.anycast, out);
}

/// Every server's request latency histogram (kept in its `ServerStats`).
fn render_latency(runtime: &Runtime, out: &mut String) {
    let config = runtime.config();
    let pools = runtime.pools();
    let mut f = family(
        out,
        "switchyard_server_request_duration_seconds",
        MetricKind::Histogram,
        "Time from pick to the end of the request (HTTP) or connection (TCP).",
    );
    for cfg in &config.pools {
        let Some(pool) = pools.get(&cfg.name) else {
            continue;
        };
        for server in pool.pool.snapshot().servers() {
            let labels = [("pool", cfg.name.as_str()), ("server", server.name())];
            f.histogram(&labels, &server.stats().latency_histogram());
        }
    }
}

/// Counter rows of one family: (listener, labels, value).
type Rows<'a> = Vec<(String, Vec<(&'a str, &'a str)>, u64)>;

fn counter_family(out: &mut String, name: &str, help: &str, rows: &Rows<'_>) {
    if rows.is_empty() {
        return;
    }
    let mut f = family(out, name, MetricKind::Counter, help);
    for (listener, labels, value) in rows {
        let mut all: Vec<(&str, &str)> = vec![("listener", listener.as_str())];
        all.extend(labels.iter().copied());
        f.sample(&all, *value);
    }
}

fn render_http(runtime: &Runtime, out: &mut String) {
    let stats: Vec<(String, switchyard_http::StatsSnapshot)> = {
        let set = runtime.inner.listeners.lock().expect("listener lock");
        set.iter()
            .filter_map(|r| match &r.plane {
                Plane::Http { shared, .. } => {
                    Some((r.config.name.clone(), shared.stats.snapshot()))
                }
                _ => None,
            })
            .collect()
    };
    const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
    let mut rows: Rows = Vec::new();
    for (listener, s) in &stats {
        for (class, n) in CLASSES.iter().zip(s.responses_by_class) {
            rows.push((listener.clone(), vec![("class", *class)], n));
        }
    }
    counter_family(
        out,
        "switchyard_http_responses_total",
        "HTTP responses sent, by status class.",
        &rows,
    );
    let simple = |pick: fn(&switchyard_http::StatsSnapshot) -> u64| -> Rows {
        stats
            .iter()
            .map(|(l, s)| (l.clone(), vec![], pick(s)))
            .collect()
    };
    counter_family(
        out,
        "switchyard_http_retries_total",
        "Requests retried on another server.",
        &simple(|s| s.retries),
    );
    let mut errors: Rows = Vec::new();
    for (listener, s) in &stats {
        errors.push((
            listener.clone(),
            vec![("kind", "bad_gateway")],
            s.bad_gateway,
        ));
        errors.push((listener.clone(), vec![("kind", "no_server")], s.unavailable));
        errors.push((
            listener.clone(),
            vec![("kind", "gateway_timeout")],
            s.gateway_timeout,
        ));
        errors.push((
            listener.clone(),
            vec![("kind", "rejected_framing")],
            s.rejected_framing,
        ));
        errors.push((
            listener.clone(),
            vec![("kind", "tls_handshake")],
            s.tls_failures,
        ));
    }
    counter_family(
        out,
        "switchyard_http_errors_total",
        "HTTP errors by kind (502, 503, 504, rejected framing, TLS).",
        &errors,
    );
    counter_family(
        out,
        "switchyard_http_upgrades_total",
        "Connections upgraded (WebSocket) and tunnelled.",
        &simple(|s| s.upgrades),
    );
}

/// The per-listener L4 counters: (metric, help, field).
type L4Counter = (
    &'static str,
    &'static str,
    fn(&switchyard_l4::StatsSnapshot) -> u64,
);

const L4_COUNTERS: [L4Counter; 11] = [
    (
        "switchyard_l4_connections_rejected_total",
        "Connections closed at once because max_connections were open.",
        |s| s.connections_rejected,
    ),
    (
        "switchyard_l4_connections_failed_total",
        "Connections closed before forwarding: bad PROXY header or ClientHello, handshake timeout, no route, no server reachable.",
        |s| s.connections_failed,
    ),
    (
        "switchyard_l4_connect_failures_total",
        "Connects to servers that failed (refused or timed out).",
        |s| s.connect_failures,
    ),
    (
        "switchyard_l4_retries_total",
        "Connections retried on another server.",
        |s| s.retries,
    ),
    (
        "switchyard_l4_drain_closed_total",
        "Connections closed when a draining server's drain_timeout passed.",
        |s| s.connections_drain_closed,
    ),
    (
        "switchyard_l4_idle_closed_total",
        "Connections closed by timeouts.idle.",
        |s| s.connections_idle_closed,
    ),
    (
        "switchyard_l4_spliced_directions_total",
        "Connection directions that became bulk transfers and switched to splice(2).",
        |s| s.spliced_directions,
    ),
    (
        "switchyard_udp_flows_created_total",
        "UDP flows created.",
        |s| s.udp_flows_created,
    ),
    (
        "switchyard_udp_flows_dropped_total",
        "New UDP flows dropped because the flow table was full.",
        |s| s.udp_flows_dropped,
    ),
    (
        "switchyard_udp_flows_failed_total",
        "Datagrams of new UDP flows dropped because no flow could be opened (no server up, no socket).",
        |s| s.udp_flows_failed,
    ),
    (
        "switchyard_udp_flows_expired_total",
        "UDP flows forgotten after timeouts.idle.",
        |s| s.udp_flows_expired,
    ),
];

fn render_l4(runtime: &Runtime, out: &mut String) {
    let stats: Vec<(String, switchyard_l4::StatsSnapshot)> = {
        let set = runtime.inner.listeners.lock().expect("listener lock");
        set.iter()
            .filter_map(|r| match &r.plane {
                Plane::L4 { state } => Some((r.config.name.clone(), state.load().stats.snapshot())),
                _ => None,
            })
            .collect()
    };
    let simple = |pick: fn(&switchyard_l4::StatsSnapshot) -> u64| -> Rows {
        stats
            .iter()
            .map(|(l, s)| (l.clone(), vec![], pick(s)))
            .collect()
    };
    for (name, help, pick) in L4_COUNTERS {
        counter_family(out, name, help, &simple(pick));
    }
    let mut datagrams: Rows = Vec::new();
    for (listener, s) in &stats {
        datagrams.push((listener.clone(), vec![("direction", "in")], s.datagrams_in));
        datagrams.push((
            listener.clone(),
            vec![("direction", "out")],
            s.datagrams_out,
        ));
    }
    counter_family(
        out,
        "switchyard_udp_datagrams_total",
        "UDP datagrams relayed, by direction.",
        &datagrams,
    );
}

fn render_dns(runtime: &Runtime, out: &mut String) {
    let set = runtime.inner.listeners.lock().expect("listener lock");
    let dns: Vec<(String, switchyard_dns::StatsSnapshot)> = set
        .iter()
        .filter_map(|r| match &r.plane {
            Plane::Dns { stats, .. } => Some((r.config.name.clone(), stats.snapshot())),
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
