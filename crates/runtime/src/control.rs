//! The runtime's side of the admin API: state for `/api/v1/state` and the dashboard,
//! operator actions, reload, readiness and the data-plane metrics.
//!
//! Operator changes and reloads: drain and disable last as long as the server stays in
//! the configuration; a weight or algorithm set through the API lasts until a reload
//! changes that server's (or that pool's) configuration, which then wins.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use switchyard_admin::{self as admin, Control, ControlError, ReloadFuture, StateDoc};
use switchyard_balance::{clock, AdminState, Algorithm, ServerState};

use crate::listeners::{protocol, Plane};
use crate::Runtime;

/// [`Control`] over a [`Runtime`].
#[derive(Clone)]
pub struct RuntimeControl {
    runtime: Runtime,
}

impl RuntimeControl {
    pub fn new(runtime: Runtime) -> Self {
        RuntimeControl { runtime }
    }

    fn pool(&self, pool: &str) -> Result<std::sync::Arc<crate::PoolRuntime>, ControlError> {
        self.runtime
            .pools()
            .get(pool)
            .cloned()
            .ok_or_else(|| ControlError::unknown_pool(pool))
    }

    fn set_admin(&self, pool: &str, server: &str, state: AdminState) -> Result<(), ControlError> {
        let p = self.pool(pool)?;
        p.pool
            .set_admin(server, state)
            .map_err(|_| ControlError::unknown_server(pool, server))?;
        let word = admin_word(state);
        tracing::info!(
            pool,
            server,
            state = word,
            "operator set server {pool}/{server} to {word} through the admin API"
        );
        Ok(())
    }
}

fn admin_word(state: AdminState) -> &'static str {
    match state {
        AdminState::Normal => "normal service",
        AdminState::Draining => "draining",
        AdminState::Disabled => "disabled",
    }
}

/// Wall-clock milliseconds of a `Nanos` instant of the process clock.
fn unix_ms(at: u64) -> u64 {
    let clock_now = clock::now();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    // `at` may lie ahead (the end of an ejection) as well as behind.
    let unix = if at >= clock_now {
        now.saturating_add(at - clock_now)
    } else {
        now.saturating_sub(clock_now - at)
    };
    unix / 1_000_000
}

impl Control for RuntimeControl {
    fn state(&self) -> StateDoc {
        let config = self.runtime.config();
        let pools = self.runtime.pools();
        let now = clock::now();
        let mut doc = StateDoc {
            version: admin::VERSION.to_string(),
            generated_at: unix_ms(now),
            ..StateDoc::default()
        };
        for cfg in &config.pools {
            let Some(p) = pools.get(&cfg.name) else {
                continue;
            };
            doc.pools.push(pool_doc(p, now));
        }
        doc.listeners = self.runtime.listener_docs();
        for dc in &config.datacenters {
            let up = dc.pool.as_ref().is_none_or(|name| {
                pools
                    .get(name)
                    .is_some_and(|p| p.pool.snapshot().up_count() > 0)
            });
            doc.datacenters.push(admin::DatacenterDoc {
                name: dc.name.clone(),
                up,
                addresses: dc.addresses.iter().map(|a| a.to_string()).collect(),
                pool: dc.pool.clone(),
            });
        }
        doc.anycast = crate::anycast_task::docs(&self.runtime.inner.anycast, unix_ms);
        doc
    }

    fn drain(&self, pool: &str, server: &str) -> Result<(), ControlError> {
        self.set_admin(pool, server, AdminState::Draining)
    }

    fn enable(&self, pool: &str, server: &str) -> Result<(), ControlError> {
        self.set_admin(pool, server, AdminState::Normal)
    }

    fn disable(&self, pool: &str, server: &str) -> Result<(), ControlError> {
        self.set_admin(pool, server, AdminState::Disabled)
    }

    fn set_weight(&self, pool: &str, server: &str, weight: u32) -> Result<(), ControlError> {
        let p = self.pool(pool)?;
        p.set_weight_override(server, weight)
            .map_err(|_| ControlError::unknown_server(pool, server))?;
        tracing::info!(
            pool,
            server,
            weight,
            "operator set the weight of {pool}/{server} to {weight} through the admin API"
        );
        Ok(())
    }

    fn set_algorithm(&self, pool: &str, algorithm: &str) -> Result<(), ControlError> {
        let p = self.pool(pool)?;
        let parsed: Algorithm = algorithm.parse().map_err(|_| {
            ControlError::BadRequest(format!(
                "unknown algorithm {algorithm:?}; expected one of {}",
                Algorithm::names().join(", ")
            ))
        })?;
        p.set_algorithm_override(parsed)
            .map_err(|e| ControlError::BadRequest(e.to_string()))?;
        tracing::info!(
            pool,
            algorithm,
            "operator switched pool {pool} to {algorithm} through the admin API"
        );
        Ok(())
    }

    fn reload(&self) -> ReloadFuture {
        let runtime = self.runtime.clone();
        Box::pin(async move {
            let summary = runtime.reload_from_file().await?;
            let mut out = admin::ReloadSummary::default();
            let kinds = [
                ("listener", &summary.listeners),
                ("pool", &summary.pools),
                ("zone", &summary.zones),
                ("datacenter", &summary.datacenters),
            ];
            for (kind, names) in kinds {
                let tag = |list: &[String]| {
                    list.iter()
                        .map(|n| format!("{kind} {n}"))
                        .collect::<Vec<_>>()
                };
                out.added.extend(tag(&names.added));
                out.removed.extend(tag(&names.removed));
                out.changed.extend(tag(&names.changed));
                out.unchanged += names.unchanged.len();
            }
            // The sections without names: a reload that only rotates admin.token must
            // not read as "nothing changed".
            let sections = [
                ("global", summary.global),
                ("admin", summary.admin),
                ("geoip", summary.geoip),
                ("anycast", summary.anycast),
            ];
            out.changed.extend(
                sections
                    .iter()
                    .filter(|(_, changed)| *changed)
                    .map(|(name, _)| (*name).to_owned()),
            );
            Ok(out)
        })
    }

    fn connections(&self, offset: usize, limit: usize) -> admin::ConnectionsDoc {
        let table = switchyard_l4::ConnTable::global();
        let connections = table
            .list(offset, limit)
            .into_iter()
            .map(|c| admin::ConnectionDoc {
                id: c.id,
                listener: c.listener,
                client: c.client.to_string(),
                pool: c.pool,
                server: c.server,
                server_address: c.server_addr.to_string(),
                received_bytes: c.bytes_in,
                sent_bytes: c.bytes_out,
                age_ms: c.age.as_millis() as u64,
            })
            .collect();
        admin::ConnectionsDoc {
            total: table.count(),
            offset,
            limit,
            connections,
        }
    }

    fn ready(&self) -> bool {
        self.runtime.ready()
    }

    fn render_metrics(&self, out: &mut String) {
        crate::metrics::render(&self.runtime, &self.state(), out);
    }
}

fn pool_doc(p: &crate::PoolRuntime, now: u64) -> admin::PoolDoc {
    let snapshot = p.pool.snapshot();
    let ejections = p.ejections();
    let servers = snapshot
        .servers()
        .iter()
        .map(|s| {
            let health = p.health_view(s.name());
            let stats = s.stats();
            let latency = stats.latency_histogram();
            admin::ServerDoc {
                name: s.name().to_string(),
                address: s.address().to_string(),
                state: match s.state() {
                    ServerState::Up => admin::ServerStatus::Up,
                    ServerState::Down => admin::ServerStatus::Down,
                    ServerState::Draining => admin::ServerStatus::Draining,
                    ServerState::Disabled => admin::ServerStatus::Disabled,
                },
                weight: s.weight(),
                effective_weight: (s.effective_weight() * 1000.0).round() / 1000.0,
                backup: s.is_backup(),
                health: health
                    .map(|h| admin::HealthDoc {
                        last: h.last.map(|l| admin::CheckDoc {
                            ok: l.ok,
                            detail: l.detail,
                            latency_ms: Some(l.latency.as_secs_f64() * 1000.0),
                            at: unix_ms(l.at),
                        }),
                        consecutive_successes: h.consecutive_successes,
                        consecutive_failures: h.consecutive_failures,
                        last_transition: h.last_transition_at.map(unix_ms),
                    })
                    .unwrap_or_default(),
                ejections: ejections.get(s.name()).map_or(0, |e| e.0),
                ejected_until: ejections.get(s.name()).and_then(|e| e.1).map(unix_ms),
                active: stats.in_flight(),
                requests_total: stats.requests_total(),
                errors_total: stats.failures_total(),
                latency: admin::LatencyDoc {
                    p50_ms: latency.quantile_ms(0.5),
                    p90_ms: latency.quantile_ms(0.9),
                    p99_ms: latency.quantile_ms(0.99),
                },
            }
        })
        .collect();
    let _ = now;
    let check = match p.config().health.check {
        switchyard_config::CheckKind::Tcp => "tcp",
        switchyard_config::CheckKind::Http => "http",
        switchyard_config::CheckKind::Grpc => "grpc",
        switchyard_config::CheckKind::None => "none",
    };
    admin::PoolDoc {
        name: p.name.clone(),
        algorithm: snapshot.algorithm().to_string(),
        panic: snapshot.panic(),
        check: check.to_string(),
        servers,
    }
}

impl Runtime {
    /// The listeners with their counters, for the state document.
    pub(crate) fn listener_docs(&self) -> Vec<admin::ListenerDoc> {
        let set = self.inner.listeners.lock().expect("listener lock");
        let mut docs: Vec<admin::ListenerDoc> = set
            .iter()
            .map(|running| {
                let mut doc = admin::ListenerDoc {
                    name: running.config.name.clone(),
                    protocol: protocol(&running.config).to_string(),
                    listen: running.config.listen.to_string(),
                    pool: running.config.pool.clone(),
                    ..Default::default()
                };
                running.plane.fill(&mut doc);
                doc
            })
            .collect();
        docs.sort_by(|a, b| a.name.cmp(&b.name));
        docs
    }

    /// (successful, failed) reloads since start.
    pub fn reload_counts(&self) -> (u64, u64) {
        (
            self.inner.reloads_ok.load(Ordering::Relaxed),
            self.inner.reloads_failed.load(Ordering::Relaxed),
        )
    }
}

impl Plane {
    /// Copies this plane's counters into the listener's state document.
    pub(crate) fn fill(&self, doc: &mut admin::ListenerDoc) {
        match self {
            Plane::Http { shared, .. } => {
                let s = shared.stats.snapshot();
                doc.active_connections = s.connections_open;
                doc.connections_total = s.connections_total;
                doc.requests_total = s.responses_by_class.iter().sum();
                doc.errors_total = s.responses_by_class[4] + s.rejected_framing;
                doc.received_bytes_total = s.bytes_in;
                doc.sent_bytes_total = s.bytes_out;
            }
            Plane::L4 { state } => {
                let s = state.load().stats.snapshot();
                doc.active_connections = s.connections_active + s.udp_flows_active;
                doc.connections_total = s.connections_accepted + s.udp_flows_created;
                doc.requests_total = s.connections_accepted + s.datagrams_in;
                doc.errors_total = s.connections_failed
                    + s.connections_rejected
                    + s.udp_flows_dropped
                    + s.udp_flows_failed;
                doc.received_bytes_total = s.bytes_in;
                doc.sent_bytes_total = s.bytes_out;
            }
            Plane::Dns { stats, .. } => {
                let s = stats.snapshot();
                doc.requests_total = s.udp_queries + s.tcp_queries;
                doc.errors_total = s.dropped_malformed + s.io_errors;
                doc.connections_total = s.tcp_connections;
                doc.received_bytes_total = s.bytes_in;
                doc.sent_bytes_total = s.bytes_out;
            }
        }
    }
}
