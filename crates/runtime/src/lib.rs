//! Wiring: publishes configuration snapshots, runs background tasks (health checks,
//! anycast), reloads and shuts down.
pub mod probe;
