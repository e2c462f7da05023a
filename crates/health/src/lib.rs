//! Health state machines: rise/fall of active checks, passive outlier ejection, panic mode,
//! and the pure helpers the runtime's probes use (HTTP status ranges, gRPC health messages).
//!
//! Pure: the caller feeds probe results, real-traffic outcomes, the current time (as
//! [`Nanos`] on a monotonic clock of its choosing) and randomness. No I/O, no clock reads,
//! so the proxy and the discrete-event simulator run exactly the same decisions. The
//! probes themselves (TCP connect, HTTP request, gRPC call) live in the runtime.

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
