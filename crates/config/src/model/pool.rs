//! `[[pool]]`: a named set of servers, how one is chosen, and how their health is judged.

use std::net::SocketAddr;
use std::time::Duration;

use super::balance::{Algorithm, AlgorithmParams, HashKey, StatusRanges};

/// `[[pool]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// `name`, required: `[a-z0-9_-]+`, unique among pools.
    pub name: String,
    /// `algorithm`, default `"weighted_round_robin"`.
    pub algorithm: Algorithm,
    /// `hash_key`, default `"source_ip"`: used by ring_hash and maglev (kept for the other
    /// algorithms too, so switching algorithm through the admin API has a key).
    pub hash_key: HashKey,
    /// `ring_vnodes` (default 160), `hash_balance_factor` (optional; stored in percent:
    /// `1.25` or `125` both give 125), `maglev_table_size` (default 65537, prime),
    /// `ewma_decay` (default `"10s"`).
    pub params: AlgorithmParams,
    /// `slow_start`, optional: a server back from down ramps its share up over this time.
    pub slow_start: Option<Duration>,
    /// `panic_threshold`, default 50 (percent, 0..=100): when fewer than this share of
    /// servers is up, the pool balances over all of them (0 disables panic mode).
    pub panic_threshold: u8,
    /// `drain_timeout`, optional: a draining server's remaining connections are closed
    /// after this long; absent = they may finish on their own.
    pub drain_timeout: Option<Duration>,
    /// `backend_protocol`, default `"http1"`: `"http2"` speaks HTTP/2 (prior knowledge,
    /// or ALPN over TLS) to the servers, as gRPC backends need.
    pub backend_protocol: BackendProtocol,
    /// `[pool.health]`; absent = TCP connect checks with the defaults.
    pub health: Health,
    /// `[pool.outlier]`; absent = no passive ejection.
    pub outlier: Option<Outlier>,
    /// `[pool.affinity]`; absent = none.
    pub affinity: Affinity,
    /// `[[pool.server]]`, in file order; at least one.
    pub servers: Vec<Server>,
}

/// `pool.backend_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendProtocol {
    /// `"http1"` (default).
    #[default]
    Http1,
    /// `"http2"`.
    Http2,
}

/// `[pool.health]`: active health checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// `check`, default `"tcp"`.
    pub check: CheckKind,
    /// `path`, default `"/"` (http).
    pub path: String,
    /// `host`, optional (http): the Host header; absent = the server's address.
    pub host: Option<String>,
    /// `method`, default `"GET"` (http), uppercase.
    pub method: String,
    /// `expect_status`, default `"200-399"` (http).
    pub expect_status: StatusRanges,
    /// `expect_body`, optional (http): a substring the body must contain.
    pub expect_body: Option<String>,
    /// `service`, default `""` (grpc): the service name sent in the grpc.health.v1 check.
    pub service: String,
    /// `tls`, default false: run http/grpc checks over TLS (certificates not verified).
    pub tls: bool,
    /// `interval`, default `"2s"`.
    pub interval: Duration,
    /// `timeout`, default `"1s"`; shorter than `interval`.
    pub timeout: Duration,
    /// `rise`, default 2 (>= 1): consecutive successes to mark a down server up.
    pub rise: u32,
    /// `fall`, default 3 (>= 1): consecutive failures to mark an up server down.
    pub fall: u32,
    /// Not a key: the PROXY header version the tcp/tls listeners that use this pool send
    /// (`proxy_protocol`, `v2` if any sends v2). Checks then start with a PROXY header of
    /// that version saying "no proxied client" (v1 `UNKNOWN`, v2 `LOCAL`), as HAProxy's
    /// `check-send-proxy` does, so servers that require one take checks as valid.
    pub proxy_header: super::listener::ProxyProtocol,
}

/// `pool.health.check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckKind {
    /// `"tcp"` (default): a TCP connect.
    #[default]
    Tcp,
    /// `"http"`: an HTTP request, judged by status (and body).
    Http,
    /// `"grpc"`: grpc.health.v1.Health/Check over HTTP/2.
    Grpc,
    /// `"none"`: no active checks; servers are up unless ejected or disabled.
    None,
}

/// `[pool.outlier]`: passive health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outlier {
    /// `consecutive_failures`, default 5 (>= 1): 5xx answers, connect errors, resets,
    /// timeouts in a row that eject a server.
    pub consecutive_failures: u32,
    /// `base_ejection`, default `"30s"`: the n-th ejection lasts n × this, up to `max_ejection`.
    pub base_ejection: Duration,
    /// `max_ejection`, default `"300s"`: the doubling stops here.
    pub max_ejection: Duration,
    /// `max_ejection_percent`, default 50 (0..=100): never eject more of the pool.
    pub max_ejection_percent: u8,
}

/// `[pool.affinity]`: session stickiness.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Affinity {
    /// `kind = "none"` (default).
    #[default]
    None,
    /// `kind = "cookie"`: a cookie names the server (by an opaque token, not its address).
    Cookie {
        /// `cookie`, default `"SYD_SRV"`.
        name: String,
        /// `ttl`, optional: the cookie's Max-Age; absent = a session cookie.
        ttl: Option<Duration>,
    },
    /// `kind = "source_ip"`: the client's IP picks the server.
    SourceIp,
    /// `kind = "header"`: a header's value picks the server.
    Header {
        /// `header`, required: the header name, stored lowercase.
        name: String,
    },
}

/// `[[pool.server]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `name`, required: `[a-z0-9_-]+`, unique within the pool.
    pub name: String,
    /// `address`, required: `IP:PORT`; for DNS records the IP is what is answered.
    pub address: SocketAddr,
    /// `weight`, default 1, 1..=1000.
    pub weight: u32,
    /// `backup`, default false: used only when no non-backup server is up.
    pub backup: bool,
    /// `check_address`, optional: health checks go here instead of `address`.
    pub check_address: Option<SocketAddr>,
}

// === impl Pool ===

impl Pool {
    /// The server called `name`.
    pub fn server(&self, name: &str) -> Option<&Server> {
        self.servers.iter().find(|s| s.name == name)
    }
}

// === impl Health ===

impl Health {
    /// Default `interval`.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
    /// Default `timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
}

impl Default for Health {
    /// TCP checks every 2s, 1s timeout, rise 2, fall 3.
    fn default() -> Self {
        Health {
            check: CheckKind::Tcp,
            path: "/".to_string(),
            host: None,
            method: "GET".to_string(),
            expect_status: StatusRanges::default(),
            expect_body: None,
            service: String::new(),
            tls: false,
            interval: Self::DEFAULT_INTERVAL,
            timeout: Self::DEFAULT_TIMEOUT,
            rise: 2,
            fall: 3,
            proxy_header: super::listener::ProxyProtocol::Off,
        }
    }
}

// === impl Outlier ===

impl Default for Outlier {
    fn default() -> Self {
        Outlier {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            max_ejection_percent: 50,
        }
    }
}

// === impl Server ===

impl Server {
    /// Where health checks connect: `check_address`, else `address`.
    pub fn check_target(&self) -> SocketAddr {
        self.check_address.unwrap_or(self.address)
    }
}
