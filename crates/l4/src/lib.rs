//! The L4 proxy: TCP and UDP balancing, PROXY protocol, TLS passthrough on SNI.
//!
//! Pure decision and parsing modules (`proxy_proto`, `sni`, `udp_flows`) do no I/O and
//! are fuzzed and unit-tested; the I/O modules (`tcp`, `udp`, `copy`, `splice`) are thin
//! loops around them.

pub mod access_log;
mod connect;
pub mod conntable;
pub mod copy;
mod handshake;
mod pktinfo;
pub mod proxy_proto;
pub mod sni;
#[cfg(target_os = "linux")]
mod splice;
pub mod state;
pub mod stats;
mod tcp;
mod udp;
pub mod udp_flows;

pub use conntable::{ConnInfo, ConnTable};
pub use state::{BuildError, HashSource, Mode, PoolRef, State};
pub use stats::{ListenerStats, StatsSnapshot};
pub use tcp::serve_tcp;
pub use udp::serve_udp;
