//! One request through the proxy: route, pick, rewrite, send (with retries), answer.
//!
//! Failure rules (SPEC "Errors"): no server up → `503`; a server that refuses, resets or
//! closes before answering → the request goes to another server when that is safe, at
//! most twice: always when nothing was sent (connect failed, a pooled connection was
//! found closed), and after sending only for a bodyless request with an idempotent
//! method (it is replayed from a copy of its head) — otherwise `502`; no response
//! headers within `timeouts.backend` → `504`. Every failure is reported to the
//! balancer through `Picked::finish(false, ..)` (passive health).

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, LOCATION, SET_COOKIE};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::{Body as _, Incoming};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchyard_balance::{
    clock, hash_addr, hash_bytes, hash_ip, Nanos, PickRequest, Picked, ServerId,
};
use switchyard_config as config;

use crate::access_log::Entry;
use crate::affinity::{self, Affinity};
use crate::backend::{Failure, Lease, Proto, SendError};
use crate::body::{RequestBody, ResponseBody, Tracked};
use crate::forward::{self, Forwarding, Peer};
use crate::framing;
use crate::guard::Activity;
use crate::parse;
use crate::route::{self, Action, RequestView};
use crate::state::{State, Target};

/// First try plus at most two retries.
const MAX_ATTEMPTS: usize = 3;

/// What a request knows about its connection.
pub(crate) struct ConnInfo {
    pub client: Peer,
    /// Set once the listener stops accepting: connections close after their exchange.
    pub closing: Arc<AtomicBool>,
    pub activity: Arc<Activity>,
}

/// The request's host, kept without copying the string.
enum HostSrc {
    Authority(Authority),
    Header(HeaderValue),
    Missing,
}

/// A bodyless request's head, kept so it can be sent again.
struct Replay {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

thread_local! {
    static RNG: RefCell<SmallRng> = RefCell::new(SmallRng::from_rng(&mut rand::rng()));
}

/// Serve one request.
pub(crate) async fn handle(
    state: Arc<State>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    use std::sync::atomic::Ordering::Relaxed;
    conn.activity.in_flight.fetch_add(1, Relaxed);
    let res = route_request(&state, &conn, req).await;
    state.stats.count_status(res.status().as_u16());
    conn.activity.in_flight.fetch_sub(1, Relaxed);
    conn.activity.touch();
    res
}

/// What to do with a request, decided from its head alone.
pub(crate) enum Decision<'s> {
    /// Answer locally (`respond`, `redirect`, no route).
    Local {
        status: StatusCode,
        body: Bytes,
        location: Option<HeaderValue>,
    },
    /// Send to a pool; the head has been rewritten for its servers.
    Forward(Plan<'s>),
}

/// Where a forwarded request goes and what the pick needs.
pub(crate) struct Plan<'s> {
    pub target: &'s Target,
    /// The server the request is sticky to (affinity).
    pub sticky: Option<ServerId>,
    /// The server a valid affinity cookie names (no new cookie needed for it).
    pub cookie_server: Option<ServerId>,
    /// The pool's hash key, for ring_hash / maglev.
    pub hash: Option<u64>,
    /// An `Upgrade` request that is being tunnelled.
    pub upgrade: bool,
    /// The forwarding fields the server gets, added by the engine that writes the head.
    pub forwarding: Forwarding,
    host: HostSrc,
}

/// Route the request, and for a forwarded one rewrite its head for the server (hop-by-hop
/// headers, the route's header rules, forwarding headers, path, version). Starts the
/// access log entry in `log` when logging is on. Shared by both HTTP/1 engines.
pub(crate) fn decide<'s>(
    state: &'s State,
    peer: &Peer,
    parts: &mut http::request::Parts,
    log: &mut Option<Box<Entry>>,
) -> Decision<'s> {
    let host_src = match parts.uri.authority() {
        Some(a) if host_differs(a, &parts.headers) => {
            // Routes would match the authority while the server reads `Host`: refused,
            // as RFC 9113 8.3.1 allows (HTTP/1 absolute forms are refused by framing).
            tracing::info!(authority = %a, "refused a request whose Host field names another host");
            return Decision::Local {
                status: StatusCode::BAD_REQUEST,
                body: Bytes::from_static(b"bad request\n"),
                location: None,
            };
        }
        Some(a) => HostSrc::Authority(a.clone()),
        None => match parts.headers.get(HOST) {
            // HTTP/1 heads had their Host checked by the framing guard; an HTTP/2 request
            // without `:authority` names its host here only.
            Some(h) if parts.version == Version::HTTP_2 && !framing::valid_host(h.as_bytes()) => {
                return Decision::Local {
                    status: StatusCode::BAD_REQUEST,
                    body: Bytes::from_static(b"bad request\n"),
                    location: None,
                };
            }
            Some(h) => HostSrc::Header(h.clone()),
            None => HostSrc::Missing,
        },
    };
    let host = host_src.host();
    let client = peer.addr;
    if state.log.enabled() {
        *log = Some(entry(state, client, parts, host));
    }
    // Routes see the path as servers will read it (`/x/../admin` is `/admin`).
    let normal = crate::path::normalized(parts.uri.path());
    let view = RequestView {
        method: &parts.method,
        host,
        path: normal.as_deref().unwrap_or(parts.uri.path()),
        query: parts.uri.query(),
        headers: &parts.headers,
    };
    let route = state.routes.select(&view);
    if let (Some(e), Some(r)) = (log.as_mut(), route) {
        e.route = (&*r.name).into();
    }
    let forward = match route.map(|r| &r.action) {
        Some(Action::Respond { status, body }) => {
            return Decision::Local {
                status: *status,
                body: body.clone(),
                location: None,
            };
        }
        Some(Action::Redirect { template, status }) => {
            if host.is_none() && template.iter().any(|p| matches!(p, route::Piece::Host)) {
                // HTTP/1.0 without Host: there is no host to redirect to.
                return Decision::Local {
                    status: StatusCode::BAD_REQUEST,
                    body: Bytes::from_static(b"this redirect needs the request's Host\n"),
                    location: None,
                };
            }
            let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
            let q = parts.uri.query().unwrap_or("");
            let location = route::render(template, state.scheme, host.unwrap_or(""), pq, q);
            return Decision::Local {
                status: *status,
                body: Bytes::new(),
                location: HeaderValue::from_str(&location).ok(),
            };
        }
        Some(Action::Forward(f)) => Some(f),
        None => None,
    };
    let (target, strip, set, remove) = match (forward, state.default_target) {
        (Some(f), _) => (
            f.target,
            f.strip_prefix.as_deref(),
            &f.set_headers[..],
            &f.remove_headers[..],
        ),
        (None, Some(t)) => (t, None, &[][..], &[][..]),
        (None, None) => {
            return Decision::Local {
                status: StatusCode::NOT_FOUND,
                body: "no route\n".into(),
                location: None,
            };
        }
    };
    let target = &state.targets[target];
    if let Some(e) = log.as_mut() {
        e.pool = Some(target.name.clone());
    }

    // Affinity and the pool's hash key, read before the headers are rewritten.
    let (sticky, cookie_server) = sticky_server(target, &parts.headers, client.ip());
    let hash = target
        .pool
        .snapshot()
        .algorithm()
        .uses_hash()
        .then(|| request_hash(&target.hash_key, &parts.uri, &parts.headers, host, client))
        .flatten();

    // Rewrite the head for the server.
    let upgrade = parts.version <= Version::HTTP_11 && is_upgrade(&parts.headers);
    forward::strip_hop_by_hop(&mut parts.headers, upgrade);
    for name in remove {
        parts.headers.remove(name);
    }
    for (name, value) in set {
        parts.headers.insert(name.clone(), value.clone());
    }
    let forwarding = forward::take_forwarding(&mut parts.headers, state.scheme);
    let pq = rewritten_path(&parts.uri, strip, normal.as_deref());
    match target.proto {
        Proto::Http1 => {
            if !parts.headers.contains_key(HOST) {
                if let HostSrc::Authority(a) = &host_src {
                    if let Ok(v) = HeaderValue::from_str(a.as_str()) {
                        parts.headers.insert(HOST, v);
                    }
                }
            }
            if parts.version == Version::HTTP_2 {
                forward::join_cookies(&mut parts.headers);
            }
            parts.uri = Uri::from(pq);
            // HTTP/1.0 stays 1.0, so a server never answers it with chunked framing.
            if parts.version != Version::HTTP_10 {
                parts.version = Version::HTTP_11;
            }
        }
        Proto::Http2 => {
            let authority = match &host_src {
                HostSrc::Authority(a) => Some(a.clone()),
                HostSrc::Header(h) => Authority::try_from(h.as_bytes()).ok(),
                HostSrc::Missing => None,
            };
            let mut uri = http::uri::Parts::default();
            uri.scheme = Some(if state.backends.is_tls() {
                Scheme::HTTPS
            } else {
                Scheme::HTTP
            });
            uri.authority = authority.or_else(|| Authority::try_from("localhost").ok());
            uri.path_and_query = Some(pq);
            parts.uri = Uri::from_parts(uri).unwrap_or_default();
            parts.headers.remove(HOST);
            parts.version = Version::HTTP_2;
        }
    }
    Decision::Forward(Plan {
        target,
        sticky,
        cookie_server,
        hash,
        upgrade,
        forwarding,
        host: host_src,
    })
}

/// The next server to try: the sticky one first, never one already tried.
pub(crate) fn pick(plan: &Plan<'_>, tried: &[ServerId], now: Nanos) -> Option<Picked> {
    let pick = PickRequest {
        hash: plan.hash,
        sticky: if tried.is_empty() { plan.sticky } else { None },
        exclude: tried,
    };
    RNG.with(|rng| plan.target.pool.pick(&pick, &mut *rng.borrow_mut(), now))
}

/// The body of an error answered by the proxy itself (502 / 503 / 504, 400, 408, 414,
/// 431).
pub(crate) fn failure_text(status: StatusCode) -> &'static str {
    match status {
        StatusCode::SERVICE_UNAVAILABLE => "no server available\n",
        StatusCode::GATEWAY_TIMEOUT => "backend timed out\n",
        StatusCode::BAD_REQUEST => "bad request\n",
        StatusCode::REQUEST_TIMEOUT => "request body not received in time\n",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "request header fields too large\n",
        StatusCode::URI_TOO_LONG => "request URI too long\n",
        _ => "bad gateway\n",
    }
}

async fn route_request(
    state: &State,
    conn: &ConnInfo,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let start = Instant::now();
    let (mut parts, body) = req.into_parts();
    let client_upgrade = parts.extensions.remove::<OnUpgrade>();
    let mut log = None;
    let plan = match decide(state, &conn.client, &mut parts, &mut log) {
        Decision::Local {
            status,
            body,
            location,
        } => {
            let mut res = local(state, log, start, status, body);
            if let Some(l) = location {
                res.headers_mut().insert(LOCATION, l);
            }
            return res;
        }
        Decision::Forward(plan) => plan,
    };
    plan.insert_forwarding(&mut parts.headers, &conn.client);
    let client_upgrade = client_upgrade.filter(|_| plan.upgrade);
    let bodyless = body.is_end_stream();
    // Only a bodyless idempotent request may be sent again after a failure.
    let replay = (bodyless && !plan.upgrade && is_idempotent(&parts.method)).then(|| Replay {
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        version: parts.version,
        headers: parts.headers.clone(),
    });
    let reading = (!bodyless).then(|| Arc::new(AtomicBool::new(false)));
    let body = match &reading {
        None => RequestBody::Empty,
        Some(reading) => RequestBody::Client {
            inner: body,
            stats: state.stats.clone(),
            reading: reading.clone(),
        },
    };
    let req = Request::from_parts(parts, body);
    let sent = send_with_retries(state, &plan, req, replay, reading.as_deref()).await;
    let (picked, mut res, lease) = match sent {
        Ok(ok) => ok,
        Err(status) => {
            let text = failure_text(status);
            return local(
                state,
                log,
                start,
                status,
                Bytes::from_static(text.as_bytes()),
            );
        }
    };
    if let Some(e) = log.as_mut() {
        e.server = Some(picked.name().to_string());
        e.status = res.status().as_u16();
    }
    if res.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client) = client_upgrade {
            tunnel(state, client, hyper::upgrade::on(&mut res));
        }
    } else {
        forward::strip_hop_by_hop(res.headers_mut(), false);
    }
    if let Some(v) = plan.set_cookie(picked.id()) {
        res.headers_mut().append(SET_COOKIE, v.clone());
    }
    let (mut rparts, rbody) = res.into_parts();
    rparts.version = Version::HTTP_11;
    let failed = rparts.status.is_server_error();
    let log = log.map(|e| (state.log.clone(), e));
    let tracked = Tracked::new(
        rbody,
        conn.activity.clone(),
        picked,
        lease,
        failed,
        start,
        state.stats.clone(),
        log,
    );
    Response::from_parts(rparts, ResponseBody::Proxied(Box::new(tracked)))
}

/// Pick, send, and retry when safe. `Err` is the status to answer. `reading` is set while
/// the request's body waits for the client.
async fn send_with_retries(
    state: &State,
    plan: &Plan<'_>,
    req: Request<RequestBody>,
    replay: Option<Replay>,
    reading: Option<&AtomicBool>,
) -> Result<(Picked, Response<Incoming>, Option<Lease>), StatusCode> {
    let target = plan.target;
    use std::sync::atomic::Ordering::Relaxed;
    let idempotent = is_idempotent(req.method());
    let mut tried = [ServerId::from_u64(0); MAX_ATTEMPTS];
    let mut pending = Some(req);
    for attempt in 0..MAX_ATTEMPTS {
        let request = match (pending.take(), &replay) {
            (Some(r), _) => r,
            (None, Some(r)) if idempotent => r.request(),
            (None, _) => return Err(StatusCode::BAD_GATEWAY),
        };
        let Some(picked) = pick(plan, &tried[..attempt], clock::now()) else {
            return Err(target.nothing_to_pick(attempt));
        };
        if attempt > 0 {
            state.stats.retries.fetch_add(1, Relaxed);
        }
        tried[attempt] = picked.id();
        let t0 = Instant::now();
        let send = state.backends.send(picked.address(), target.proto, request);
        match tokio::time::timeout(state.timeouts.backend, send).await {
            Ok(Ok((res, lease))) => return Ok((picked, res, lease)),
            Err(_) if reading.is_some_and(|r| r.load(Relaxed)) => {
                // The server was still waiting for the client's body: the client's delay.
                tracing::debug!("request body not received within the backend timeout");
                return Err(StatusCode::REQUEST_TIMEOUT);
            }
            Err(_) => {
                tracing::warn!(pool = %target.name, server = picked.name(), "backend timed out");
                picked.finish(false, t0.elapsed(), clock::now());
                return Err(StatusCode::GATEWAY_TIMEOUT);
            }
            Ok(Err(SendError::NotSent(req, failure))) => {
                tracing::warn!(pool = %target.name, server = picked.name(), %failure, "backend failed before the request was sent");
                picked.finish(false, t0.elapsed(), clock::now());
                pending = Some(*req);
            }
            Ok(Err(SendError::Stale(failure))) if replay.is_some() && idempotent => {
                tracing::debug!(pool = %target.name, server = picked.name(), %failure, "kept-alive connection closed by the server; sending again");
                // Not the server's failure: the request again, on a new connection to it.
                let request = replay.as_ref().map(Replay::request).expect("checked");
                let send = state.backends.send_fresh(picked.address(), request);
                match tokio::time::timeout(state.timeouts.backend, send).await {
                    Ok(Ok((res, lease))) => return Ok((picked, res, lease)),
                    Err(_) => {
                        tracing::warn!(pool = %target.name, server = picked.name(), "backend timed out");
                        picked.finish(false, t0.elapsed(), clock::now());
                        return Err(StatusCode::GATEWAY_TIMEOUT);
                    }
                    Ok(Err(e)) => {
                        let failure = e.into_failure();
                        tracing::warn!(pool = %target.name, server = picked.name(), %failure, "backend failed before answering");
                        picked.finish(false, t0.elapsed(), clock::now());
                    }
                }
            }
            Ok(Err(SendError::Sent(failure) | SendError::Stale(failure))) => {
                if let Failure::Http(e) = &failure {
                    if e.is_user() {
                        // The client's body failed (malformed or aborted): not the server's fault.
                        return Err(StatusCode::BAD_REQUEST);
                    }
                }
                tracing::warn!(pool = %target.name, server = picked.name(), %failure, "backend failed before answering");
                picked.finish(false, t0.elapsed(), clock::now());
                if replay.is_none() || !idempotent {
                    return Err(StatusCode::BAD_GATEWAY);
                }
            }
        }
    }
    Err(StatusCode::BAD_GATEWAY)
}

/// The server the request is sticky to, and the server a valid affinity cookie names.
fn sticky_server(
    target: &Target,
    headers: &HeaderMap,
    ip: IpAddr,
) -> (Option<ServerId>, Option<ServerId>) {
    match &target.affinity {
        Affinity::None => (None, None),
        Affinity::Cookie { name, by_token, .. } => {
            let id = parse::cookie(headers, name)
                .and_then(affinity::decode)
                .and_then(|t| by_token.get(&t).copied());
            (id, id)
        }
        Affinity::SourceIp { servers } => (affinity::rendezvous(servers, hash_ip(ip)), None),
        Affinity::Header { name, servers } => (
            headers
                .get(name)
                .and_then(|v| affinity::rendezvous(servers, hash_bytes(v.as_bytes()))),
            None,
        ),
    }
}

/// The pool's `hash_key` for ring_hash / maglev.
fn request_hash(
    key: &config::HashKey,
    uri: &Uri,
    headers: &HeaderMap,
    host: Option<&str>,
    client: SocketAddr,
) -> Option<u64> {
    match key {
        config::HashKey::SourceIp => Some(hash_ip(client.ip())),
        config::HashKey::Connection => Some(hash_addr(client)),
        config::HashKey::Header(n) => headers.get(n.as_str()).map(|v| hash_bytes(v.as_bytes())),
        config::HashKey::Cookie(n) => parse::cookie(headers, n).map(|v| hash_bytes(v.as_bytes())),
        config::HashKey::Query(n) => uri
            .query()
            .and_then(|q| parse::query_value(q, n))
            .map(|v| hash_bytes(v.as_bytes())),
        config::HashKey::Path => Some(hash_bytes(uri.path().as_bytes())),
        config::HashKey::Host => host.map(hash_host),
    }
}

/// Hash a host name case-insensitively (lowercased on the stack: DNS names are at most
/// 253 bytes; anything longer is lowercased in a heap copy).
fn hash_host(host: &str) -> u64 {
    let mut buf = [0u8; 256];
    match buf.get_mut(..host.len()) {
        Some(dst) => {
            dst.copy_from_slice(host.as_bytes());
            dst.make_ascii_lowercase();
            hash_bytes(dst)
        }
        None => hash_bytes(host.to_ascii_lowercase().as_bytes()),
    }
}

/// The path and query to send, with the route's prefix stripped (from `normal`, the
/// normalized path the route matched, when the path was not normal).
fn rewritten_path(uri: &Uri, strip: Option<&str>, normal: Option<&str>) -> PathAndQuery {
    let pq = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let Some(prefix) = strip else { return pq };
    let Some(rest) = normal.unwrap_or(pq.path()).strip_prefix(prefix) else {
        return pq;
    };
    let mut out = String::with_capacity(pq.as_str().len());
    if !rest.starts_with('/') {
        out.push('/');
    }
    out.push_str(rest);
    if let Some(q) = pq.query() {
        out.push('?');
        out.push_str(q);
    }
    PathAndQuery::try_from(out).unwrap_or(pq)
}

/// An `Upgrade` request to tunnel. `h2c` is never one: a server that accepted it would
/// speak HTTP/2 to the client directly, past every route (h2c smuggling); such a request
/// is forwarded as a plain one without its `Upgrade` (RFC 9113 deprecates the h2c
/// upgrade).
fn is_upgrade(headers: &HeaderMap) -> bool {
    let upgrade = headers.get_all(http::header::UPGRADE);
    if upgrade.iter().next().is_none() {
        return false;
    }
    let h2c = upgrade.iter().any(|v| {
        // A value that is not plain text is not tunnelled either.
        v.to_str().map_or(true, |v| {
            v.split(',').any(|p| {
                let name = p.split('/').next().unwrap_or("").trim();
                name.eq_ignore_ascii_case("h2c")
            })
        })
    });
    !h2c && headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Methods a request may be sent again with (RFC 9110 9.2.2).
pub(crate) fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Join the client's and the server's upgraded connections and copy both ways.
fn tunnel(state: &State, client: OnUpgrade, server: OnUpgrade) {
    use std::sync::atomic::Ordering::Relaxed;
    state.stats.upgrades.fetch_add(1, Relaxed);
    tokio::spawn(async move {
        match tokio::try_join!(client, server) {
            Ok((c, s)) => {
                let (mut c, mut s) = (TokioIo::new(c), TokioIo::new(s));
                let _ = tokio::io::copy_bidirectional(&mut c, &mut s).await;
            }
            Err(e) => tracing::debug!(error = %e, "upgrade failed"),
        }
    });
}

/// A short plain-text answer made by the proxy itself.
fn local(
    state: &State,
    log: Option<Box<Entry>>,
    start: Instant,
    status: StatusCode,
    body: Bytes,
) -> Response<ResponseBody> {
    log_local(state, log, start, status, body.len() as u64);
    let mut res = Response::new(ResponseBody::full(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// Finish and write the access log entry of an answer made by the proxy itself.
pub(crate) fn log_local(
    state: &State,
    log: Option<Box<Entry>>,
    start: Instant,
    status: StatusCode,
    bytes_out: u64,
) {
    if let Some(mut e) = log {
        e.status = status.as_u16();
        e.bytes_out = bytes_out;
        e.ttfb = start.elapsed();
        e.total = e.ttfb;
        state.log.log_boxed(e);
    }
}

/// The access log entry, before the answer is known.
fn entry(
    state: &State,
    client: SocketAddr,
    parts: &http::request::Parts,
    host: Option<&str>,
) -> Box<Entry> {
    let header = |n: http::header::HeaderName| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    Box::new(Entry {
        time: SystemTime::now(),
        listener: state.listener.clone(),
        client,
        method: parts.method.to_string(),
        uri: logged_uri(parts),
        version: parts.version,
        host: host.unwrap_or("").to_string(),
        route: "default".into(),
        pool: None,
        server: None,
        status: 0,
        bytes_in: parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0),
        bytes_out: 0,
        ttfb: Default::default(),
        total: Default::default(),
        user_agent: header(http::header::USER_AGENT),
        referer: header(http::header::REFERER),
    })
}

/// Whether a `Host` field is present and names another host than `authority`.
fn host_differs(authority: &Authority, headers: &HeaderMap) -> bool {
    headers.get(HOST).is_some_and(|h| {
        !h.as_bytes()
            .eq_ignore_ascii_case(authority.as_str().as_bytes())
    })
}

// === impl HostSrc ===

impl HostSrc {
    fn host(&self) -> Option<&str> {
        let raw = match self {
            HostSrc::Authority(a) => a.as_str(),
            HostSrc::Header(h) => h.to_str().ok()?,
            HostSrc::Missing => return None,
        };
        let raw = raw.rsplit('@').next().unwrap_or(raw);
        let host = parse::strip_port(raw);
        let host = host.strip_suffix('.').unwrap_or(host);
        (!host.is_empty()).then_some(host)
    }
}

// === impl Plan ===

impl Plan<'_> {
    /// Append the forwarding fields to an HTTP/1 head being written.
    pub(crate) fn write_forwarding(&self, out: &mut Vec<u8>, peer: &Peer) {
        self.forwarding.write(out, peer, self.host.host());
    }

    /// Add the forwarding fields to a request's header map (the hyper path).
    pub(crate) fn insert_forwarding(&self, headers: &mut HeaderMap, peer: &Peer) {
        self.forwarding.insert(headers, peer, self.host.host());
    }

    /// The affinity cookie to set when `server` answered and the client's cookie does not
    /// already name it.
    pub(crate) fn set_cookie(&self, server: ServerId) -> Option<&HeaderValue> {
        match &self.target.affinity {
            Affinity::Cookie { set_cookie, .. } if self.cookie_server != Some(server) => {
                set_cookie.get(&server)
            }
            _ => None,
        }
    }
}

// === impl Replay ===

impl Replay {
    fn request(&self) -> Request<RequestBody> {
        let mut req = Request::new(RequestBody::Empty);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// The request target as the client sent it: an HTTP/2 request's `:path` (its URI also
/// holds `:scheme` and `:authority`, logged apart as the host), an HTTP/1 request's target
/// as written (origin form, or absolute form when a client sent that).
fn logged_uri(parts: &http::request::Parts) -> String {
    match (parts.version, parts.uri.path_and_query()) {
        (Version::HTTP_2, Some(pq)) => pq.as_str().to_string(),
        _ => parts.uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_hashes_ignore_case_at_any_length() {
        assert_eq!(hash_host("Api.Example.COM"), hash_host("api.example.com"));
        let long = "A".repeat(300);
        assert_eq!(
            hash_host(&long),
            hash_bytes(long.to_ascii_lowercase().as_bytes())
        );
        assert_ne!(hash_host("a.test"), hash_host("b.test"));
    }

    #[test]
    fn strip_prefix_keeps_a_leading_slash_and_the_query() {
        let uri: Uri = "/api/v2/users?x=1".parse().unwrap();
        assert_eq!(
            rewritten_path(&uri, Some("/api/v2"), None).as_str(),
            "/users?x=1"
        );
        assert_eq!(
            rewritten_path(&uri, Some("/api/v2/"), None).as_str(),
            "/users?x=1"
        );
        let exact: Uri = "/api".parse().unwrap();
        assert_eq!(rewritten_path(&exact, Some("/api"), None).as_str(), "/");
        assert_eq!(
            rewritten_path(&uri, None, None).as_str(),
            "/api/v2/users?x=1"
        );
    }
}
