//! Choosing a server and connecting to it, with up to two retries on other servers when a
//! connect is refused, fails or times out (`timeouts.connect`).
//!
//! Each failed attempt is reported to the pool (`Picked::finish(false, ..)`) so passive
//! health sees it, and the tried servers are passed as `exclude` to the next pick.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchyard_balance::{clock, PickRequest, Picked, ServerId};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tracing::{debug, warn};

use crate::state::{PoolRef, State};
use crate::stats::ListenerStats;

/// Retries after the first attempt.
pub const MAX_RETRIES: usize = 2;

/// A connected server and how long the connect took.
#[derive(Debug)]
pub struct Connected {
    /// The server socket.
    pub stream: TcpStream,
    /// The pick, held for the connection's life (least_connections counts it).
    pub picked: Picked,
    /// Connect latency.
    pub latency: Duration,
}

/// Why no server could be reached.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pool has no eligible server.
    #[error("pool \"{0}\" has no server up")]
    NoServer(String),
    /// Every attempt failed.
    #[error("pool \"{pool}\": {attempts} connect attempt(s) failed, last to server \"{server}\" ({addr}): {reason}")]
    Failed {
        /// Pool name.
        pool: String,
        /// Attempts made.
        attempts: usize,
        /// The last server tried.
        server: String,
        /// Its address.
        addr: SocketAddr,
        /// The last error.
        reason: String,
    },
}

/// Picks a server of `pool` for `hash` and connects within `timeout`, retrying on others.
/// `st` and `client` are the listener and the client, for the counters and logs.
pub async fn connect(
    pool: &PoolRef,
    hash: Option<u64>,
    st: &State,
    client: SocketAddr,
) -> Result<Connected, Error> {
    let (timeout, stats) = (st.timeouts.connect, &st.stats);
    let mut tried: Vec<ServerId> = Vec::new();
    let mut last = None;
    for attempt in 0..=MAX_RETRIES {
        let picked = {
            let req = PickRequest {
                hash,
                // `source_ip` affinity; once its server failed, the retries pick freely.
                sticky: pool.sticky(client).filter(|id| !tried.contains(id)),
                exclude: &tried,
            };
            pool.pool.pick(&req, &mut rand::rng(), clock::now())
        };
        let Some(picked) = picked.filter(|p| !tried.contains(&p.id())) else {
            break;
        };
        if attempt > 0 {
            ListenerStats::inc(&stats.retries);
        }
        let addr = picked.address();
        let start = Instant::now();
        let res = tokio::time::timeout(timeout, connect_to(addr)).await;
        let latency = start.elapsed();
        let reason = match res {
            Ok(Ok(stream)) => {
                return Ok(Connected {
                    stream,
                    picked,
                    latency,
                })
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within timeouts.connect ({timeout:?})"),
        };
        ListenerStats::inc(&stats.connect_failures);
        match st.connect_warnings.record(std::time::Instant::now()) {
            Some(0) => {
                warn!(listener = %st.name, %client, pool = %pool.name, server = %picked.name(), %addr, %reason, attempt, "connect to server failed")
            }
            Some(unreported) => warn!(
                listener = %st.name, %client, pool = %pool.name, server = %picked.name(), %addr, %reason, attempt, unreported,
                "connect to server failed (and {unreported} more failed connects since the last report)"
            ),
            None => {
                debug!(listener = %st.name, %client, pool = %pool.name, server = %picked.name(), %addr, %reason, attempt, "connect to server failed")
            }
        }
        tried.push(picked.id());
        last = Some((picked.name().to_string(), addr, reason));
        picked.finish(false, latency, clock::now());
    }
    match last {
        None => {
            debug!(listener = %st.name, %client, pool = %pool.name, "no server up");
            Err(Error::NoServer(pool.name.clone()))
        }
        Some((server, addr, reason)) => Err(Error::Failed {
            pool: pool.name.clone(),
            attempts: tried.len(),
            server,
            addr,
            reason,
        }),
    }
}

/// A non-blocking connect to `addr`. Unlike `TcpStream::connect`, a connect that epoll
/// reports writable without an error or hang-up is taken as established without asking
/// the socket for its error (one system call less per connection).
async fn connect_to(addr: SocketAddr) -> std::io::Result<TcpStream> {
    #[cfg(target_os = "linux")]
    let ty = socket2::Type::STREAM.nonblocking();
    #[cfg(not(target_os = "linux"))]
    let ty = socket2::Type::STREAM;
    let sock = socket2::Socket::new(socket2::Domain::for_address(addr), ty, None)?;
    #[cfg(not(target_os = "linux"))]
    sock.set_nonblocking(true)?;
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(sock))?;
    let ready = stream.ready(Interest::WRITABLE).await?;
    if ready.is_write_closed() || ready.is_error() || !ready.is_writable() {
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
        // No pending error but not plainly writable: let the kernel say what it is.
        stream.peer_addr()?;
    }
    Ok(stream)
}
