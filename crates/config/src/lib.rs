//! Configuration: TOML to a validated model, with `FILE:LINE:COL` on every error, and
//! `diff(old, new)` for hot reload.
//!
//! Other crates code against [`model`]; they never see TOML.

pub mod model;

pub use model::*;
