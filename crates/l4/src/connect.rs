//! Choosing a server and connecting to it, with up to two retries on other servers when a
//! connect is refused, fails or times out (`timeouts.connect`).
//!
//! Each failed attempt is reported to the pool (`Picked::finish(false, ..)`) so passive
//! health sees it, and the tried servers are passed as `exclude` to the next pick.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchyard_balance::{clock, PickRequest, Picked, ServerId};
use tokio::net::TcpStream;
use tracing::{debug, warn};

use crate::state::PoolRef;
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
pub async fn connect(
    pool: &PoolRef,
    hash: Option<u64>,
    timeout: Duration,
    stats: &ListenerStats,
) -> Result<Connected, Error> {
    let mut tried: Vec<ServerId> = Vec::new();
    let mut last = None;
    for attempt in 0..=MAX_RETRIES {
        let picked = {
            let req = PickRequest {
                hash,
                sticky: None,
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
        let res = tokio::time::timeout(timeout, TcpStream::connect(addr)).await;
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
        warn!(pool = %pool.name, server = %picked.name(), %addr, %reason, attempt, "connect to server failed");
        tried.push(picked.id());
        last = Some((picked.name().to_string(), addr, reason));
        picked.finish(false, latency, clock::now());
    }
    match last {
        None => {
            debug!(pool = %pool.name, "no server up");
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
