//! switchyard's admin plane: the admin API server, the Prometheus metrics exposition and
//! the embedded live dashboard.
//!
//! The crate knows nothing about pools, listeners or health checks itself. The runtime
//! owns all of that and implements [`Control`], a small object-safe trait through which
//! the admin server reads a [`StateDoc`] snapshot and applies operator actions (drain,
//! enable, disable, weight, algorithm, reload). Keeping the dependency in that direction
//! means this crate stays light: the runtime and the data planes depend on it for the
//! lock-free latency [`Histogram`], the [`Counter`]/[`Gauge`] atomics and the
//! Prometheus text writer in [`metrics`], and it depends on none of them.
//!
//! Entry point: [`serve`], given a bound listener, the control handle, an optional bearer
//! token for mutating calls and a cancellation token for graceful shutdown. The API
//! reference is the module documentation of [`server`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use switchyard_admin::{Control, ControlError, ReloadFuture, ReloadSummary, StateDoc};
//!
//! struct Runtime; // owns pools, listeners, health...
//!
//! impl Control for Runtime {
//!     fn state(&self) -> StateDoc { StateDoc::default() }
//!     fn drain(&self, pool: &str, _server: &str) -> Result<(), ControlError> {
//!         Err(ControlError::unknown_pool(pool))
//!     }
//!     fn enable(&self, pool: &str, _server: &str) -> Result<(), ControlError> {
//!         Err(ControlError::unknown_pool(pool))
//!     }
//!     fn disable(&self, pool: &str, _server: &str) -> Result<(), ControlError> {
//!         Err(ControlError::unknown_pool(pool))
//!     }
//!     fn set_weight(&self, pool: &str, _server: &str, _weight: u32) -> Result<(), ControlError> {
//!         Err(ControlError::unknown_pool(pool))
//!     }
//!     fn set_algorithm(&self, pool: &str, _algorithm: &str) -> Result<(), ControlError> {
//!         Err(ControlError::unknown_pool(pool))
//!     }
//!     fn reload(&self) -> ReloadFuture {
//!         Box::pin(async { Ok(ReloadSummary::default()) })
//!     }
//!     fn ready(&self) -> bool { true }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9900").await?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! switchyard_admin::serve(listener, Arc::new(Runtime), Some("change-me".into()), shutdown).await;
//! # Ok(())
//! # }
//! ```

mod auth;
pub mod control;
pub mod counter;
mod dashboard;
mod handlers;
pub mod histogram;
pub mod metrics;
mod response;
mod routes;
pub mod server;
pub mod state;
mod state_metrics;

pub use control::{Control, ControlError, ReloadFuture, ReloadSummary};
pub use counter::{Counter, Gauge};
pub use histogram::{Histogram, HistogramSnapshot};
pub use metrics::{Family, MetricKind, MetricValue};
pub use server::serve;
pub use state::{
    AnnouncementDoc, CheckDoc, ConnectionDoc, ConnectionsDoc, DatacenterDoc, HealthDoc, LatencyDoc,
    ListenerDoc, PoolDoc, ServerDoc, ServerStatus, StateDoc,
};
pub use state_metrics::render_state;

/// The version reported in `switchyard_build_info` and in the state document.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
