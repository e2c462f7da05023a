//! One server as a snapshot sees it: configuration, states, weights, and the live
//! counters it shares with every other snapshot.
//!
//! A `Server` is immutable once built and handed out as `Arc<Server>`: a pick holds one,
//! so a request that started under an old snapshot still decrements the same counters.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use crate::hash::hash_bytes;
use crate::{AdminState, Error, Health, Nanos, ServerState, ServerStats};

/// A server's stable identity: XXH64 of its name. The same in every snapshot, reload and
/// process, so it can travel in an affinity cookie without naming an address. Displays as
/// 16 lowercase hex digits and parses back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(u64);

/// A server inside a [`Snapshot`](crate::Snapshot).
#[derive(Debug)]
pub struct Server {
    pub(crate) id: ServerId,
    pub(crate) name: String,
    pub(crate) address: SocketAddr,
    pub(crate) weight: u32,
    pub(crate) backup: bool,
    pub(crate) health: Health,
    pub(crate) admin: AdminState,
    pub(crate) state: ServerState,
    /// Weight after slow start, in thousandths (1000 = weight 1).
    pub(crate) weight_milli: u64,
    pub(crate) up_since: Option<Nanos>,
    pub(crate) stats: Arc<ServerStats>,
    pub(crate) ewma_decay: Duration,
    /// The pool-wide in-flight count, kept only while bounded loads need it.
    pub(crate) pool_load: Option<Arc<AtomicU64>>,
}

// === impl ServerId ===

impl ServerId {
    /// The id of the server with this name.
    pub fn of_name(name: &str) -> ServerId {
        ServerId(hash_bytes(name.as_bytes()))
    }

    pub fn from_u64(raw: u64) -> ServerId {
        ServerId(raw)
    }

    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for ServerId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::BadServerId(s.chars().take(64).collect()));
        }
        u64::from_str_radix(s, 16)
            .map(ServerId)
            .map_err(|_| Error::BadServerId(s.to_string()))
    }
}

// === impl Server ===

impl Server {
    pub fn id(&self) -> ServerId {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The weight in force (configured, or as last set by an operator).
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// The weight the weighted algorithms use now: `weight()` scaled by slow start.
    pub fn effective_weight(&self) -> f64 {
        self.weight_milli as f64 / 1000.0
    }

    pub fn is_backup(&self) -> bool {
        self.backup
    }

    pub fn health(&self) -> Health {
        self.health
    }

    pub fn admin(&self) -> AdminState {
        self.admin
    }

    /// The effective state (disabled > down > draining > up).
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// When the server last came up (the start of its slow-start ramp), if it did so
    /// while this pool was running.
    pub fn up_since(&self) -> Option<Nanos> {
        self.up_since
    }

    /// The live counters (shared by every snapshot and surviving reloads).
    pub fn stats(&self) -> &Arc<ServerStats> {
        &self.stats
    }

    /// The peak-EWMA latency estimate decayed to `now`, if any request finished yet.
    pub fn latency_ewma(&self, now: Nanos) -> Option<Duration> {
        self.stats.latency_ewma(now, self.ewma_decay)
    }

    pub(crate) fn in_flight(&self) -> u64 {
        self.stats.in_flight()
    }

    pub(crate) fn allowed(&self, exclude: &[ServerId]) -> bool {
        !exclude.contains(&self.id)
    }
}

/// An up server for selector tests.
#[cfg(test)]
pub(crate) fn test_server(name: &str, weight: u32) -> Arc<Server> {
    Arc::new(Server {
        id: ServerId::of_name(name),
        name: name.to_string(),
        address: "127.0.0.1:1".parse().unwrap(),
        weight,
        backup: false,
        health: Health::Up,
        admin: AdminState::Normal,
        state: ServerState::Up,
        weight_milli: weight as u64 * 1000,
        up_since: None,
        stats: Arc::new(ServerStats::new()),
        ewma_decay: Duration::from_secs(10),
        pool_load: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_id_is_stable_and_round_trips_as_hex() {
        let id = ServerId::of_name("a");
        assert_eq!(id.as_u64(), 0xd24ec4f1a98c6e5b);
        assert_eq!(id.to_string(), "d24ec4f1a98c6e5b");
        assert_eq!("d24ec4f1a98c6e5b".parse(), Ok(id));
        assert!("xyz".parse::<ServerId>().is_err());
        assert!("+24ec4f1a98c6e5b".parse::<ServerId>().is_err());
    }
}
