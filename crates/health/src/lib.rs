//! Health state machines: rise/fall of active checks, passive outlier ejection, panic mode,
//! and the pure helpers the runtime's probes use (HTTP status ranges, gRPC health messages).
//!
//! Pure: the caller feeds probe results, real-traffic outcomes, the current time (as
//! [`Nanos`] on a monotonic clock of its choosing) and randomness. No I/O, no clock reads,
//! so the proxy and the discrete-event simulator run exactly the same decisions. The
//! probes themselves (TCP connect, HTTP request, gRPC call) live in the runtime.
//!
//! ```
//! use std::time::Duration;
//! use switchyard_health::{ActiveConfig, ActiveHealth, HealthState, ProbeResult};
//!
//! let mut b = ActiveHealth::new(&ActiveConfig { rise: 2, fall: 3, ..ActiveConfig::default() });
//! let ms = Duration::from_millis(1);
//! assert!(b.record(ProbeResult::success(ms, "status 200"), 0).is_some()); // up at once
//! let mut change = None;
//! for t in 1..=3 {
//!     change = b.record(ProbeResult::failure(ms, "connection refused"), t);
//! }
//! let change = change.expect("the third failure takes it down");
//! assert_eq!(change.to, HealthState::Down);
//! assert_eq!(change.reason(), "3 consecutive failed checks: connection refused");
//! ```

mod active;
mod duration;
mod grpc;
mod outlier;
mod panic;
mod probe;
mod status;

pub use active::{next_delay, ActiveConfig, ActiveConfigError, ActiveHealth};
pub use duration::{format_duration, nanos_of};
pub use grpc::{
    decode_frame, decode_health_body, decode_health_response, encode_frame, encode_health_request,
    GrpcError, ServingStatus, FRAME_HEADER_LEN, MAX_MESSAGE_LEN,
};
pub use outlier::{
    Ejection, OutlierConfig, OutlierDetector, OutlierStats, DECAY_FACTOR, MAX_EJECTION,
};
pub use panic::in_panic;
pub use probe::{HealthState, LastCheck, ProbeResult, Transition, TransitionCause};
pub use status::{StatusRangeError, StatusRanges};

/// A point in time: nanoseconds on the caller's monotonic clock (any epoch; only
/// differences matter). The runtime uses a process-start `Instant`; the simulator its
/// virtual clock.
pub type Nanos = u64;
