//! A listener's compiled state: built once per configuration, swapped on reload.
//!
//! [`State::build`] does all the work that does not depend on a request: routes
//! compiled, pools resolved to indices, affinity token maps and `Set-Cookie` values
//! prepared, TLS configurations loaded, per-server connection slots created. Requests
//! only read it. [`Shared`] holds what must outlive a reload (counters, the access log).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue, StatusCode};
use switchyard_balance::{Pool, ServerId};
use switchyard_config as config;
use switchyard_net::SharedThrottle;
use tokio::sync::Semaphore;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::access_log::AccessLogger;
use crate::affinity::{self, Affinity};
use crate::backend::{BackendTls, Backends, Proto};
use crate::error::BuildError;
use crate::route::RouteTable;
use crate::stats::ListenerStats;
use crate::tls;

/// Largest request head (request line and headers) accepted: larger gets `431`.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// What outlives reloads of one listener: its counters and the access log.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    /// The listener's counters (read them for metrics).
    pub stats: Arc<ListenerStats>,
    /// Where access log entries go.
    pub access_log: AccessLogger,
}

/// Everything an http/https listener needs to serve, for one configuration.
pub struct State {
    pub(crate) listener: Arc<str>,
    pub(crate) scheme: &'static str,
    pub(crate) routes: RouteTable,
    pub(crate) default_target: Option<usize>,
    pub(crate) targets: Vec<Target>,
    pub(crate) timeouts: config::Timeouts,
    pub(crate) connections: Option<Arc<Semaphore>>,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) backends: Backends,
    pub(crate) stats: Arc<ListenerStats>,
    pub(crate) log: AccessLogger,
    /// Every pool speaks HTTP/1.1: HTTP/1 clients are served by the `h1` engine.
    pub(crate) h1_engine: bool,
}

/// A pool as a route target.
pub(crate) struct Target {
    pub name: Arc<str>,
    pub pool: Arc<Pool>,
    pub proto: Proto,
    pub hash_key: config::HashKey,
    pub affinity: Affinity,
    /// Paces the warning for requests that find no server up (one per request would
    /// flood the log during an outage).
    pub no_server: SharedThrottle,
}

/// At most one "no server up" warning per pool and listener in this period.
const NO_SERVER_WARN_EVERY: Duration = Duration::from_secs(5);

// === impl Target ===

impl Target {
    /// Nothing left to pick on attempt `attempt` (0: the first): logs why, in words and
    /// paced, and gives the status to answer (503 when no server was up at all, 502
    /// when every server tried failed and none is left to retry on).
    pub(crate) fn nothing_to_pick(&self, attempt: usize) -> StatusCode {
        let pool = &*self.name;
        if attempt > 0 {
            // The failed attempts were logged as they failed.
            tracing::debug!(pool, attempt, "pool {pool}: no other server to retry on after {attempt} failed attempt(s); answering 502");
            return StatusCode::BAD_GATEWAY;
        }
        if let Some(unreported) = self.no_server.record(Instant::now()) {
            if unreported == 0 {
                tracing::warn!(pool, "pool {pool} has no server up: answering 503");
            } else {
                tracing::warn!(pool, unreported, "pool {pool} has no server up: answering 503 ({unreported} more such requests since the last warning)");
            }
        }
        StatusCode::SERVICE_UNAVAILABLE
    }
}

// === impl Shared ===

impl Shared {
    /// Fresh counters and the given access log.
    pub fn new(access_log: AccessLogger) -> Self {
        Shared {
            stats: Arc::default(),
            access_log,
        }
    }
}

// === impl State ===

impl State {
    /// Compile `listener` (an http or https listener of `config`) against the running
    /// `pools` (by name).
    pub fn build(
        listener: &config::Listener,
        config: &config::Config,
        pools: &HashMap<String, Arc<Pool>>,
        shared: &Shared,
    ) -> Result<State, BuildError> {
        let name = listener.name.as_str();
        let (routes, tls_term) = match &listener.kind {
            config::ListenerKind::Http { routes } => (routes, None),
            config::ListenerKind::Https { routes, tls } => (routes, Some(tls)),
            _ => {
                return Err(BuildError::NotHttp {
                    listener: name.into(),
                    protocol: listener.protocol(),
                })
            }
        };
        let secure = tls_term.is_some();
        let mut targets = Vec::new();
        for pool_name in listener.pools() {
            targets.push(build_target(name, pool_name, config, pools, secure)?);
        }
        let index = |p: &str| targets.iter().position(|t| &*t.name == p).unwrap_or(0);
        let default_target = listener.pool.as_deref().map(index);
        let routes = RouteTable::build(routes, index).map_err(|e| BuildError::BadHeader {
            listener: name.into(),
            route: e.route,
            what: e.what,
        })?;
        let tls_err = |message: String| BuildError::Tls {
            listener: name.into(),
            message,
        };
        let acceptor = match tls_term {
            Some(t) => Some(TlsAcceptor::from(Arc::new(
                tls::server_config(t).map_err(tls_err)?,
            ))),
            None => None,
        };
        let backend_tls = match tls_term.and_then(|t| t.backend_tls.as_ref()) {
            Some(b) => Some(BackendTls {
                h1: TlsConnector::from(Arc::new(
                    tls::backend_client_config(b, b"http/1.1").map_err(tls_err)?,
                )),
                h2: TlsConnector::from(Arc::new(
                    tls::backend_client_config(b, b"h2").map_err(tls_err)?,
                )),
                server_name: match &b.server_name {
                    Some(n) => Some(
                        rustls::pki_types::ServerName::try_from(n.clone())
                            .map_err(|e| tls_err(format!("backend_tls.server_name {n}: {e}")))?,
                    ),
                    None => None,
                },
            }),
            None => None,
        };
        let servers = listener.pools().into_iter().flat_map(|p| {
            let pool = config.pool(p);
            let proto = pool.map_or(Proto::Http1, |p| proto_of(p.backend_protocol));
            pool.into_iter()
                .flat_map(move |p| p.servers.iter().map(move |s| (s.address, proto)))
        });
        let backends = Backends::new(
            servers,
            listener.timeouts.connect,
            listener.timeouts.idle,
            backend_tls,
        );
        let h1_engine = targets.iter().all(|t| t.proto == Proto::Http1)
            && std::env::var_os("SWITCHYARD_HTTP_ENGINE").is_none_or(|v| v != "hyper");
        Ok(State {
            h1_engine,
            listener: name.into(),
            scheme: if secure { "https" } else { "http" },
            routes,
            default_target,
            targets,
            timeouts: listener.timeouts,
            connections: listener
                .max_connections
                .map(|n| Arc::new(Semaphore::new(n as usize))),
            tls: acceptor,
            backends,
            stats: shared.stats.clone(),
            log: shared.access_log.clone(),
        })
    }

    /// The listener's name.
    pub fn name(&self) -> &str {
        &self.listener
    }

    /// The listener's counters.
    pub fn stats(&self) -> &Arc<ListenerStats> {
        &self.stats
    }
}

fn build_target(
    listener: &str,
    pool_name: &str,
    config: &config::Config,
    pools: &HashMap<String, Arc<Pool>>,
    secure: bool,
) -> Result<Target, BuildError> {
    let cfg = config
        .pool(pool_name)
        .ok_or_else(|| BuildError::UnknownPool {
            listener: listener.into(),
            pool: pool_name.into(),
        })?;
    let pool = pools
        .get(pool_name)
        .ok_or_else(|| BuildError::MissingPool {
            listener: listener.into(),
            pool: pool_name.into(),
        })?;
    let ids: Vec<ServerId> = cfg
        .servers
        .iter()
        .map(|s| ServerId::of_name(&s.name))
        .collect();
    let affinity = match &cfg.affinity {
        config::Affinity::None => Affinity::None,
        config::Affinity::Cookie { name, ttl } => {
            let mut by_token = HashMap::new();
            let mut set_cookie = HashMap::new();
            for (s, id) in cfg.servers.iter().zip(&ids) {
                let token = affinity::token(&cfg.name, &s.name);
                by_token.insert(token, *id);
                let value =
                    affinity::set_cookie_value(name, token, secure, ttl.map(|t| t.as_secs()));
                if let Ok(v) = HeaderValue::from_str(&value) {
                    set_cookie.insert(*id, v);
                }
            }
            Affinity::Cookie {
                name: name.as_str().into(),
                by_token,
                set_cookie,
            }
        }
        config::Affinity::SourceIp => Affinity::SourceIp { servers: ids },
        config::Affinity::Header { name } => Affinity::Header {
            name: HeaderName::from_bytes(name.as_bytes()).map_err(|_| BuildError::BadHeader {
                listener: listener.into(),
                route: 0,
                what: format!("pool {pool_name} affinity header {name:?}"),
            })?,
            servers: ids,
        },
    };
    Ok(Target {
        name: pool_name.into(),
        pool: pool.clone(),
        proto: proto_of(cfg.backend_protocol),
        hash_key: cfg.hash_key.clone(),
        affinity,
        no_server: SharedThrottle::new(NO_SERVER_WARN_EVERY),
    })
}

fn proto_of(p: config::BackendProtocol) -> Proto {
    match p {
        config::BackendProtocol::Http1 => Proto::Http1,
        config::BackendProtocol::Http2 => Proto::Http2,
    }
}
