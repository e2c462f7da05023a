//! Shared helpers for the integration tests: pools of named servers on loopback.

#![allow(dead_code)]

use std::net::SocketAddr;

use switchyard_balance::{Algorithm, Pool, PoolSpec, ServerSpec};

pub fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9000 + i as u16))
}

/// Servers `s0..` with the given weights, all primaries.
pub fn spec(algorithm: Algorithm, weights: &[u32]) -> PoolSpec {
    let servers = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| ServerSpec::new(format!("s{i}"), addr(i)).with_weight(w))
        .collect();
    PoolSpec::new("app", algorithm, servers)
}

/// A pool whose servers are all up from the start.
pub fn up_pool(algorithm: Algorithm, weights: &[u32]) -> Pool {
    Pool::new_all_up(spec(algorithm, weights), 0).unwrap()
}

/// The index in `s0..` of a server name.
pub fn index(name: &str) -> usize {
    name[1..].parse().unwrap()
}
