//! The state document served on `GET /api/v1/state`, filled by the runtime.
//!
//! These are plain serde structs, a snapshot in operators' terms rather than a view into
//! the runtime's internals: the runtime copies numbers out of its atomics and snapshots
//! into them when asked, and the dashboard and API clients read the JSON. Times are unix
//! milliseconds (`*_ms` for durations, `at`/`since` for instants); counters are totals
//! since start, so clients compute rates from deltas between two polls.

use serde::{Deserialize, Serialize};

/// Everything the admin API shows about a running switchyard.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateDoc {
    /// switchyard's version.
    #[serde(default)]
    pub version: String,
    /// When this document was taken (unix ms).
    #[serde(default)]
    pub generated_at: u64,
    #[serde(default)]
    pub listeners: Vec<ListenerDoc>,
    #[serde(default)]
    pub pools: Vec<PoolDoc>,
    #[serde(default)]
    pub datacenters: Vec<DatacenterDoc>,
    #[serde(default)]
    pub anycast: Vec<AnnouncementDoc>,
}

/// One listener: where traffic arrives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ListenerDoc {
    pub name: String,
    /// `http`, `https`, `tcp`, `udp`, `tls` or `dns`.
    pub protocol: String,
    /// The bound address, `IP:PORT`.
    pub listen: String,
    /// The default pool (none for DNS listeners).
    #[serde(default)]
    pub pool: Option<String>,
    /// Connections (or UDP flows) open now.
    #[serde(default)]
    pub active_connections: u64,
    #[serde(default)]
    pub connections_total: u64,
    /// HTTP requests, DNS queries, or connections/flows for L4 listeners.
    #[serde(default)]
    pub requests_total: u64,
    /// Requests answered with an error (5xx, SERVFAIL, failed connects).
    #[serde(default)]
    pub errors_total: u64,
    #[serde(default)]
    pub received_bytes_total: u64,
    #[serde(default)]
    pub sent_bytes_total: u64,
}

/// One pool: where traffic goes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolDoc {
    pub name: String,
    /// The selection algorithm's configuration name, e.g. `least_connections`.
    pub algorithm: String,
    /// True while too few servers are healthy and the pool balances over all of them.
    #[serde(default)]
    pub panic: bool,
    /// The active check: `tcp`, `http`, `grpc`, or `none` (no active checks, so no
    /// server will ever show a last check).
    #[serde(default)]
    pub check: String,
    #[serde(default)]
    pub servers: Vec<ServerDoc>,
}

/// A server's administrative and health state, as the SPEC names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerStatus {
    /// Takes new traffic.
    #[default]
    Up,
    /// Failed health checks or ejected by outlier detection.
    Down,
    /// No new connections; existing ones and sticky sessions continue.
    Draining,
    /// No traffic at all.
    Disabled,
}

/// One server of a pool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerDoc {
    pub name: String,
    pub address: String,
    pub state: ServerStatus,
    /// Configured (or operator-set) weight, 1..=1000.
    pub weight: u32,
    /// The weight the balancer uses now, to 0.001 (lower during slow start: a weight-1
    /// server starts at 0.1, which a whole number would show as 0).
    pub effective_weight: f64,
    #[serde(default)]
    pub backup: bool,
    #[serde(default)]
    pub health: HealthDoc,
    /// How many times outlier detection ejected this server.
    #[serde(default)]
    pub ejections: u64,
    /// While outlier detection has the server out: when it comes back (unix ms), so an
    /// operator can tell a server ejected for failing real traffic from one failing its
    /// checks. `None` while it is not ejected.
    #[serde(default)]
    pub ejected_until: Option<u64>,
    /// Requests or connections in flight on this server now.
    #[serde(default)]
    pub active: u64,
    #[serde(default)]
    pub requests_total: u64,
    #[serde(default)]
    pub errors_total: u64,
    #[serde(default)]
    pub latency: LatencyDoc,
}

/// Active health check detail for one server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthDoc {
    /// The last check's result; `None` before the first check or with `check = "none"`.
    #[serde(default)]
    pub last: Option<CheckDoc>,
    #[serde(default)]
    pub consecutive_successes: u32,
    #[serde(default)]
    pub consecutive_failures: u32,
    /// When the server last changed between up and down (unix ms).
    #[serde(default)]
    pub last_transition: Option<u64>,
}

/// One health check's outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckDoc {
    pub ok: bool,
    /// In operators' words: `HTTP 200`, `connect refused`, `timed out after 1s`.
    pub detail: String,
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// When the check finished (unix ms).
    pub at: u64,
}

/// Request latency percentiles in milliseconds; `None` without observations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyDoc {
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// A GSLB datacenter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DatacenterDoc {
    pub name: String,
    /// True while its pool has a healthy server.
    pub up: bool,
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default)]
    pub pool: Option<String>,
}

/// An anycast prefix announcement driven by health.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AnnouncementDoc {
    pub prefix: String,
    pub bird_protocol: String,
    pub announced: bool,
    /// Why it is (or is not) announced, e.g. `pool app has 0 of 1 required healthy servers`.
    #[serde(default)]
    pub reason: String,
    /// Since when it has been in this state (unix ms).
    #[serde(default)]
    pub since: Option<u64>,
}

// === impl LatencyDoc ===

impl LatencyDoc {
    /// p50/p90/p99 from a histogram snapshot.
    pub fn from_snapshot(snapshot: &crate::HistogramSnapshot) -> Self {
        Self {
            p50_ms: snapshot.quantile_ms(0.5),
            p90_ms: snapshot.quantile_ms(0.9),
            p99_ms: snapshot.quantile_ms(0.99),
        }
    }
}

// === impl ServerStatus ===

impl ServerStatus {
    /// All states, in display order.
    pub const ALL: [ServerStatus; 4] = [Self::Up, Self::Down, Self::Draining, Self::Disabled];

    /// The lowercase name used in JSON and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Draining => "draining",
            Self::Disabled => "disabled",
        }
    }
}

impl std::fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Milliseconds since the unix epoch, for `generated_at`, `at` and `since`.
pub fn unix_ms(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_status_serializes_lowercase() {
        let json = serde_json::to_string(&ServerStatus::ALL).unwrap();
        assert_eq!(json, r#"["up","down","draining","disabled"]"#);
        for s in ServerStatus::ALL {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
    }

    #[test]
    fn state_doc_round_trips() {
        let doc = StateDoc {
            version: "1".into(),
            generated_at: 5,
            pools: vec![PoolDoc {
                name: "app".into(),
                algorithm: "round_robin".into(),
                panic: false,
                check: "http".into(),
                servers: vec![ServerDoc {
                    name: "a".into(),
                    address: "127.0.0.1:1".into(),
                    state: ServerStatus::Draining,
                    weight: 2,
                    effective_weight: 1.0,
                    ..Default::default()
                }],
            }],
            ..Default::default()
        };
        let json = serde_json::to_string(&doc).unwrap();
        assert_eq!(serde_json::from_str::<StateDoc>(&json).unwrap(), doc);
    }
}

/// A page of the L4 connection table (`GET /api/v1/connections`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectionsDoc {
    /// Live connections in all.
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    /// Oldest first.
    pub connections: Vec<ConnectionDoc>,
}

/// One live TCP connection through a `tcp` or `tls` listener.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectionDoc {
    pub id: u64,
    pub listener: String,
    /// The client's address and port (from the PROXY header when one was accepted).
    pub client: String,
    pub pool: String,
    pub server: String,
    pub server_address: String,
    /// Bytes from the client to the server so far.
    pub received_bytes: u64,
    /// Bytes from the server to the client so far.
    pub sent_bytes: u64,
    /// Time since the connection was accepted, in milliseconds.
    pub age_ms: u64,
}
