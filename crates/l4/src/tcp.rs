//! Serving a tcp or tls listener: the accept loop, `max_connections`, and one task per
//! connection that reads the first bytes (PROXY header, ClientHello), picks and connects
//! to a server, sends the PROXY header and pending bytes, then forwards both ways.
//!
//! Graceful shutdown: when the token is cancelled the loop stops accepting and `serve_tcp`
//! returns once every connection has finished (the runtime bounds that wait with
//! `global.shutdown_timeout`).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use switchyard_balance::{clock, ServerState};
use switchyard_config::ProxyProtocol;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::access_log::{Entry, Started};
use crate::conntable::ConnTable;
use crate::copy::{self, CopyOpts, End};
use crate::state::{Mode, PoolRef, State};
use crate::stats::ListenerStats;
use crate::{connect, handshake, proxy_proto};

/// Serves a tcp or tls listener on `listener` until `cancel`, then waits for in-flight
/// connections to finish.
pub async fn serve_tcp(
    listener: TcpListener,
    state: Arc<ArcSwap<State>>,
    cancel: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let nodelay_inherited = nodelay_for_accepted(&listener);
    let mut accept_errors = switchyard_net::AcceptErrors::new();
    let mut rejections = switchyard_net::Throttle::new(REJECT_WARN_EVERY);
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => r,
        };
        let (sock, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning, warn now and then.
                accept_errors.handle(&state.load().name, &e).await;
                continue;
            }
        };
        let st = state.load_full();
        let stats = st.stats.clone();
        ListenerStats::inc(&stats.connections_accepted);
        let active = stats.connections_active.fetch_add(1, Ordering::Relaxed);
        if st
            .max_connections
            .is_some_and(|max| active >= u64::from(max))
        {
            ListenerStats::dec(&stats.connections_active);
            ListenerStats::inc(&stats.connections_rejected);
            log_closed(
                &st,
                Started::now_if(&st.access_log),
                peer,
                "refused: max_connections",
                |_| {},
            );
            let max = st.max_connections.unwrap_or_default();
            match rejections.record(std::time::Instant::now()) {
                Some(0) => warn!(
                    listener = %st.name, client = %peer, max_connections = max,
                    "listener {} has max_connections ({max}) open; new connection closed", st.name
                ),
                Some(unreported) => warn!(
                    listener = %st.name, client = %peer, max_connections = max, unreported,
                    "listener {} has max_connections ({max}) open; new connection closed (and {unreported} more since the last report)", st.name
                ),
                None => {
                    debug!(listener = %st.name, client = %peer, "max_connections reached, connection closed")
                }
            }
            continue;
        }
        // No span per connection: the few events a connection logs name their listener
        // and client themselves, so a connection that logs nothing costs no span.
        tracker.spawn(async move {
            if !nodelay_inherited {
                let _ = sock.set_nodelay(true);
            }
            handle(sock, peer, &st).await;
            ListenerStats::dec(&stats.connections_active);
        });
    }
    // Close the listening socket now: new clients are refused while old ones finish.
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

/// At most one warning per this long about connections closed by `max_connections`: an
/// operator must read that the limit is reached, but a flood of connections must not
/// write a log line each.
const REJECT_WARN_EVERY: Duration = Duration::from_secs(5);

/// Logs a connection closed before its PROXY header or ClientHello was complete. One that
/// sent nothing (an upstream balancer's TCP check, a port scan) is logged at debug only,
/// as HAProxy's `option dontlognull` does: such checks used to write a line every few
/// seconds per checker. The rest (garbage, timeouts) are logged at most once per 5 s for
/// the listener, with how many more there were: a client can send garbage at will.
fn log_handshake_failure(st: &State, peer: SocketAddr, e: &handshake::Error) {
    if matches!(e, handshake::Error::Empty) {
        debug!(listener = %st.name, client = %peer, error = %e, "connection closed");
        return;
    }
    match st.handshake_warnings.record(std::time::Instant::now()) {
        Some(0) => info!(listener = %st.name, client = %peer, error = %e, "connection closed: {e}"),
        Some(unreported) => info!(
            listener = %st.name, client = %peer, error = %e, unreported,
            "connection closed: {e} (and {unreported} more bad or incomplete first bytes since the last report)"
        ),
        None => debug!(listener = %st.name, client = %peer, error = %e, "connection closed"),
    }
}

/// Writes the access log line of a connection that ended (`ended`), when the log is
/// enabled (`started` is only taken then); `fill` adds what is known.
fn log_closed(
    st: &State,
    started: Option<Started>,
    client: SocketAddr,
    ended: &'static str,
    fill: impl FnOnce(&mut Entry),
) {
    if let Some(started) = started {
        let mut entry = Entry::new(started, &st.name, st.protocol(), client, ended);
        fill(&mut entry);
        st.access_log.log(entry);
    }
}

/// One connection, start to end.
async fn handle(client: TcpStream, peer: SocketAddr, st: &State) {
    let started = Started::now_if(&st.access_log);
    let (accept_proxy, send_proxy, want_sni) = match st.mode {
        Mode::Tcp {
            accept_proxy,
            send_proxy,
        } => (accept_proxy, send_proxy, false),
        Mode::Tls {
            accept_proxy,
            send_proxy,
        } => (accept_proxy, send_proxy, true),
        Mode::Udp { .. } => return,
    };
    let deadline = tokio::time::Instant::now() + st.timeouts.handshake;
    let hello = if accept_proxy || want_sni {
        match handshake::read(&client, accept_proxy, want_sni, deadline).await {
            Ok(h) => h,
            Err(e) => {
                ListenerStats::inc(&st.stats.connections_failed);
                log_handshake_failure(st, peer, &e);
                log_closed(st, started, peer, e.ended(), |_| {});
                return;
            }
        }
    } else {
        handshake::Hello::default()
    };
    // The address the client reached (not the listener's, which may be 0.0.0.0); only
    // asked of the kernel when a PROXY header will carry it.
    let (source, destination) = match hello.proxied {
        Some(p) => p,
        None if send_proxy != ProxyProtocol::Off => (peer, client.local_addr().unwrap_or(peer)),
        None => (peer, peer),
    };
    let route = if want_sni {
        st.route_sni(hello.sni.as_deref())
    } else {
        st.default_pool.as_ref()
    };
    let Some(route) = route else {
        ListenerStats::inc(&st.stats.connections_failed);
        info!(listener = %st.name, client = %source, sni = ?hello.sni, "no route and no default pool, connection closed");
        log_closed(st, started, source, "no route", |entry| {
            entry.sni = hello.sni.clone();
            entry.bytes_in = hello.pending.len() as u64;
        });
        return;
    };
    let hash = Some(route.hash.hash(source, hello.sni.as_deref()));
    let conn = match connect::connect(route, hash, st, source).await {
        Ok(c) => c,
        Err(e) => {
            ListenerStats::inc(&st.stats.connections_failed);
            match st.unreachable_warnings.record(std::time::Instant::now()) {
                Some(0) => {
                    warn!(listener = %st.name, client = %source, error = %e, "connection closed: {e}")
                }
                Some(unreported) => warn!(
                    listener = %st.name, client = %source, error = %e, unreported,
                    "connection closed: {e} (and {unreported} more closed for no reachable server since the last report)"
                ),
                None => {
                    debug!(listener = %st.name, client = %source, error = %e, "connection closed")
                }
            }
            let ended = match &e {
                connect::Error::NoServer(_) => "no server up",
                connect::Error::Failed { .. } => "connect failed",
            };
            log_closed(st, started, source, ended, |entry| {
                entry.sni = hello.sni.clone();
                entry.pool = Some(route.name.clone());
                entry.bytes_in = hello.pending.len() as u64;
                if let connect::Error::Failed { server, addr, .. } = e {
                    entry.server = Some((server, addr));
                }
            });
            return;
        }
    };
    let mut first = match send_proxy {
        ProxyProtocol::Off => Vec::new(),
        ProxyProtocol::V1 => proxy_proto::encode_v1(source, destination),
        ProxyProtocol::V2 => proxy_proto::encode_v2(source, destination),
    };
    first.extend_from_slice(&hello.pending);
    let from_client = hello.pending.len() as u64;
    let log = started.map(|s| (s, hello.sni));
    forward(client, source, conn, (first, from_client), route, st, log).await;
}

/// Sends the first bytes (PROXY header and the client's pending bytes, of which
/// `first.1` came from the client), then forwards until the connection ends; records the
/// outcome, and logs it when the access log is enabled (`log`: the start and the SNI).
async fn forward(
    mut client: TcpStream,
    source: SocketAddr,
    conn: connect::Connected,
    first: (Vec<u8>, u64),
    route: &PoolRef,
    st: &State,
    log: Option<(Started, Option<String>)>,
) {
    let connect::Connected {
        stream: mut server,
        picked,
        latency,
    } = conn;
    let _ = server.set_nodelay(true);
    let guard = ConnTable::global().open(
        source,
        &st.name,
        &route.name,
        picked.name(),
        picked.address(),
    );
    let entry = guard.entry();
    let stats = &st.stats;
    debug!(listener = %st.name, client = %source, pool = %route.name, server = %picked.name(), "connected");
    let (first, from_client) = first;
    let end = match copy::write_all(&server, &first).await {
        Err(error) => End::Error {
            server: true,
            error,
        },
        Ok(()) => {
            entry.bytes_in.fetch_add(from_client, Ordering::Relaxed);
            stats.bytes_in.fetch_add(from_client, Ordering::Relaxed);
            let opts = CopyOpts {
                splice: st.splice,
                idle: st.timeouts.idle,
                spliced: Some(&stats.spliced_directions),
            };
            let id = picked.id();
            let mut drain = DrainWatch::new(route.drain_timeout);
            copy::forward_both(
                &mut client,
                &mut server,
                opts,
                |n| {
                    entry.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                    stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                },
                |n| {
                    entry.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                    stats.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                },
                || {
                    let snap = route.pool.snapshot();
                    drain.should_close(snap.server_by_id(id).map(|s| s.state()), clock::now())
                },
            )
            .await
        }
    };
    if let End::Error { server: failed, .. } = end {
        // A reset (or other socket error) on one side is passed on as a reset to the
        // other, as a direct connection would see it; it also leaves no TIME_WAIT socket
        // behind on the proxy for a connection that was aborted.
        abort_on_close(if failed { &client } else { &server });
    }
    let success = match &end {
        End::Done => true,
        End::Idle => {
            ListenerStats::inc(&stats.connections_idle_closed);
            true
        }
        End::Stopped => {
            ListenerStats::inc(&stats.connections_drain_closed);
            true
        }
        // A server that resets counts against its passive health; a client that does not.
        End::Error { server, .. } => !server,
    };
    debug!(
        listener = %st.name,
        client = %source,
        server = %picked.name(),
        bytes_in = entry.bytes_in.load(Ordering::Relaxed),
        bytes_out = entry.bytes_out.load(Ordering::Relaxed),
        ended = end.words(),
        error = end.error().map(tracing::field::display),
        "connection closed"
    );
    if let Some((started, sni)) = log {
        log_closed(st, Some(started), source, end.words(), |e| {
            e.sni = sni;
            e.pool = Some(route.name.clone());
            e.server = Some((picked.name().to_string(), picked.address()));
            e.bytes_in = entry.bytes_in.load(Ordering::Relaxed);
            e.bytes_out = entry.bytes_out.load(Ordering::Relaxed);
        });
    }
    picked.finish(success, latency, clock::now());
}

/// Sets `TCP_NODELAY` on the listening socket, which Linux copies to every accepted socket
/// (one system call per listener instead of one per connection). `false`: not done, set it
/// on each accepted socket.
fn nodelay_for_accepted(listener: &TcpListener) -> bool {
    cfg!(target_os = "linux")
        && socket2::SockRef::from(listener)
            .set_tcp_nodelay(true)
            .is_ok()
}

/// Makes the coming close of `sock` send a reset instead of a FIN (`SO_LINGER` 0).
fn abort_on_close(sock: &TcpStream) {
    let _ = socket2::SockRef::from(sock).set_linger(Some(Duration::ZERO));
}

/// Decides when a connection to a draining, disabled or removed server must close.
#[derive(Debug)]
pub(crate) struct DrainWatch {
    timeout: Option<Duration>,
    since: Option<u64>,
}

// === impl DrainWatch ===

impl DrainWatch {
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        DrainWatch {
            timeout,
            since: None,
        }
    }

    /// `state`: the server's state now (`None`: no longer in the pool).
    pub(crate) fn should_close(&mut self, state: Option<ServerState>, now: u64) -> bool {
        match state {
            Some(ServerState::Disabled) => true,
            Some(ServerState::Draining) | None => {
                let since = *self.since.get_or_insert(now);
                self.timeout
                    .is_some_and(|t| now.saturating_sub(since) >= t.as_nanos() as u64)
            }
            Some(ServerState::Up | ServerState::Down) => {
                self.since = None;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_sockets_have_nodelay_with_or_without_inheriting_it() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inherited = nodelay_for_accepted(&listener);
        assert_eq!(inherited, cfg!(target_os = "linux"));
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        if inherited {
            assert!(accepted.nodelay().unwrap(), "the kernel copied TCP_NODELAY");
        }
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn draining_closes_after_drain_timeout_and_never_without_one() {
        let mut w = DrainWatch::new(Some(Duration::from_secs(10)));
        assert!(!w.should_close(Some(ServerState::Up), 0));
        assert!(!w.should_close(Some(ServerState::Draining), S));
        assert!(!w.should_close(Some(ServerState::Draining), 10 * S));
        assert!(w.should_close(Some(ServerState::Draining), 11 * S));
        let mut never = DrainWatch::new(None);
        assert!(!never.should_close(Some(ServerState::Draining), 0));
        assert!(!never.should_close(None, 1000 * S));
        assert!(never.should_close(Some(ServerState::Disabled), 1000 * S));
    }

    #[test]
    fn a_server_back_from_draining_restarts_the_clock() {
        let mut w = DrainWatch::new(Some(Duration::from_secs(10)));
        assert!(!w.should_close(Some(ServerState::Draining), 0));
        assert!(!w.should_close(Some(ServerState::Up), 5 * S));
        assert!(!w.should_close(None, 6 * S));
        assert!(!w.should_close(None, 15 * S));
        assert!(w.should_close(None, 16 * S));
    }
}
