//! The contract between the admin server and the runtime.
//!
//! The runtime owns pools, listeners, health checks and reload; the admin server only
//! asks. [`Control`] is object-safe (served as `Arc<dyn Control>`) and async-trait-free:
//! every call is a quick synchronous operation on snapshots and atomics, except
//! [`Control::reload`], which returns a boxed future so the runtime can read files and
//! rebuild state on its own schedule (for example inside `spawn_blocking`).

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::state::{ConnectionsDoc, StateDoc};

/// What [`Control::reload`] returns: the summary, or every configuration error found.
pub type ReloadFuture =
    Pin<Box<dyn Future<Output = Result<ReloadSummary, Vec<String>>> + Send + 'static>>;

/// The runtime's side of the admin API. Implementations log each change they make, in
/// operators' words; the handlers do not, so one change is one log line.
pub trait Control: Send + Sync + 'static {
    /// A snapshot of everything the API and dashboard show.
    fn state(&self) -> StateDoc;

    /// Starts draining `server` of `pool`: no new connections, sessions or sticky users.
    fn drain(&self, pool: &str, server: &str) -> Result<(), ControlError>;

    /// Returns `server` to normal service (health permitting).
    fn enable(&self, pool: &str, server: &str) -> Result<(), ControlError>;

    /// Takes `server` out of service entirely.
    fn disable(&self, pool: &str, server: &str) -> Result<(), ControlError>;

    /// Sets the server's weight; the admin server has already checked `1..=1000`.
    fn set_weight(&self, pool: &str, server: &str, weight: u32) -> Result<(), ControlError>;

    /// Switches the pool's selection algorithm; unknown or unusable names are
    /// [`ControlError::BadRequest`].
    fn set_algorithm(&self, pool: &str, algorithm: &str) -> Result<(), ControlError>;

    /// Re-reads the configuration file and applies it; on failure the old
    /// configuration keeps serving and every error is returned, in `FILE:LINE:COL: message` form.
    fn reload(&self) -> ReloadFuture;

    /// A page of the L4 connection table: `limit` live connections from `offset`, oldest
    /// first, and the total. A runtime without `tcp`/`tls` listeners has none, which is
    /// what the default answers.
    fn connections(&self, offset: usize, limit: usize) -> ConnectionsDoc {
        ConnectionsDoc {
            total: 0,
            offset,
            limit,
            connections: Vec::new(),
        }
    }

    /// True once every listener is bound and every pool has had its first health
    /// round; false again while shutting down.
    fn ready(&self) -> bool;

    /// Appends the data-plane metrics to the `/metrics` exposition, using
    /// [`crate::metrics::family`]. The default renders what the state document holds
    /// ([`crate::render_state`]); a runtime that keeps histograms overrides it and
    /// typically calls `render_state` and then adds its histogram families.
    fn render_metrics(&self, out: &mut String) {
        crate::render_state(out, &self.state());
    }
}

/// Why a control call failed; each maps to one HTTP status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No such pool or server (404).
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be applied as asked (400), e.g. an unknown algorithm.
    #[error("{0}")]
    BadRequest(String),
    /// The runtime failed (500).
    #[error("{0}")]
    Internal(String),
}

/// What a successful reload changed, by kind and name (e.g. `"listener web"`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadSummary {
    #[serde(default)]
    pub added: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
    #[serde(default)]
    pub changed: Vec<String>,
    /// How many listeners, pools and zones were left untouched.
    #[serde(default)]
    pub unchanged: usize,
}

// === impl ControlError ===

impl ControlError {
    /// `pool NAME does not exist`.
    pub fn unknown_pool(pool: &str) -> Self {
        Self::NotFound(format!("pool {pool} does not exist"))
    }

    /// `pool POOL has no server NAME`.
    pub fn unknown_server(pool: &str, server: &str) -> Self {
        Self::NotFound(format!("pool {pool} has no server {server}"))
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::NotFound(_) => http::StatusCode::NOT_FOUND,
            Self::BadRequest(_) => http::StatusCode::BAD_REQUEST,
            Self::Internal(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
