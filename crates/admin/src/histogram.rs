//! The latency histogram, re-exported from `switchyard-balance`, where every server keeps
//! one in its `ServerStats`: one implementation for the data planes, the runtime, the
//! metrics exposition and the state document.

pub use switchyard_balance::histogram::*;
