//! Errors of the balancing core, worded for operators: each names the pool and server.

use thiserror::Error;

/// Everything that can go wrong building or changing a pool.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    #[error("unknown server \"{server}\" in pool \"{pool}\"")]
    UnknownServer { pool: String, server: String },
    #[error("server \"{server}\" appears twice in pool \"{pool}\"")]
    DuplicateServer { pool: String, server: String },
    #[error(
        "weight {weight} of server \"{server}\" in pool \"{pool}\" is out of range (1..=1000)"
    )]
    BadWeight {
        pool: String,
        server: String,
        weight: u32,
    },
    #[error("unknown algorithm \"{given}\" (expected one of: {expected})")]
    UnknownAlgorithm { given: String, expected: String },
    #[error("maglev table size {size} is not prime (pool \"{pool}\"); use a prime such as 65537")]
    MaglevNotPrime { pool: String, size: u64 },
    #[error("maglev table size {size} in pool \"{pool}\" is out of range ({min}..={max}); pick a prime such as 65537")]
    MaglevSize {
        pool: String,
        size: u64,
        min: u64,
        max: u64,
    },
    #[error("ring_vnodes in pool \"{0}\" must be at least 1")]
    RingVnodes(String),
    #[error("hash_balance_factor {factor} in pool \"{pool}\" must be at least 100 (percent of the average load)")]
    BalanceFactor { pool: String, factor: u32 },
    #[error("panic_threshold {threshold} in pool \"{pool}\" must be a percentage (0..=100)")]
    PanicThreshold { pool: String, threshold: u8 },
    #[error("ewma_decay in pool \"{0}\" must be longer than zero")]
    EwmaDecay(String),
    #[error("invalid hash_key \"{given}\": expected source_ip, connection, header:NAME, cookie:NAME, query:NAME, path or host")]
    BadHashKey { given: String },
    #[error("invalid server id \"{0}\": expected 16 hex digits")]
    BadServerId(String),
    #[error("unknown server state \"{0}\" (expected up, down, draining or disabled)")]
    BadState(String),
    #[error("unknown admin state \"{0}\" (expected normal, draining or disabled)")]
    BadAdminState(String),
}
