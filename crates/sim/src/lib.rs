//! The discrete-event simulator: drives the `balance` and `health` crates with a virtual clock.
