//! Configuration: TOML to a validated model, with `FILE:LINE:COL` on every error, and
//! `diff(old, new)` for hot reload.
