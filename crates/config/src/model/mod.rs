//! The validated configuration model: what every other crate codes against.
//!
//! Plain data, already checked: durations are [`Duration`], addresses are
//! [`SocketAddr`]/[`IpAddr`], choices are enums, every name a value refers to exists.
//! Nothing here parses text or does I/O except the TLS material, which is loaded at
//! validation time so that a bad certificate is a configuration error, not a runtime one.
//! The TOML key of each field and its default are written on the field.
//!
//! [`IpAddr`]: std::net::IpAddr

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod balance;
mod dns;
mod gslb;
mod listener;
mod pool;
mod tls;

pub use balance::{Algorithm, AlgorithmParams, HashKey, StatusRanges};
pub use dns::{is_within, BalancePolicy, RData, Record, RecordData, RecordType, Soa, Zone};
pub use gslb::{Announce, Anycast, Datacenter, GeoIp};
pub use listener::{
    HostMatch, Listener, ListenerKind, Matchers, PathMatch, ProxyProtocol, Route, RouteAction,
    SniRoute, Timeouts,
};
pub use pool::{Affinity, BackendProtocol, CheckKind, Health, Outlier, Pool, Server};
pub use tls::{BackendTls, CertKey, TlsTerm, TlsVersion};

/// A whole, validated configuration file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// `[global]`: process-wide settings; every key optional.
    pub global: Global,
    /// `[admin]`: the admin API and dashboard; absent = no admin listener.
    pub admin: Option<Admin>,
    /// `[[pool]]`, in file order.
    pub pools: Vec<Pool>,
    /// `[[listener]]`, in file order.
    pub listeners: Vec<Listener>,
    /// `[[zone]]`, in file order (served by `dns` listeners).
    pub zones: Vec<Zone>,
    /// `[[datacenter]]`, in file order (used by geo records).
    pub datacenters: Vec<Datacenter>,
    /// `[geoip]`: the MaxMind database; required when a record has `policy = "geo"`.
    pub geoip: Option<GeoIp>,
    /// `[anycast]`: health-driven BGP announcements through BIRD.
    pub anycast: Option<Anycast>,
}

/// `[global]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    /// `shutdown_timeout`, default `"30s"`: how long in-flight requests and connections
    /// may finish after SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    /// `workers`, optional (1..=1024; default: one per CPU core): threads that serve the
    /// HTTP, L4 and admin listeners. `1` runs everything on one thread, like one nginx
    /// worker or one HAProxy thread. Read at start; a reload does not change it.
    pub workers: Option<usize>,
    /// `access_log = { target, format }`, default `{ target = "off", format = "json" }`.
    pub access_log: AccessLog,
}

/// `global.access_log`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessLog {
    /// `target`: `"off"` (default), `"stdout"`, or a file path (relative paths resolve
    /// against the configuration file's directory).
    pub target: LogTarget,
    /// `format`: `"json"` (default) or `"combined"` (Apache/nginx combined log format).
    pub format: LogFormat,
}

/// Where access log lines go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LogTarget {
    /// `"off"`: no access log.
    #[default]
    Off,
    /// `"stdout"`.
    Stdout,
    /// Any other string: append to this file.
    File(PathBuf),
}

/// Access log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `"json"`: one JSON object per line.
    #[default]
    Json,
    /// `"combined"`: the Apache/nginx combined format.
    Combined,
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// `listen`, required: `IP:PORT` of the admin API and dashboard.
    pub listen: SocketAddr,
    /// `token`, optional: when set, every mutating call needs `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
}

// === impl Config ===

impl Config {
    /// The pool called `name`.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.name == name)
    }

    /// The listener called `name`.
    pub fn listener(&self, name: &str) -> Option<&Listener> {
        self.listeners.iter().find(|l| l.name == name)
    }

    /// The zone called `name` (lowercase, no trailing dot).
    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.name == name)
    }

    /// The datacenter called `name`.
    pub fn datacenter(&self, name: &str) -> Option<&Datacenter> {
        self.datacenters.iter().find(|d| d.name == name)
    }

    /// The most specific zone that contains `fqdn` (lowercase, no trailing dot).
    pub fn zone_for(&self, fqdn: &str) -> Option<&Zone> {
        self.zones
            .iter()
            .filter(|z| dns::is_within(fqdn, &z.name))
            .max_by_key(|z| z.name.len())
    }
}

// === impl Global ===

impl Global {
    /// Default `shutdown_timeout`.
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
}

impl Default for Global {
    fn default() -> Self {
        Global {
            shutdown_timeout: Self::DEFAULT_SHUTDOWN_TIMEOUT,
            workers: None,
            access_log: AccessLog::default(),
        }
    }
}
