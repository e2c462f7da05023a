//! The authoritative DNS server: static, balanced and geo records (hickory-proto wire format).
//!
//! How it is shaped:
//! - [`DnsListenerState::build`] compiles the configuration once per (re)load into wire
//!   form ([`zone`], [`compile`]); the runtime publishes it through an `ArcSwap`.
//! - [`serve`] (or [`serve_udp`] / [`serve_tcp`]) answers on the sockets the runtime
//!   bound; each query reads the current state, parses with [`wire`] and answers with
//!   [`answer`] into reused buffers.
//! - Balanced and geo records ([`dynamic`], [`geo`]) read the pools' health snapshots
//!   per query; geo records locate the client with [`geoip`] (EDNS Client Subnet first)
//!   and order datacenters with `switchyard-gslb`.
//! - Counters live in [`DnsStats`], created by the runtime and kept across reloads.
//!
//! The user-facing reference is `docs/dns.md`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use switchyard_balance::Pool;
use switchyard_config as config;

pub mod answer;
#[cfg(target_os = "linux")]
pub mod batch;
pub mod compile;
pub mod dynamic;
pub mod geo;
pub mod geoip;
pub mod ratelimit;
pub mod server;
pub mod stats;
pub mod wire;
pub mod zone;

pub use dynamic::{Authority, Scratch};
pub use server::{serve, serve_tcp, serve_udp, Transport, Worker};
pub use stats::{DnsStats, StatsSnapshot, Tally};

/// Everything one DNS listener answers with; rebuilt on every reload.
#[derive(Debug)]
pub struct DnsListenerState {
    /// The listener's name, for logs.
    pub name: String,
    /// Zones, GeoIP and datacenters.
    pub authority: Authority,
    /// `rate_limit`: responses per second per client /24 (IPv6 /56) over UDP.
    pub rate_limit: Option<u32>,
    /// `max_tcp_connections`.
    pub max_tcp_connections: u32,
    /// `timeouts.idle`: how long a TCP connection may wait between queries.
    pub tcp_idle: Duration,
}

/// A configuration the DNS server cannot serve, in the operator's words.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The listener is not a DNS listener.
    #[error("listener {listener}: not a dns listener")]
    NotDns {
        /// Listener name.
        listener: String,
    },
    /// A zone-level problem.
    #[error("zone {zone}: {reason}")]
    Zone {
        /// Zone name.
        zone: String,
        /// What is wrong.
        reason: String,
    },
    /// A record-level problem.
    #[error("zone {zone}, record {name} {rtype}: {reason}")]
    Record {
        /// Zone name.
        zone: String,
        /// Record name as written.
        name: String,
        /// Record type.
        rtype: String,
        /// What is wrong.
        reason: String,
    },
    /// A datacenter problem.
    #[error("datacenter {datacenter}: {reason}")]
    Datacenter {
        /// Datacenter name.
        datacenter: String,
        /// What is wrong.
        reason: String,
    },
    /// The GeoIP database could not be used.
    #[error("geoip database {path}: {reason}")]
    GeoIp {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

// === impl DnsListenerState ===

impl DnsListenerState {
    /// Compile the zones, datacenters and GeoIP database of `config` for `listener`.
    pub fn build(
        listener: &config::Listener,
        config: &config::Config,
        pools: &HashMap<String, Arc<Pool>>,
    ) -> Result<Self, BuildError> {
        let config::ListenerKind::Dns {
            rate_limit,
            max_tcp_connections,
        } = listener.kind
        else {
            return Err(BuildError::NotDns {
                listener: listener.name.clone(),
            });
        };
        let authority = Authority::build(config, pools)?;
        Ok(DnsListenerState {
            name: listener.name.clone(),
            authority,
            rate_limit,
            max_tcp_connections,
            tcp_idle: listener.timeouts.idle,
        })
    }
}

// === impl Authority ===

impl Authority {
    /// Compile every zone, datacenter and the GeoIP database of `config`.
    pub fn build(
        config: &config::Config,
        pools: &HashMap<String, Arc<Pool>>,
    ) -> Result<Self, BuildError> {
        let datacenters = Arc::new(geo::Datacenters::build(&config.datacenters, pools)?);
        let geoip = match &config.geoip {
            Some(g) => Some(geoip::GeoDb::open(&g.database)?),
            None => None,
        };
        let catalog = compile::catalog(
            &config.zones,
            &compile::Inputs {
                pools,
                datacenters: &datacenters,
            },
        )?;
        Ok(Authority {
            catalog,
            geoip,
            datacenters,
        })
    }
}
