//! The UDP and TCP loops around [`crate::answer`].
//!
//! UDP: one worker task per core shares the socket; each owns its receive buffer, its
//! answer buffer, a parsed-query slot and its [`Scratch`], so steady-state answering does
//! not allocate. TCP (RFC 7766): 2-byte length framing, several queries per connection
//! answered in order, an idle timeout between queries, and at most
//! `max_tcp_connections` open at once (beyond that new connections are closed at once).
//! Each query reads the listener state once (`ArcSwap::load`), so a reload applies from
//! the next query on.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::answer::{self, Answered, EDNS_UDP_MAX};
#[cfg(target_os = "linux")]
use crate::batch::{Batch, BATCH};
use crate::dynamic::Scratch;
use crate::ratelimit::RateLimiter;
use crate::stats::{inc, DnsStats, Tally};
use crate::wire::{self, Parsed, Query};
use crate::DnsListenerState;

/// Largest UDP query we read (anything longer is cut and then fails to parse cleanly).
const UDP_RECV_MAX: usize = 4096;

/// How a query arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: answers are limited to 512 bytes, or the client's EDNS size up to 1232.
    Udp,
    /// TCP: answers up to 65535 bytes.
    Tcp,
}

/// One worker's reusable buffers: the sans-IO answering core (also what the fuzz target
/// drives).
#[derive(Debug)]
pub struct Worker {
    query: Query,
    scratch: Scratch,
    /// The last answer, valid after [`Worker::handle`] returned true.
    pub out: Vec<u8>,
    /// Counts not yet added to the listener's [`DnsStats`].
    pub tally: Tally,
}

/// Serve DNS on both sockets until `shutdown`, then wait for in-flight work.
pub async fn serve(
    udp: UdpSocket,
    tcp: TcpListener,
    state: Arc<ArcSwap<DnsListenerState>>,
    stats: Arc<DnsStats>,
    shutdown: CancellationToken,
) {
    {
        let st = state.load();
        tracing::info!(
            listener = %st.name,
            address = ?udp.local_addr().ok(),
            zones = st.authority.catalog.zones.len(),
            "DNS listener serving UDP and TCP"
        );
    }
    let u = serve_udp(
        udp,
        Arc::clone(&state),
        Arc::clone(&stats),
        shutdown.clone(),
    );
    let t = serve_tcp(tcp, state, stats, shutdown);
    tokio::join!(u, t);
}

/// Serve DNS over UDP until `shutdown`; returns once every worker has stopped.
#[cfg(target_os = "linux")]
pub async fn serve_udp(
    socket: UdpSocket,
    state: Arc<ArcSwap<DnsListenerState>>,
    stats: Arc<DnsStats>,
    shutdown: CancellationToken,
) {
    let socket = match blocking_socket(socket) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            inc(&stats.io_errors);
            tracing::error!(listener = %state.load().name, error = %e, "DNS UDP socket cannot be served");
            return;
        }
    };
    let limiter = Arc::new(RateLimiter::default());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The threads stop on shutdown, and also when this future is dropped (runtime gone).
    let stop = shutdown.child_token();
    let _stop_on_drop = stop.clone().drop_guard();
    let mut done = Vec::with_capacity(workers);
    for i in 0..workers {
        let (socket, state, stats, limiter, stop) = (
            Arc::clone(&socket),
            Arc::clone(&state),
            Arc::clone(&stats),
            Arc::clone(&limiter),
            stop.clone(),
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name(format!("dns-udp-{i}"))
            .spawn(move || {
                udp_thread(&socket, &state, &stats, &limiter, &stop);
                let _ = tx.send(());
            });
        match spawned {
            Ok(_) => done.push(rx),
            Err(e) => tracing::error!(error = %e, "DNS UDP worker thread cannot start"),
        }
    }
    for rx in done {
        let _ = rx.await;
    }
}

/// How often a blocked UDP worker wakes to check for shutdown.
#[cfg(target_os = "linux")]
const SHUTDOWN_POLL: Duration = Duration::from_millis(200);

/// The socket in blocking mode, with a receive timeout so workers notice shutdown.
#[cfg(target_os = "linux")]
fn blocking_socket(socket: UdpSocket) -> std::io::Result<std::net::UdpSocket> {
    let std = socket.into_std()?;
    std.set_nonblocking(false)?;
    std.set_read_timeout(Some(SHUTDOWN_POLL))?;
    tune_udp(&std);
    Ok(std)
}

/// The receive buffer each DNS UDP socket asks for (the kernel caps it at
/// `net.core.rmem_max`): room for about a thousand queued queries, so a burst (or a
/// moment without CPU) is absorbed instead of dropped.
#[cfg(target_os = "linux")]
const UDP_RCVBUF: libc::c_int = 1 << 20;

/// Socket options for answering: responses are sent with Don't Fragment (RFC 9715: DNS
/// over UDP avoids IP fragmentation; our answers are at most 1232 bytes, and a path
/// that cannot carry them makes the resolver retry over TCP) and without following path
/// MTU reports (forged ICMP cannot shrink them); a larger receive buffer. Best effort:
/// an option the kernel refuses leaves its default in place.
#[cfg(target_os = "linux")]
fn tune_udp(socket: &std::net::UdpSocket) {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    let set = |level, name, value: libc::c_int| {
        // SAFETY: a valid socket and a pointer to an int of the stated size.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) == 0
        }
    };
    match socket.local_addr() {
        Ok(std::net::SocketAddr::V6(_)) => {
            set(libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 1);
            set(
                libc::IPPROTO_IPV6,
                libc::IPV6_MTU_DISCOVER,
                libc::IP_PMTUDISC_PROBE,
            );
            // A dual-stack socket also answers IPv4 clients.
            set(
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                libc::IP_PMTUDISC_PROBE,
            );
        }
        _ => {
            set(
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                libc::IP_PMTUDISC_PROBE,
            );
        }
    }
    let mut current: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid socket, and an int with its length for the kernel to fill in.
    let got = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut current as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    // Never shrink a buffer the system already made larger.
    if got != 0 || current < UDP_RCVBUF {
        set(libc::SOL_SOCKET, libc::SO_RCVBUF, UDP_RCVBUF);
    }
}

/// One UDP worker thread: blocked in `recvmmsg`, answering batches until shutdown.
#[cfg(target_os = "linux")]
fn udp_thread(
    socket: &std::net::UdpSocket,
    state: &ArcSwap<DnsListenerState>,
    stats: &DnsStats,
    limiter: &RateLimiter,
    shutdown: &CancellationToken,
) {
    use std::io::ErrorKind;
    use std::os::fd::AsRawFd;

    let fd = socket.as_raw_fd();
    let mut batch = Box::new(Batch::default());
    let mut w = Worker::new();
    let mut ready: Vec<usize> = Vec::with_capacity(BATCH);
    while !shutdown.is_cancelled() {
        let n = match batch.recv(fd) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                w.tally.flush(stats);
                continue;
            }
            Err(e) => {
                inc(&stats.io_errors);
                tracing::debug!(error = %e, "DNS UDP receive failed");
                continue;
            }
        };
        ready.clear();
        let st = state.load();
        for i in 0..n {
            let Some(peer) = batch.peers[i] else { continue };
            let packet = batch.packet(i);
            w.tally.udp_queries += 1;
            w.tally.bytes_in += packet.len() as u64;
            if w.answer(&st, packet, peer.ip(), Transport::Udp, Some(limiter)) {
                std::mem::swap(&mut w.out, &mut batch.outs[i]);
                ready.push(i);
            }
        }
        drop(st);
        // Counted before the answers leave, so whoever sees an answer sees it counted;
        // the bytes sent are added with the next batch (or the next idle wake-up).
        w.tally.flush(stats);
        send_batch(fd, &mut batch, &ready, &mut w.tally, stats);
        w.tally.touch();
    }
    w.tally.flush(stats);
}

/// Send the answers in `slots` (blocking while the socket buffer is full).
#[cfg(target_os = "linux")]
fn send_batch(
    fd: std::os::fd::RawFd,
    batch: &mut Batch,
    slots: &[usize],
    tally: &mut Tally,
    stats: &DnsStats,
) {
    let mut done = 0;
    while done < slots.len() {
        match batch.send(fd, &slots[done..]) {
            Ok(0) => break,
            Ok(m) => {
                let bytes: usize = slots[done..done + m]
                    .iter()
                    .map(|&i| batch.outs[i].len())
                    .sum();
                tally.bytes_out += bytes as u64;
                done += m;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                inc(&stats.io_errors);
                tracing::debug!(client = ?batch.peers[slots[done]], error = %e, "DNS UDP send failed");
                done += 1;
            }
        }
    }
}

/// Serve DNS over UDP until `shutdown`; returns once every worker has stopped.
#[cfg(not(target_os = "linux"))]
pub async fn serve_udp(
    socket: UdpSocket,
    state: Arc<ArcSwap<DnsListenerState>>,
    stats: Arc<DnsStats>,
    shutdown: CancellationToken,
) {
    let socket = Arc::new(socket);
    let limiter = Arc::new(RateLimiter::default());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tracker = TaskTracker::new();
    for _ in 0..workers {
        let (socket, state, stats, limiter, shutdown) = (
            Arc::clone(&socket),
            Arc::clone(&state),
            Arc::clone(&stats),
            Arc::clone(&limiter),
            shutdown.clone(),
        );
        tracker.spawn(udp_worker(socket, state, stats, limiter, shutdown));
    }
    tracker.close();
    tracker.wait().await;
}

/// One UDP receive/answer loop (portable: one datagram per system call).
#[cfg(not(target_os = "linux"))]
async fn udp_worker(
    socket: Arc<UdpSocket>,
    state: Arc<ArcSwap<DnsListenerState>>,
    stats: Arc<DnsStats>,
    limiter: Arc<RateLimiter>,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; UDP_RECV_MAX];
    let mut w = Worker::new();
    loop {
        let (len, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    inc(&stats.io_errors);
                    tracing::debug!(error = %e, "DNS UDP receive failed");
                    continue;
                }
            },
        };
        inc(&stats.udp_queries);
        stats.bytes_in.fetch_add(len as u64, Ordering::Relaxed);
        let st = state.load();
        let send = w.handle(
            &st,
            &stats,
            &buf[..len],
            peer.ip(),
            Transport::Udp,
            Some(&limiter),
        );
        if send {
            match socket.send_to(&w.out, peer).await {
                Ok(n) => {
                    stats.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    inc(&stats.io_errors);
                    tracing::debug!(client = %peer, error = %e, "DNS UDP send failed");
                }
            }
        }
    }
}

/// Serve DNS over TCP until `shutdown`; returns once every connection has finished.
pub async fn serve_tcp(
    listener: TcpListener,
    state: Arc<ArcSwap<DnsListenerState>>,
    stats: Arc<DnsStats>,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let open = Arc::new(AtomicUsize::new(0));
    let mut accept_errors = switchyard_net::AcceptErrors::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    inc(&stats.io_errors);
                    accept_errors.handle(&state.load().name, &e).await;
                    continue;
                }
            },
        };
        let st = state.load_full();
        if open.load(Ordering::Relaxed) >= st.max_tcp_connections as usize {
            inc(&stats.tcp_refused);
            tracing::debug!(client = %peer, listener = %st.name, "DNS TCP connection refused: max_tcp_connections reached");
            drop(stream);
            continue;
        }
        inc(&stats.tcp_connections);
        open.fetch_add(1, Ordering::Relaxed);
        let span = tracing::debug_span!("dns_tcp", listener = %st.name, client = %peer);
        let (state, stats, shutdown, open) = (
            Arc::clone(&state),
            Arc::clone(&stats),
            shutdown.clone(),
            Arc::clone(&open),
        );
        tracker.spawn(
            async move {
                tcp_connection(stream, peer, state, &stats, shutdown).await;
                open.fetch_sub(1, Ordering::Relaxed);
            }
            .instrument(span),
        );
    }
    // Refuse new connections at once, while the open ones finish.
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

/// Answer the queries of one TCP connection until it closes, idles out or we shut down.
async fn tcp_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ArcSwap<DnsListenerState>>,
    stats: &DnsStats,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let mut w = Worker::new();
    let mut msg = Vec::with_capacity(512);
    loop {
        let idle = state.load().tcp_idle;
        let mut len = [0u8; 2];
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = tokio::time::timeout(idle, stream.read_exact(&mut len)) => r,
        };
        match first {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return, // closed by the client
            Err(_) => {
                tracing::debug!("DNS TCP connection idle: closing");
                return;
            }
        }
        let n = u16::from_be_bytes(len) as usize;
        // The frame grows with the bytes that arrive (its capacity is kept across queries):
        // a length prefix alone reserves nothing, where a 64 KiB frame made at once let
        // 2 bytes from a client hold 64 KiB of ours until the idle timeout.
        msg.clear();
        let mut body = (&mut stream).take(n as u64);
        // Shutdown is watched here too: a client stalled inside its frame must not hold
        // a graceful stop for `timeouts.idle`. Biased: bytes already there are read (and
        // answered) first.
        let read = tokio::select! {
            biased;
            r = tokio::time::timeout(idle, body.read_to_end(&mut msg)) => r,
            _ = shutdown.cancelled() => return,
        };
        match read {
            Ok(Ok(got)) if got == n => {}
            _ => return,
        }
        inc(&stats.tcp_queries);
        stats.bytes_in.fetch_add(n as u64 + 2, Ordering::Relaxed);
        let st = state.load();
        if !w.handle(&st, stats, &msg, peer.ip(), Transport::Tcp, None) {
            return; // not even a header: nothing sensible can follow on this stream
        }
        let out_len = (w.out.len() as u16).to_be_bytes();
        let written = async {
            stream.write_all(&out_len).await?;
            stream.write_all(&w.out).await
        };
        // Nor a client that does not read its answers (an answer that fits goes out).
        let written = tokio::select! {
            biased;
            r = tokio::time::timeout(idle, written) => r,
            _ = shutdown.cancelled() => return,
        };
        if written.map_or(true, |r| r.is_err()) {
            inc(&stats.io_errors);
            return;
        }
        stats
            .bytes_out
            .fetch_add(w.out.len() as u64 + 2, Ordering::Relaxed);
    }
}

// === impl Worker ===

impl Default for Worker {
    fn default() -> Self {
        Worker::new()
    }
}

impl Worker {
    /// Fresh buffers.
    pub fn new() -> Self {
        Worker {
            query: Query::default(),
            scratch: Scratch::default(),
            out: Vec::with_capacity(UDP_RECV_MAX),
            tally: Tally::default(),
        }
    }

    /// Answer one packet into `self.out` and count it in `stats`; whether there is
    /// something to send.
    pub fn handle(
        &mut self,
        st: &DnsListenerState,
        stats: &DnsStats,
        packet: &[u8],
        client: IpAddr,
        transport: Transport,
        limiter: Option<&RateLimiter>,
    ) -> bool {
        let send = self.answer(st, packet, client, transport, limiter);
        self.tally.flush(stats);
        send
    }

    /// Answer one packet into `self.out`, counting it in `self.tally` (the caller
    /// flushes); whether there is something to send.
    pub fn answer(
        &mut self,
        st: &DnsListenerState,
        packet: &[u8],
        client: IpAddr,
        transport: Transport,
        limiter: Option<&RateLimiter>,
    ) -> bool {
        let client = client.to_canonical();
        let parsed = wire::parse(packet, &mut self.query);
        let over_limit = || match (limiter, st.rate_limit) {
            (Some(l), Some(limit)) => {
                let now = switchyard_balance::clock::now() / 1_000_000_000;
                !l.allow(client, now, limit)
            }
            _ => false,
        };
        let answered: Answered = match parsed {
            Parsed::Drop => {
                self.tally.dropped_malformed += 1;
                self.tally.touch();
                return false;
            }
            Parsed::Reject(r) => {
                if over_limit() {
                    self.tally.rate_limited += 1;
                    self.tally.touch();
                    return false;
                }
                answer::reject(r, &mut self.out)
            }
            Parsed::Query => {
                let q = &self.query;
                self.tally.query(q.qtype);
                if over_limit() {
                    self.tally.rate_limited += 1;
                    answer::slip(packet, q, &mut self.out)
                } else {
                    let limit = match (transport, q.edns) {
                        (Transport::Tcp, _) => usize::from(u16::MAX),
                        (Transport::Udp, None) => 512,
                        (Transport::Udp, Some(e)) => {
                            usize::from(e.udp_size.clamp(512, EDNS_UDP_MAX))
                        }
                    };
                    let a = answer::answer(
                        &st.authority,
                        packet,
                        q,
                        client,
                        limit,
                        &mut self.scratch,
                        &mut self.out,
                    );
                    if a.truncated {
                        tracing::trace!(client = %client, "DNS answer truncated: larger than the client's UDP size");
                    }
                    a
                }
            }
        };
        self.tally.response(answered.rcode, answered.truncated);
        true
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn get(socket: &std::net::UdpSocket, level: libc::c_int, name: libc::c_int) -> libc::c_int {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a valid socket, and an int with its length for the kernel to fill in.
        let r = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                level,
                name,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0);
        v
    }

    #[test]
    fn udp_sockets_send_with_dont_fragment_and_a_larger_receive_buffer() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = get(&s, libc::SOL_SOCKET, libc::SO_RCVBUF);
        tune_udp(&s);
        assert_eq!(
            get(&s, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER),
            libc::IP_PMTUDISC_PROBE
        );
        assert!(get(&s, libc::SOL_SOCKET, libc::SO_RCVBUF) >= before);
        let s6 = std::net::UdpSocket::bind("[::1]:0");
        if let Ok(s6) = s6 {
            tune_udp(&s6);
            assert_eq!(get(&s6, libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG), 1);
        }
    }
}
