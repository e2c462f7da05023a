//! Serving a udp listener: a thin I/O loop around the sans-IO [`FlowTable`].
//!
//! Each client address is a flow with its own connected server socket, chosen once by the
//! pool's algorithm (so every datagram of a flow reaches the same server) and held as a
//! `Picked` for the flow's life. A task per flow reads the server's replies and sends them
//! to the client from the listener's socket. Flows idle for `timeouts.idle` are swept;
//! when `max_flows` flows exist, datagrams of new clients are dropped and counted.

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use switchyard_balance::{clock, PickRequest, Picked};
use switchyard_net::Throttle;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn, Instrument};

use crate::access_log::{FlowCounts, FlowLog, Started};
use crate::pktinfo;
use crate::state::{Mode, State};
use crate::stats::ListenerStats;
use crate::udp_flows::{Decision, FlowTable};

/// Largest datagram forwarded.
pub const MAX_DATAGRAM: usize = 65535;

/// One client's flow.
#[derive(Debug)]
struct Flow {
    server: Arc<UdpSocket>,
    /// Last reply from the server (clock nanos), written by the reply task.
    last_reply: Arc<AtomicU64>,
    /// Stops the reply task when the flow is forgotten.
    stop: CancellationToken,
    /// Set by the reply task when receiving from the server failed (an ICMP error: port
    /// unreachable, a firewall's host prohibited, ...); the reply task has stopped.
    failed: Arc<AtomicBool>,
    /// Held for the flow's life (least_connections counts flows).
    picked: Option<Picked>,
    /// What the access log needs, only when it is enabled.
    log: Option<Box<FlowLog>>,
}

/// Writes the access log line of a flow removed for `ended`, if it is logged.
fn log_flow(st: &State, client: SocketAddr, flow: &Flow, ended: &'static str) {
    if let Some(log) = &flow.log {
        st.access_log.log(log.entry(&st.name, client, ended));
    }
}

/// Serves a udp listener on `socket` until `cancel`.
pub async fn serve_udp(socket: UdpSocket, state: Arc<ArcSwap<State>>, cancel: CancellationToken) {
    let socket = Arc::new(socket);
    let tracker = TaskTracker::new();
    // A wildcard listener learns each datagram's local address to reply from it.
    let pktinfo = socket.local_addr().is_ok_and(|a| a.ip().is_unspecified())
        && match pktinfo::enable(&socket) {
            Ok(()) => true,
            Err(e) => {
                warn!(listener = %state.load().name, error = %e, "cannot learn the local address of datagrams; replies leave from the address the system picks");
                false
            }
        };
    let (max, idle) = limits(&state.load());
    let mut table: FlowTable<Flow> = FlowTable::new(max, idle);
    let mut failures = Throttle::new(WARN_EVERY);
    let mut full = Throttle::new(WARN_EVERY);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut sweep = tokio::time::interval(sweep_period(idle));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let received = tokio::select! {
            _ = cancel.cancelled() => break,
            _ = sweep.tick() => {
                let st = state.load();
                let (max, idle) = limits(&st);
                table.set_limits(max, idle);
                expire(&mut table, &st);
                continue;
            }
            r = receive(&socket, &mut buf, pktinfo) => r,
        };
        let (n, client, local) = match received {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors surface here on some systems; never stop the listener.
                debug!(error = %e, "udp receive error");
                continue;
            }
        };
        let st = state.load_full();
        ListenerStats::inc(&st.stats.datagrams_in);
        st.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        let flows = (&mut table, &mut failures, &mut full);
        on_datagram(flows, &socket, &st, (client, local), &buf[..n], &tracker).await;
    }
    let flows = table.drain();
    let st = state.load();
    for (client, flow) in &flows {
        log_flow(&st, *client, flow, "shutdown");
    }
    ListenerStats::for_listener(&st.name)
        .udp_flows_active
        .fetch_sub(flows.len() as u64, Ordering::Relaxed);
    drop(flows);
    tracker.close();
    tracker.wait().await;
}

fn limits(st: &State) -> (usize, u64) {
    let max = match st.mode {
        Mode::Udp { max_flows } => max_flows,
        _ => 65536,
    };
    (max, st.timeouts.idle.as_nanos() as u64)
}

fn sweep_period(idle: u64) -> Duration {
    (Duration::from_nanos(idle) / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

fn expire(table: &mut FlowTable<Flow>, st: &State) {
    let stats = &st.stats;
    let gone = table.expire(clock::now(), |f| f.last_reply.load(Ordering::Relaxed));
    for (client, flow) in &gone {
        debug!(%client, "udp flow expired");
        log_flow(st, *client, flow, "idle timeout");
    }
    stats
        .udp_flows_expired
        .fetch_add(gone.len() as u64, Ordering::Relaxed);
    stats
        .udp_flows_active
        .fetch_sub(gone.len() as u64, Ordering::Relaxed);
}

/// The next datagram: length, sender, and (with `pktinfo`) the local address it was sent to.
async fn receive(
    socket: &UdpSocket,
    buf: &mut [u8],
    pktinfo: bool,
) -> io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    if pktinfo {
        socket
            .async_io(Interest::READABLE, || pktinfo::recv(socket, buf))
            .await
    } else {
        let (n, client) = socket.recv_from(buf).await?;
        Ok((n, client, None))
    }
}

async fn on_datagram(
    (table, failures, full): (&mut FlowTable<Flow>, &mut Throttle, &mut Throttle),
    socket: &Arc<UdpSocket>,
    st: &State,
    (client, local): (SocketAddr, Option<IpAddr>),
    data: &[u8],
    tracker: &TaskTracker,
) {
    let now = clock::now();
    if let Decision::Forward(flow) = table.on_datagram(client, now) {
        if flow.failed.load(Ordering::Relaxed) {
            // The server refused this flow (or its replies failed otherwise): forget it
            // and pick again for this datagram.
            debug!(%client, "udp server refused the flow, picking again");
            let why = "it answered with an ICMP error (port unreachable or prohibited)";
            forget_failed(table, client, st, why);
        }
    }
    let sent = match table.on_datagram(client, now) {
        Decision::Forward(flow) => {
            if let Some(log) = &flow.log {
                FlowCounts::add(&log.counts.datagrams_in, &log.counts.bytes_in, data.len());
            }
            flow.server.send(data).await
        }
        Decision::Full => {
            ListenerStats::inc(&st.stats.udp_flows_dropped);
            let (max, _) = limits(st);
            match full.record(std::time::Instant::now()) {
                Some(0) => warn!(
                    listener = %st.name, %client, max_flows = max,
                    "udp listener {} has max_flows ({max}) flows; datagram of a new flow dropped", st.name
                ),
                Some(unreported) => warn!(
                    listener = %st.name, %client, max_flows = max, unreported,
                    "udp listener {} has max_flows ({max}) flows; datagram of a new flow dropped (and {unreported} more since the last report)", st.name
                ),
                None => debug!(listener = %st.name, %client, "max_flows reached, datagram dropped"),
            }
            return;
        }
        Decision::Open => match open(socket, st, (client, local), tracker).await {
            Ok(flow) => {
                if let Some(log) = &flow.log {
                    FlowCounts::add(&log.counts.datagrams_in, &log.counts.bytes_in, data.len());
                }
                let sent = flow.server.send(data).await;
                ListenerStats::inc(&st.stats.udp_flows_created);
                ListenerStats::inc(&st.stats.udp_flows_active);
                if table.insert(client, flow, now).is_err() {
                    ListenerStats::dec(&st.stats.udp_flows_active);
                }
                sent
            }
            Err(e) => {
                ListenerStats::inc(&st.stats.udp_flows_failed);
                match failures.record(std::time::Instant::now()) {
                    Some(0) => {
                        warn!(listener = %st.name, %client, error = %e, "udp flow not opened, datagram dropped")
                    }
                    Some(unreported) => warn!(
                        listener = %st.name,
                        %client,
                        error = %e,
                        unreported,
                        "udp flow not opened, datagram dropped (and {unreported} more since the last report)"
                    ),
                    None => {
                        debug!(listener = %st.name, %client, error = %e, "udp flow not opened, datagram dropped")
                    }
                }
                return;
            }
        },
    };
    match sent {
        Ok(_) => {}
        Err(e) => {
            // The server is gone (ICMP unreachable): forget the flow; the client's next
            // datagram picks again.
            debug!(%client, error = %e, "udp send to server failed, flow forgotten");
            forget_failed(table, client, st, &format!("sending to it failed: {e}"));
        }
    }
}

/// At most one warning per this long about datagrams that opened no flow, and one about
/// datagrams dropped because the flow table was full (as accept loops do for failed
/// accepts): a flood of datagrams from new ports is cheap, and spoofable, and must not
/// write a log line each.
const WARN_EVERY: Duration = Duration::from_secs(5);

/// Removes a flow whose server failed (`why`), reporting the failure to the pool and,
/// at most once per 5 s for the listener (with the count of the rest), to the log: a
/// udp-only pool has no active health checks by default, so this warning is often the
/// only word an operator gets that a server is gone.
fn forget_failed(table: &mut FlowTable<Flow>, client: SocketAddr, st: &State, why: &str) {
    if let Some(mut flow) = table.remove(client) {
        ListenerStats::dec(&st.stats.udp_flows_active);
        log_flow(st, client, &flow, "server error");
        ListenerStats::inc(&st.stats.connect_failures);
        if let Some(p) = flow.picked.take() {
            let (server, addr) = (p.name(), p.address());
            match st.connect_warnings.record(std::time::Instant::now()) {
                Some(0) => warn!(
                    listener = %st.name, %client, server, %addr,
                    "udp flow to server {server} ({addr}) forgotten: {why}"
                ),
                Some(unreported) => warn!(
                    listener = %st.name, %client, server, %addr, unreported,
                    "udp flow to server {server} ({addr}) forgotten: {why} (and {unreported} more failed flows since the last report)"
                ),
                None => {}
            }
            p.finish(false, Duration::ZERO, clock::now());
        }
    }
}

/// Picks a server for `client`, connects a socket to it and starts the reply task.
async fn open(
    socket: &Arc<UdpSocket>,
    st: &State,
    (client, local): (SocketAddr, Option<IpAddr>),
    tracker: &TaskTracker,
) -> io::Result<Flow> {
    let route = st
        .default_pool
        .as_ref()
        .ok_or_else(|| io::Error::other("no pool"))?;
    let hash = route.hash.hash(client, None);
    let req = PickRequest {
        hash: Some(hash),
        sticky: route.sticky(client),
        exclude: &[],
    };
    let picked = route
        .pool
        .pick(&req, &mut rand::rng(), clock::now())
        .ok_or_else(|| io::Error::other(format!("pool \"{}\" has no server up", route.name)))?;
    let addr = picked.address();
    let bind: IpAddr = match addr {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let server = UdpSocket::bind((bind, 0)).await?;
    server.connect(addr).await?;
    let log = Started::now_if(&st.access_log).map(|started| {
        Box::new(FlowLog {
            started,
            pool: route.name.clone(),
            server: (picked.name().to_string(), addr),
            counts: Arc::default(),
        })
    });
    let counts = log.as_ref().map(|l| l.counts.clone());
    let flow = Flow {
        server: Arc::new(server),
        last_reply: Arc::new(AtomicU64::new(0)),
        stop: CancellationToken::new(),
        failed: Arc::new(AtomicBool::new(false)),
        picked: Some(picked),
        log,
    };
    let span = tracing::debug_span!("udp_flow", listener = %st.name, %client, server = %addr);
    tracker.spawn(
        replies(
            flow.server.clone(),
            socket.clone(),
            (client, local),
            flow.last_reply.clone(),
            flow.stop.clone(),
            flow.failed.clone(),
            (st.stats.clone(), counts),
        )
        .instrument(span),
    );
    Ok(flow)
}

thread_local! {
    /// The buffer replies are received into, one per worker thread: a flow holds no
    /// buffer of its own (64 KiB each, 4 GiB for a full table of 65,536 flows). It is
    /// only borrowed between a receive and the send right after it, never across an
    /// `.await`.
    static REPLY_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; MAX_DATAGRAM].into_boxed_slice());
}

/// What relaying one reply did.
enum Relay {
    /// Sent to the client (`true`), or refused by the client's address (`false`).
    Done(usize, bool),
    /// The listener's socket was full: the datagram, copied, waits for room.
    Wait(Vec<u8>),
}

/// Receives one reply from `server` into the thread's reply buffer and sends it to
/// `client` at once. `WouldBlock`: nothing to receive yet.
fn relay_one(
    server: &UdpSocket,
    listener: &UdpSocket,
    (client, local): (SocketAddr, Option<IpAddr>),
) -> io::Result<Relay> {
    use std::io::Read;
    REPLY_BUF.with_borrow_mut(|buf| {
        // A plain recv(2): tokio's `try_recv` would not call it when only an error (an
        // ICMP refusal) made the socket ready.
        let n = (&*socket2::SockRef::from(server)).read(buf)?;
        let sent = match local {
            Some(from) => pktinfo::send(listener, &buf[..n], client, from),
            None => listener.try_send_to(&buf[..n], client),
        };
        Ok(match sent {
            Ok(_) => Relay::Done(n, true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Relay::Wait(buf[..n].to_vec()),
            Err(_) => Relay::Done(n, false),
        })
    })
}

/// Sends `data` to `client` from `local` (when known), waiting for room.
async fn send_reply(
    listener: &UdpSocket,
    data: &[u8],
    (client, local): (SocketAddr, Option<IpAddr>),
) -> io::Result<usize> {
    match local {
        Some(from) => {
            listener
                .async_io(Interest::WRITABLE, || {
                    pktinfo::send(listener, data, client, from)
                })
                .await
        }
        None => listener.send_to(data, client).await,
    }
}

/// Sends the server's replies back to `client` until the flow is forgotten.
async fn replies(
    server: Arc<UdpSocket>,
    listener: Arc<UdpSocket>,
    (client, local): (SocketAddr, Option<IpAddr>),
    last_reply: Arc<AtomicU64>,
    stop: CancellationToken,
    failed: Arc<AtomicBool>,
    (stats, counts): (Arc<ListenerStats>, Option<Arc<FlowCounts>>),
) {
    loop {
        let relayed = tokio::select! {
            _ = stop.cancelled() => return,
            r = server.async_io(Interest::READABLE | Interest::ERROR, || relay_one(&server, &listener, (client, local))) => r,
        };
        let (n, sent) = match relayed {
            Ok(Relay::Done(n, sent)) => (n, sent),
            // The listener's send buffer is full (rare): this datagram waits for room.
            Ok(Relay::Wait(datagram)) => {
                let sent = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = send_reply(&listener, &datagram, (client, local)) => r.is_ok(),
                };
                (datagram.len(), sent)
            }
            // ICMP port unreachable, or another error (a firewall's host prohibited): the
            // reply task stops, so the flow must not live on with no one relaying its
            // replies. Its next datagram picks again.
            Err(e) => {
                if e.kind() != io::ErrorKind::ConnectionRefused {
                    debug!(error = %e, "udp flow reply error");
                }
                failed.store(true, Ordering::Relaxed);
                return;
            }
        };
        last_reply.store(clock::now(), Ordering::Relaxed);
        if sent {
            ListenerStats::inc(&stats.datagrams_out);
            stats.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
            if let Some(c) = &counts {
                FlowCounts::add(&c.datagrams_out, &c.bytes_out, n);
            }
        }
    }
}
