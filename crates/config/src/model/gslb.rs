//! `[[datacenter]]`, `[geoip]` and `[anycast]`: global traffic management.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

/// `[[datacenter]]`: a place geo records can answer with.
#[derive(Debug, Clone, PartialEq)]
pub struct Datacenter {
    /// `name`, required: `[a-z0-9_-]+`, unique among datacenters.
    pub name: String,
    /// `latitude`, required: -90..=90.
    pub latitude: f64,
    /// `longitude`, required: -180..=180.
    pub longitude: f64,
    /// `addresses`, required: what a geo record answers for this datacenter (A records
    /// take the IPv4 ones, AAAA the IPv6 ones).
    pub addresses: Vec<IpAddr>,
    /// `pool`, optional: the datacenter is up while this pool has a healthy server;
    /// absent = always up.
    pub pool: Option<String>,
    /// `countries`, default `[]`: ISO 3166 alpha-2 codes (uppercase) pinned here, before
    /// distance.
    pub countries: Vec<String>,
}

/// `[geoip]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoIp {
    /// `database`, required: a MaxMind DB (City) file, resolved against the config
    /// file's directory; opened and test-read at validation time.
    pub database: PathBuf,
}

/// `[anycast]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anycast {
    /// `bird_socket`, default `"/run/bird/bird.ctl"`: the BIRD 2 control socket.
    pub bird_socket: PathBuf,
    /// `hold_down`, default `"10s"`: a prefix must be healthy this long before it is
    /// announced again after a withdrawal (damps flapping).
    pub hold_down: Duration,
    /// `withdraw_delay`, default `"2s"`: on shutdown, wait this long after withdrawing
    /// before closing listeners, so routers converge while we still serve.
    pub withdraw_delay: Duration,
    /// `[[anycast.announce]]`.
    pub announces: Vec<Announce>,
}

/// `[[anycast.announce]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// `prefix`, required: e.g. `"203.0.113.10/32"`.
    pub prefix: IpNet,
    /// `bird_protocol`, required: the BIRD protocol switchyard enables while healthy.
    pub bird_protocol: String,
    /// `pools`, required, non-empty: every listed pool must have `min_healthy` servers up.
    pub pools: Vec<String>,
    /// `min_healthy`, default 1 (>= 1).
    pub min_healthy: u32,
}

// === impl Anycast ===

impl Anycast {
    /// Default `bird_socket`.
    pub const DEFAULT_BIRD_SOCKET: &'static str = "/run/bird/bird.ctl";
    /// Default `hold_down`.
    pub const DEFAULT_HOLD_DOWN: Duration = Duration::from_secs(10);
    /// Default `withdraw_delay`.
    pub const DEFAULT_WITHDRAW_DELAY: Duration = Duration::from_secs(2);
}
