//! Server selection: the server set, its states, and every balancing algorithm.
//!
//! Pure: no I/O, no tokio. Time and randomness are inputs so that the proxy, the DNS
//! server and the simulator run exactly the same decisions.

/// The shared monotonic clock for I/O callers (the decisions themselves take time as input).
pub mod clock;
pub use clock::Nanos;
