//! Socket helpers shared by the data planes (`http`, `l4`, `dns`).
//!
//! Each data plane runs its own accept loop; what they must all do alike when `accept(2)`
//! fails lives here, so the loops behave and log the same way. The open-file limit that
//! bounds how many connections they can hold is raised here too. The access log writer
//! lives here so HTTP and L4 listeners share one per process.

#![warn(missing_docs)]

use std::time::Duration;

/// How long a connection accepted just before its server stopped (shutdown, a reload
/// that removes or replaces it) may still take to send its first request: a client that
/// connected a moment earlier is answered, a silent one does not hold up the stop. The
/// HTTP engines and the admin API use it alike.
pub const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

mod accept;
pub mod access_log;
mod fd_limit;
mod shared_throttle;

pub use accept::{pause_for, AcceptErrors, Throttle, Verdict};
pub use access_log::{AccessLogger, LogLine};
pub use fd_limit::{raise_open_file_limit, FdLimit, LOW_FD_LIMIT};
pub use shared_throttle::SharedThrottle;
