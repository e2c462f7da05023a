//! The admin HTTP server. This module documentation is the admin API reference.
//!
//! Served on `admin.listen` with HTTP/1.1 (and HTTP/2 with prior knowledge). Every
//! answer other than the dashboard and the metrics is JSON; every error is
//! `{"error": "message"}` with the status below. Responses carry `Cache-Control: no-store`.
//!
//! # Health and metrics
//!
//! | request | answer |
//! |---|---|
//! | `GET /livez` | `200 {"status":"live"}` while the process runs |
//! | `GET /readyz` | `200 {"status":"ready"}` once every listener is bound and every pool had its first health round; `503 {"status":"not ready"}` before that and while shutting down |
//! | `GET /metrics` | Prometheus text exposition 0.0.4 (`text/plain; version=0.0.4`): `switchyard_build_info{version}`, `switchyard_ready`, `switchyard_admin_start_time_seconds`, then the runtime's families (listeners, pools, servers, datacenters, anycast, latency histograms) |
//!
//! # State
//!
//! `GET /api/v1/state` answers the [`StateDoc`](crate::StateDoc) as JSON: `listeners`
//! (name, protocol, listen, pool, active_connections, connections_total, requests_total,
//! errors_total, received/sent bytes), `pools` (name, algorithm, panic, servers: name,
//! address, state `up|down|draining|disabled`, weight, effective_weight, backup, health
//! {last {ok, detail, latency_ms, at}, consecutive_successes, consecutive_failures,
//! last_transition}, ejections, active, requests_total, errors_total, latency {p50_ms,
//! p90_ms, p99_ms}), `datacenters` (name, up, addresses, pool) and `anycast` (prefix,
//! bird_protocol, announced, reason, since). Times are unix milliseconds.
//!
//! `GET /api/v1/connections?offset=0&limit=100` answers a page of the L4 connection
//! table ([`ConnectionsDoc`](crate::ConnectionsDoc)): `total`, `offset`, `limit` and
//! `connections` (id, listener, client, pool, server, server_address, received_bytes,
//! sent_bytes, age_ms), oldest first; `limit` is 1..=1000, anything else is `400`.
//!
//! # Operator actions
//!
//! | request | body | answer |
//! |---|---|---|
//! | `POST /api/v1/pools/{pool}/servers/{server}/drain` | none | `200 {"pool","server","action":"drain"}`: no new connections, sessions or sticky users |
//! | `POST /api/v1/pools/{pool}/servers/{server}/enable` | none | `200`: back to normal service (health permitting) |
//! | `POST /api/v1/pools/{pool}/servers/{server}/disable` | none | `200`: no traffic at all |
//! | `PUT /api/v1/pools/{pool}/servers/{server}/weight` | `{"weight": N}`, `1 <= N <= 1000` | `200 {"pool","server","weight"}` |
//! | `PUT /api/v1/pools/{pool}/algorithm` | `{"algorithm": "NAME"}` | `200 {"pool","algorithm"}`; `400` for a name the pool cannot use |
//! | `POST /api/v1/reload` | none | `200` with `{"added","removed","changed","unchanged"}`, or `400 {"errors": ["FILE:LINE:COL: message", ...]}` while the old configuration keeps serving |
//!
//! With `admin.token` set, every `POST` and `PUT` needs `Authorization: Bearer TOKEN`
//! (compared in constant time); without it, or with another token, the answer is `401`
//! with `WWW-Authenticate: Bearer`. `GET` needs no token. A mutating request whose
//! `Origin` header names another host than its `Host` (or is the opaque `null` of
//! sandboxed frames and `data:` pages) is refused with `403`, so a web page in the
//! operator's browser cannot drive an admin API left without a token; without a token,
//! a page must also have been opened by IP address or `localhost` (DNS rebinding).
//!
//! # Dashboard
//!
//! `GET /` is the live dashboard (one page, its script and style under `GET /assets/`,
//! nothing fetched from elsewhere). It polls `/api/v1/state` every second.
//!
//! # Errors
//!
//! `404` unknown path, pool or server; `405` known path with another method (with an
//! `Allow` header); `400` body that is not the JSON above or a weight out of range;
//! `413` body over 64 KiB; `408` body not received within 5 s; `401`/`403` as above;
//! `500` when the runtime fails. A client that takes more than 5 s to send its request
//! headers (or, on a new connection, anything at all) is disconnected. At most
//! [`MAX_CONNECTIONS`] connections are open at once; one more is closed when accepted.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Instrument};

use crate::control::Control;

/// How long a graceful shutdown waits for admin requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long a client may take to send a request's headers (slow-loris guard).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection accepted just before the server stops (a reload that changes
/// `[admin]` replaces the server) still has for its request to arrive, as on HTTP
/// listeners.
pub const FIRST_BYTES_AFTER_STOP: Duration = switchyard_net::FIRST_REQUEST_GRACE;

/// How long a client may take to send a request's body (slow-body guard).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How many connections the admin server keeps open at once; one more is closed as
/// soon as it is accepted, so idle clients cannot use up the process's descriptors.
pub const MAX_CONNECTIONS: usize = 256;

/// The HTTP/2 connection preface, which the protocol detection waits for in full.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What every request handler shares.
pub(crate) struct Shared {
    pub(crate) control: Arc<dyn Control>,
    pub(crate) token: Option<String>,
    pub(crate) started: SystemTime,
}

/// Serves the admin API on `listener` until `shutdown` is cancelled, then stops
/// accepting, lets requests in flight finish (up to 5 s) and returns.
///
/// `token`: when set, mutating calls need `Authorization: Bearer TOKEN`. Without one, a
/// listener off loopback is warned about at start.
pub async fn serve(
    listener: TcpListener,
    control: Arc<dyn Control>,
    token: Option<String>,
    shutdown: CancellationToken,
) {
    let shared = Arc::new(Shared {
        control,
        token: token.filter(|t| !t.is_empty()),
        started: SystemTime::now(),
    });
    let local = listener.local_addr().ok();
    info!(listen = ?local, auth = shared.token.is_some(), "admin API serving");
    if let Some(addr) = local.filter(|a| !a.ip().is_loopback() && shared.token.is_none()) {
        warn!(
            listen = %addr,
            "admin API on {addr} is not on loopback and has no admin.token: anyone who can \
             reach it can drain, disable and reweight servers and reload; set admin.token \
             or listen on 127.0.0.1"
        );
    }
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let mut accept_errors = switchyard_net::AcceptErrors::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut refused = OverLimit::default();
    loop {
        let (stream, peer) = tokio::select! {
            // Stopped means stopped: a connection that is also ready is left in the
            // backlog for the server that replaces this one (same socket, new token).
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    accept_errors.handle("admin", &err).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused.note(peer);
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        let service = service_fn(move |req| {
            let shared = shared.clone();
            async move { Ok::<_, std::convert::Infallible>(crate::routes::handle(&shared, req).await) }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let shutdown = shutdown.clone();
        let span = tracing::debug_span!("admin_connection", %peer);
        tokio::spawn(
            async move {
                let _slot = slot;
                let stopped = async {
                    shutdown.cancelled().await;
                    tokio::time::sleep(FIRST_BYTES_AFTER_STOP).await;
                };
                let started = tokio::select! {
                    started = first_bytes(&stream) => started,
                    _ = stopped => false,
                };
                if !started {
                    debug!("admin connection closed: no request within 5s");
                    return;
                }
                // Stopped while the request was on its way: answer it and close. (Under a
                // graceful shutdown already begun, hyper would close a connection that
                // has not started its first request, with the request unread.)
                let stopped_meanwhile = shutdown.is_cancelled();
                let mut builder = builder;
                if stopped_meanwhile {
                    builder.http1().keep_alive(false);
                }
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let ended = if stopped_meanwhile {
                    let _shutdown_waits_for_this = watcher;
                    tokio::time::timeout(SHUTDOWN_GRACE, conn)
                        .await
                        .unwrap_or(Ok(()))
                } else {
                    watcher.watch(conn).await
                };
                if let Err(err) = ended {
                    debug!(%err, "admin connection ended with an error");
                }
            }
            .instrument(span),
        );
    }
    drop(listener);
    info!("admin API stopped accepting; finishing requests in flight");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("admin API requests still in flight after 5s; closing them");
    }
}

/// Waits until the client has sent enough to tell HTTP/1 from HTTP/2 (the first byte
/// that is not the HTTP/2 preface's, or all of the preface), for at most
/// [`HEADER_READ_TIMEOUT`]. False when the client sent nothing in time or closed.
///
/// hyper's header timeout only starts once the protocol is known, so without this a
/// client that connects and stays silent would hold its connection for ever.
async fn first_bytes(stream: &TcpStream) -> bool {
    let sniff = async {
        let mut buf = [0u8; H2_PREFACE.len()];
        loop {
            let n = match stream.peek(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            if n == buf.len() || buf[..n] != H2_PREFACE[..n] {
                return true;
            }
            // A prefix of the preface: peek answers at once until more arrives.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(HEADER_READ_TIMEOUT, sniff)
        .await
        .unwrap_or(false)
}

/// Connections refused because [`MAX_CONNECTIONS`] were open: warned about at most
/// once every 5 s, with how many.
struct OverLimit(switchyard_net::Throttle);

impl Default for OverLimit {
    fn default() -> Self {
        OverLimit(switchyard_net::Throttle::new(Duration::from_secs(5)))
    }
}

impl OverLimit {
    fn note(&mut self, peer: std::net::SocketAddr) {
        if let Some(unreported) = self.0.record(std::time::Instant::now()) {
            warn!(
                %peer,
                refused = unreported + 1,
                "admin API has {MAX_CONNECTIONS} connections open; closing new ones until some leave"
            );
        }
    }
}
