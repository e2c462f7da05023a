//! Server selection: the server set, its states, and every balancing algorithm.
//!
//! Pure: no I/O, no tokio. Time and randomness are inputs so that the proxy, the DNS
//! server and the simulator run exactly the same decisions. Time is a `u64` count of
//! nanoseconds on a monotonic clock the caller owns ([`Nanos`]); randomness is any
//! [`rand::RngCore`] the caller passes in, so a seeded RNG gives reproducible picks.
//!
//! The shape: a [`Pool`] is the shared handle. Writers (health, admin API, reload) go
//! through a `Mutex` on the cold path and publish an immutable [`Snapshot`] through
//! `arc_swap`; readers load the snapshot and pick without locks or allocation. Per-server
//! counters live in [`ServerStats`] behind an `Arc` that every rebuild carries over.

mod algorithms;
/// The shared monotonic clock for I/O callers (decisions take time as an input).
pub mod clock;
mod error;
mod hash;
pub mod histogram;
mod pick;
mod pool;
mod server;
mod snapshot;
mod spec;
mod stats;

pub use algorithms::maglev::{build_maglev_table, is_prime};
pub use error::Error;
pub use hash::{hash_addr, hash_bytes, hash_ip, rendezvous, HashKey};
pub use histogram::{Histogram, HistogramSnapshot};
pub use pick::{PickRequest, Picked};
pub use pool::Pool;
pub use server::{Server, ServerId};
pub use snapshot::{Snapshot, SLOW_START_FLOOR};
pub use spec::{
    AdminState, Algorithm, AlgorithmParams, Health, PoolSpec, ServerSpec, ServerState, MAX_WEIGHT,
};
pub use stats::ServerStats;

/// Nanoseconds on the caller's monotonic clock (the proxy's `Instant` base, the
/// simulator's virtual clock). Only differences between two values are meaningful.
pub type Nanos = u64;
