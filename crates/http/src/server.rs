//! Accepting and serving client connections for one listener.
//!
//! [`serve`] is what the runtime runs per http/https listener. Each accepted connection
//! loads the current [`State`] (reloads swap it; a connection keeps the state it
//! started with for TLS and limits, while every request loads the newest for routing),
//! takes a `max_connections` permit (without one, the accept waits and connections
//! queue in the kernel backlog), does the TLS handshake within `timeouts.handshake`,
//! then hands the stream, behind the strict framing guard, to hyper-util's auto server
//! (HTTP/1.1 with keep-alive and pipelining, h2c prior knowledge, h2 by ALPN, upgrades).
//! `timeouts.request_header` bounds how long a request head may take from its first byte
//! (and the first head from the connection's start), enforced here because the framing
//! guard holds partial heads back from hyper;
//! a connection with nothing in flight and no bytes moved for `timeouts.idle` is shut
//! down gracefully; one whose client leaves answers waiting for `timeouts.idle` (a write
//! blocked on it, or HTTP/2 flow-control windows it keeps shut) is closed at once. On
//! cancellation, accepting stops, every connection is asked to finish its in-flight
//! requests and close, and `serve` returns when all are done.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use switchyard_balance::clock;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::forward::Peer;
use crate::framing::Framer;
use crate::guard::{Activity, Guarded, NO_HEAD};
use crate::h1::{self, Handoff};
use crate::proxy::{self, ConnInfo};
use crate::state::{State, MAX_HEADER_BYTES};

/// HTTP/2 streams served at once on one client connection.
const MAX_CONCURRENT_STREAMS: u32 = 200;
/// HTTP/2 streams a client may open and reset before they are served (rapid reset).
const MAX_RESET_STREAMS: usize = 20;
/// HTTP/2 streams reset because of the client's errors before the connection ends.
const MAX_LOCAL_ERROR_RESETS: usize = 1024;

/// Serve `listener` until `shutdown` is cancelled and every connection has finished.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ArcSwap<State>>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let tracker = TaskTracker::new();
    tracker.spawn(reap_idle_backends(state.clone(), shutdown.clone()));
    let closing = Arc::new(AtomicBool::new(false));
    let mut accept_errors = switchyard_net::AcceptErrors::new();
    loop {
        let current = state.load_full();
        let permit = match &current.connections {
            Some(sem) => tokio::select! {
                p = sem.clone().acquire_owned() => p.ok(),
                _ = shutdown.cancelled() => break,
            },
            None => None,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(ok) => ok,
                Err(e) => {
                    accept_errors.handle(current.name(), &e).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        // A reload may have swapped the state while this loop waited in accept: the
        // connection gets the one in force now (its certificates, timeouts and engine),
        // not the one loaded before the wait. The permit stays with the limit it was
        // taken under.
        let current = state.load_full();
        let span = tracing::debug_span!("connection", listener = %current.name(), client = %peer);
        let stop = (shutdown.clone(), closing.clone());
        let work = connection(tcp, peer, current, state.clone(), stop, permit);
        tracker.spawn(work.instrument(span));
    }
    // Close the listening socket now, not when the connections below have finished:
    // until then new clients would be queued in its backlog and never answered (instead
    // of refused), and a reload could not listen on this address again.
    drop(listener);
    closing.store(true, Relaxed);
    tracker.close();
    tracker.wait().await;
    Ok(())
}

async fn reap_idle_backends(state: Arc<ArcSwap<State>>, shutdown: CancellationToken) {
    loop {
        let every = (state.load().timeouts.idle / 2).max(Duration::from_millis(100));
        tokio::select! {
            _ = tokio::time::sleep(every) => state.load().backends.reap(),
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    current: Arc<State>,
    state: Arc<ArcSwap<State>>,
    (shutdown, closing): (CancellationToken, Arc<AtomicBool>),
    _permit: Option<OwnedSemaphorePermit>,
) {
    let stats = current.stats.clone();
    stats.connections_total.fetch_add(1, Relaxed);
    stats.connections_open.fetch_add(1, Relaxed);
    let _ = tcp.set_nodelay(true);
    let activity = Arc::new(Activity::default());
    let info = Arc::new(ConnInfo {
        client: Peer::new(peer),
        closing,
        activity: activity.clone(),
    });
    match &current.tls {
        None if current.h1_engine => engine(tcp, info, &current, state, shutdown).await,
        None => {
            let io = Guarded::new(
                tcp,
                Some(Framer::new(MAX_HEADER_BYTES)),
                activity,
                stats.clone(),
                current.timeouts.idle,
            );
            http(io, info, &current, state, shutdown).await;
        }
        Some(acceptor) => {
            let handshake = tokio::time::timeout(current.timeouts.handshake, acceptor.accept(tcp));
            match handshake.await {
                Ok(Ok(tls)) => {
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    if !h2 && current.h1_engine {
                        engine(tls, info, &current, state, shutdown).await;
                    } else {
                        let framer = (!h2).then(|| Framer::new(MAX_HEADER_BYTES));
                        let idle = current.timeouts.idle;
                        let io = Guarded::new(tls, framer, activity, stats.clone(), idle);
                        http(io, info, &current, state, shutdown).await;
                    }
                }
                Ok(Err(e)) => {
                    stats.tls_failures.fetch_add(1, Relaxed);
                    tracing::debug!(error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    stats.tls_failures.fetch_add(1, Relaxed);
                    tracing::debug!("TLS handshake timed out");
                }
            }
        }
    }
    stats.connections_open.fetch_sub(1, Relaxed);
}

/// Serve with the HTTP/1 engine; hand over to hyper when the engine asks.
async fn engine<S>(
    io: S,
    info: Arc<ConnInfo>,
    current: &State,
    state: Arc<ArcSwap<State>>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let done = h1::serve(io, &info, current, &state, &shutdown).await;
    if let Handoff::Hyper { io, prefix, http1 } = done {
        let framer = http1.then(|| Framer::new(MAX_HEADER_BYTES));
        let (activity, stats) = (info.activity.clone(), current.stats.clone());
        let idle = current.timeouts.idle;
        let io = Guarded::new(io, framer, activity, stats, idle).with_prefix(&prefix);
        http(io, info, current, state, shutdown).await;
    }
}

async fn http<S>(
    io: Guarded<S>,
    info: Arc<ConnInfo>,
    current: &State,
    state: Arc<ArcSwap<State>>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = info.activity.clone();
    let service = hyper::service::service_fn(move |req| {
        let (state, info) = (state.load_full(), info.clone());
        async move { Ok::<_, Infallible>(proxy::handle(state, info, req).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(MAX_HEADER_BYTES)
        // The HTTP/1 engine's field limit (hyper's own is 100): same answer from both.
        .max_headers(crate::h1::head::MAX_HEADERS)
        .keep_alive(true);
    // HTTP/2 limits set here on purpose rather than left to hyper's and h2's defaults
    // (today the same values), so that a dependency update cannot loosen them:
    // - at most 200 streams at once per connection; more are refused (REFUSED_STREAM);
    // - at most 20 streams opened and reset by the client before they were served
    //   ("rapid reset", CVE-2023-44487): beyond that the connection ends with GOAWAY
    //   ENHANCE_YOUR_CALM, so a client cannot make the proxy start requests without end;
    // - at most 1024 streams that the client made us reset for its errors, likewise.
    // No keep-alive PINGs: a dead peer's connection is closed by `timeouts.idle`, or by
    // the write-stall bound when it has answers waiting.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_pending_accept_reset_streams(MAX_RESET_STREAMS)
        .max_local_error_reset_streams(MAX_LOCAL_ERROR_RESETS);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let idle = current.timeouts.idle;
    let mut closing = false;
    // A stop before the client sent anything leaves its first request, which may be on
    // its way (accepted just before the stop), a short grace, as the HTTP/1 engine does.
    let untouched = activity.last.load(Relaxed);
    let mut stop_at = None;
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = shutdown.cancelled(), if !closing && stop_at.is_none() => {
                if activity.last.load(Relaxed) == untouched {
                    stop_at = Some(tokio::time::Instant::now() + h1::FIRST_HEAD_GRACE);
                } else {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = sleep_until_some(stop_at), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = head_overdue(&activity, current.timeouts.request_header) => {
                tracing::debug!("request head not received in time; closing");
                return;
            }
            _ = bodies_stalled(&activity, idle) => {
                tracing::debug!("the client took no response data for the idle timeout; closing");
                return;
            }
            _ = idle_for(&activity, idle), if !closing => {
                closing = true;
                tracing::debug!("closing idle connection");
                conn.as_mut().graceful_shutdown();
            }
            _ = abandoned(&activity, idle), if closing => {
                // A graceful close waits for the client (an HTTP/2 header block or
                // preface it never finishes): with nothing to finish, stop waiting.
                tracing::debug!("connection not closed by the client in time; closing");
                return;
            }
        }
    }
}

/// Resolves once a request head has been awaited for longer than `limit` (HTTP/1; the
/// framing guard holds partial heads back, so hyper's own header timer never sees them).
async fn head_overdue(activity: &Activity, limit: Duration) {
    loop {
        let since = activity.head_since.load(Relaxed);
        if since == NO_HEAD {
            // Re-check at half the limit: a head is cut off within 1.5x the limit, and
            // idle HTTP/2 connections cost one timer wake-up per half limit.
            tokio::time::sleep((limit / 2).max(Duration::from_millis(10))).await;
            continue;
        }
        tokio::time::sleep_until((clock::instant(since) + limit).into()).await;
        if activity.head_since.load(Relaxed) == since {
            return;
        }
    }
}

/// Resolves once some response body has had data waiting for the client (HTTP/2 flow
/// control it keeps shut, or a socket it does not read) and no body handed or sent any
/// for `idle`. A graceful close would wait for those streams forever.
async fn bodies_stalled(activity: &Activity, idle: Duration) {
    loop {
        if activity.bodies_waiting.load(Relaxed) == 0 {
            tokio::time::sleep((idle / 2).max(Duration::from_millis(10))).await;
            continue;
        }
        let due = clock::instant(activity.body_moved.load(Relaxed)) + idle;
        if std::time::Instant::now() >= due {
            return;
        }
        tokio::time::sleep_until(due.into()).await;
    }
}

/// Resolves at `at`; never when there is none.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Resolves once nothing was in flight, no response body was being sent and no byte
/// moved for `idle`.
async fn abandoned(activity: &Activity, idle: Duration) {
    loop {
        idle_for(activity, idle).await;
        if activity.bodies_open.load(Relaxed) == 0 {
            return;
        }
        tokio::time::sleep(idle.min(Duration::from_secs(1))).await;
    }
}

/// Resolves once nothing was in flight and no byte moved for `idle`.
async fn idle_for(activity: &Activity, idle: Duration) {
    loop {
        let last = activity.last.load(Relaxed);
        let deadline = clock::instant(last) + idle;
        tokio::time::sleep_until(deadline.into()).await;
        if activity.in_flight.load(Relaxed) == 0 && activity.last.load(Relaxed) == last {
            return;
        }
        if activity.in_flight.load(Relaxed) > 0 {
            tokio::time::sleep(idle.min(Duration::from_secs(1))).await;
        }
    }
}
