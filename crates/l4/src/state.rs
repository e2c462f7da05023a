//! A listener's immutable state, built from the validated configuration: the one place
//! that adapts `switchyard_config` types to what the proxy loops need.
//!
//! The runtime builds a new `State` on every reload and swaps it into the listener's
//! `ArcSwap`; each new connection or flow loads the current one and keeps that `Arc` for
//! its whole life.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchyard_balance::{Pool, ServerId};
use switchyard_config::{HashKey, HostMatch, Listener, ListenerKind, ProxyProtocol, Timeouts};
use switchyard_net::{AccessLogger, SharedThrottle};

use crate::stats::ListenerStats;

/// One L4 listener's state.
#[derive(Debug)]
pub struct State {
    /// The listener's name.
    pub name: String,
    /// What the listener does.
    pub mode: Mode,
    /// The default pool (no SNI route matched, or tcp/udp).
    pub default_pool: Option<PoolRef>,
    /// tls: `[[listener.route]]` `sni` routes, first match wins.
    pub sni_routes: Vec<(HostMatch, PoolRef)>,
    /// `max_connections`: TCP connections beyond it are closed at once.
    pub max_connections: Option<u32>,
    /// `timeouts`.
    pub timeouts: Timeouts,
    /// Zero-copy forwarding of bulk transfers with `splice(2)`: the listener's `splice`
    /// (default true), on Linux only.
    pub splice: bool,
    /// The listener's counters (shared across reloads).
    pub stats: Arc<ListenerStats>,
    /// `global.access_log`: one line per connection or flow (off unless set with
    /// [`State::with_access_log`]).
    pub access_log: AccessLogger,
    /// At most one warning per 5 s about connections closed because no server could be
    /// reached, and one about failed connects: with a pool down, every client would
    /// otherwise write a warning (the HTTP proxy throttles its own the same way).
    pub(crate) unreachable_warnings: SharedThrottle,
    pub(crate) connect_warnings: SharedThrottle,
    /// The same for connections closed over a bad or incomplete PROXY header or ClientHello.
    pub(crate) handshake_warnings: SharedThrottle,
}

/// How often the throttled warnings of [`State`] may be written.
const WARN_EVERY: Duration = Duration::from_secs(5);

/// The listener's protocol and its own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `protocol = "tcp"`.
    Tcp {
        /// `proxy_protocol`.
        send_proxy: ProxyProtocol,
        /// `accept_proxy_protocol`.
        accept_proxy: bool,
    },
    /// `protocol = "tls"`: passthrough routed on SNI.
    Tls {
        /// `proxy_protocol`.
        send_proxy: ProxyProtocol,
        /// `accept_proxy_protocol`.
        accept_proxy: bool,
    },
    /// `protocol = "udp"`.
    Udp {
        /// `max_flows`.
        max_flows: usize,
    },
}

/// A pool a connection can go to, with the per-pool settings L4 needs.
#[derive(Debug, Clone)]
pub struct PoolRef {
    /// The pool's name.
    pub name: String,
    /// The live pool.
    pub pool: Arc<Pool>,
    /// What the hashing algorithms hash.
    pub hash: HashSource,
    /// `drain_timeout`: a draining server's connections are closed after this long.
    pub drain_timeout: Option<Duration>,
    /// `[pool.affinity] kind = "source_ip"`: the pool's configured servers, among which a
    /// client IP sticks to one (`None`: no affinity).
    pub sticky_servers: Option<Vec<ServerId>>,
}

// === impl PoolRef ===

impl PoolRef {
    /// The server `client` is sticky to under `source_ip` affinity: rendezvous hashing of
    /// the client's IP over the configured servers, the same choice the HTTP proxy makes
    /// for that IP. The balancer uses it while it is up or draining, else picks as usual.
    pub fn sticky(&self, client: SocketAddr) -> Option<ServerId> {
        let servers = self.sticky_servers.as_ref()?;
        switchyard_balance::rendezvous(servers, switchyard_balance::hash_ip(client.ip()))
    }
}

/// What an L4 connection's hash key is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashSource {
    /// `hash_key = "source_ip"`: the client's IP.
    SourceIp,
    /// `hash_key = "connection"`: the client's IP and port.
    Connection,
    /// `hash_key = "host"`: the SNI name on tls listeners (source IP when absent).
    Sni,
}

/// Why a listener's state cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// Not a tcp, udp or tls listener.
    #[error("listener \"{listener}\": protocol \"{protocol}\" is not served by the L4 proxy")]
    NotL4 {
        /// Listener name.
        listener: String,
        /// Its protocol.
        protocol: &'static str,
    },
    /// A pool the listener names has no live pool.
    #[error("listener \"{listener}\": pool \"{pool}\" does not exist")]
    MissingPool {
        /// Listener name.
        listener: String,
        /// Pool name.
        pool: String,
    },
    /// A tcp/udp listener without `pool`, or a tls one without `pool` or routes.
    #[error("listener \"{listener}\": no pool to send traffic to")]
    NoPool {
        /// Listener name.
        listener: String,
    },
}

// === impl State ===

impl State {
    /// Builds the state of an L4 listener. `pools` are the live pools by name; `pool_configs`
    /// (the configuration's `[[pool]]` list) give each pool's `hash_key` and `drain_timeout`.
    pub fn build(
        listener: &Listener,
        pools: &HashMap<String, Arc<Pool>>,
        pool_configs: &[switchyard_config::Pool],
    ) -> Result<State, BuildError> {
        let name = listener.name.clone();
        let pool_ref = |pool: &str| -> Result<PoolRef, BuildError> {
            let live = pools.get(pool).ok_or_else(|| BuildError::MissingPool {
                listener: name.clone(),
                pool: pool.to_string(),
            })?;
            let cfg = pool_configs.iter().find(|p| p.name == pool);
            Ok(PoolRef {
                name: pool.to_string(),
                pool: live.clone(),
                hash: cfg.map_or(HashSource::SourceIp, |c| hash_source(&c.hash_key)),
                drain_timeout: cfg.and_then(|c| c.drain_timeout),
                sticky_servers: cfg
                    .filter(|c| c.affinity == switchyard_config::Affinity::SourceIp)
                    .map(|c| {
                        c.servers
                            .iter()
                            .map(|s| ServerId::of_name(&s.name))
                            .collect()
                    }),
            })
        };
        let (mode, sni_routes, splice) = match &listener.kind {
            ListenerKind::Tcp {
                proxy_protocol,
                accept_proxy_protocol,
                splice,
            } => (
                Mode::Tcp {
                    send_proxy: *proxy_protocol,
                    accept_proxy: *accept_proxy_protocol,
                },
                Vec::new(),
                *splice,
            ),
            ListenerKind::Udp { max_flows } => (
                Mode::Udp {
                    max_flows: *max_flows,
                },
                Vec::new(),
                false,
            ),
            ListenerKind::Tls {
                sni_routes,
                proxy_protocol,
                accept_proxy_protocol,
                splice,
            } => {
                let routes = sni_routes
                    .iter()
                    .map(|r| Ok((r.sni.clone(), pool_ref(&r.pool)?)))
                    .collect::<Result<Vec<_>, BuildError>>()?;
                let mode = Mode::Tls {
                    send_proxy: *proxy_protocol,
                    accept_proxy: *accept_proxy_protocol,
                };
                (mode, routes, *splice)
            }
            _ => {
                return Err(BuildError::NotL4 {
                    listener: name.clone(),
                    protocol: listener.protocol(),
                })
            }
        };
        let default_pool = listener.pool.as_deref().map(pool_ref).transpose()?;
        if default_pool.is_none() && sni_routes.is_empty() {
            return Err(BuildError::NoPool { listener: name });
        }
        Ok(State {
            stats: ListenerStats::for_listener(&name),
            access_log: AccessLogger::off(),
            name,
            mode,
            default_pool,
            sni_routes,
            max_connections: listener.max_connections,
            timeouts: listener.timeouts,
            splice: cfg!(target_os = "linux") && splice,
            unreachable_warnings: SharedThrottle::new(WARN_EVERY),
            connect_warnings: SharedThrottle::new(WARN_EVERY),
            handshake_warnings: SharedThrottle::new(WARN_EVERY),
        })
    }

    /// The state logging each connection or flow to `log` (the process's access log).
    pub fn with_access_log(mut self, log: AccessLogger) -> State {
        self.access_log = log;
        self
    }

    /// The protocol's name as the access log writes it.
    pub fn protocol(&self) -> &'static str {
        match self.mode {
            Mode::Tcp { .. } => "tcp",
            Mode::Tls { .. } => "tls",
            Mode::Udp { .. } => "udp",
        }
    }

    /// The pool for a TLS connection with this SNI: the first matching route, else the
    /// listener's default pool.
    pub fn route_sni(&self, sni: Option<&str>) -> Option<&PoolRef> {
        sni.and_then(|s| self.sni_routes.iter().find(|(m, _)| m.matches(s)))
            .map(|(_, p)| p)
            .or(self.default_pool.as_ref())
    }
}

fn hash_source(key: &HashKey) -> HashSource {
    match key {
        HashKey::SourceIp => HashSource::SourceIp,
        HashKey::Host => HashSource::Sni,
        // `connection` comes with the balance crate's HashKey; matched by its name so this
        // compiles against both the config stand-in and the re-export.
        other if other.to_string() == "connection" => HashSource::Connection,
        _ => HashSource::SourceIp,
    }
}

// === impl HashSource ===

impl HashSource {
    /// The hash of a connection's key.
    pub fn hash(self, client: SocketAddr, sni: Option<&str>) -> u64 {
        use switchyard_balance::{hash_addr, hash_bytes, hash_ip};
        match (self, sni) {
            (HashSource::SourceIp, _) | (HashSource::Sni, None) => hash_ip(client.ip()),
            (HashSource::Connection, _) => hash_addr(client),
            (HashSource::Sni, Some(name)) => hash_bytes(name.as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_balance::{clock, Algorithm, AlgorithmParams, PoolSpec, ServerSpec};
    use switchyard_config::ListenerKind;

    fn pools() -> HashMap<String, Arc<Pool>> {
        let spec = PoolSpec {
            name: "p".into(),
            algorithm: Algorithm::RoundRobin,
            params: AlgorithmParams::default(),
            servers: vec![ServerSpec {
                name: "s".into(),
                address: "127.0.0.1:1".parse().unwrap(),
                weight: 1,
                backup: false,
            }],
            slow_start: None,
            panic_threshold: 0,
        };
        let pool = Arc::new(Pool::new_all_up(spec, clock::now()).unwrap());
        [("p".to_string(), pool)].into_iter().collect()
    }

    fn tcp(splice: bool) -> Listener {
        Listener {
            name: "state-test".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            pool: Some("p".into()),
            max_connections: None,
            timeouts: Timeouts::default(),
            kind: ListenerKind::Tcp {
                proxy_protocol: ProxyProtocol::Off,
                accept_proxy_protocol: false,
                splice,
            },
        }
    }

    #[test]
    fn splice_follows_the_listener_key() {
        let on = State::build(&tcp(true), &pools(), &[]).unwrap();
        assert_eq!(on.splice, cfg!(target_os = "linux"));
        let off = State::build(&tcp(false), &pools(), &[]).unwrap();
        assert!(!off.splice);
        let mut tls = tcp(false);
        tls.kind = ListenerKind::Tls {
            sni_routes: Vec::new(),
            proxy_protocol: ProxyProtocol::Off,
            accept_proxy_protocol: false,
            splice: false,
        };
        assert!(!State::build(&tls, &pools(), &[]).unwrap().splice);
    }
}
