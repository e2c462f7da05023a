//! Configuration: TOML to a validated model, with `FILE:LINE:COL` on every error, and
//! `diff(old, new)` for hot reload.
//!
//! Other crates code against [`model`]; they never see TOML. [`load`] and [`parse`]
//! return either a whole validated [`Config`] or every problem found ([`Errors`]).

mod diff;
mod error;
pub mod model;
mod parse;
mod raw;
mod validate;

pub use diff::{diff, ConfigDiff, NameDiff, PoolDiff};
pub use error::{Error, Errors};
pub use model::*;
pub use parse::{load, parse, read};
