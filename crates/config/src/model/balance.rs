//! Typed values owned by the decision crates, re-exported so that the model, the
//! balancer and the health checker share one definition: `Algorithm`, `HashKey` and
//! `AlgorithmParams` from `switchyard-balance`, `StatusRanges` from `switchyard-health`.
//!
//! Defaults the configuration applies: `algorithm = "weighted_round_robin"`,
//! `hash_key = "source_ip"`, `expect_status = "200-399"`, and `AlgorithmParams::default()`
//! (ring_vnodes 160, no bounded load, maglev_table_size 65537, ewma_decay 10s).

pub use switchyard_balance::{Algorithm, AlgorithmParams, HashKey};
pub use switchyard_health::StatusRanges;
