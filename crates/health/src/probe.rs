//! What a check reports and what a state change says: probe results, the state of a
//! server, and the transitions the runtime logs as `server app/b down: <reason>`.
//!
//! Kept apart from the state machine so that the words operators read live in one
//! short file.

use std::fmt;
use std::time::Duration;

use crate::duration::format_duration;
use crate::Nanos;

/// What an active check concluded about a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthState {
    /// No check has completed yet.
    Unknown,
    Up,
    Down,
}

/// One completed probe, as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub ok: bool,
    /// Time from the start of the probe to its answer (or to the timeout).
    pub latency: Duration,
    /// What happened, in operators' words: `connection refused`, `status 503`,
    /// `timeout after 1s`; for a success e.g. `status 200`.
    pub detail: String,
}

/// The last probe result, kept for the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastCheck {
    pub ok: bool,
    pub latency: Duration,
    pub detail: String,
    /// When the result was recorded.
    pub at: Nanos,
}

/// A change of [`HealthState`], returned by [`ActiveHealth::record`](crate::ActiveHealth::record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: HealthState,
    pub to: HealthState,
    pub at: Nanos,
    pub cause: TransitionCause,
}

/// What made the state change; [`Transition::reason`] words it for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionCause {
    /// The very first check decided the state.
    FirstCheck { ok: bool, detail: String },
    /// `count` (= `rise`) consecutive successful checks.
    Rise { count: u32 },
    /// `count` (= `fall`) consecutive failed checks; `detail` is the last failure.
    Fall { count: u32, detail: String },
}

// === impl HealthState ===

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Unknown => "unknown",
            HealthState::Up => "up",
            HealthState::Down => "down",
        }
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl ProbeResult ===

impl ProbeResult {
    pub fn success(latency: Duration, detail: impl Into<String>) -> Self {
        Self {
            ok: true,
            latency,
            detail: detail.into(),
        }
    }

    pub fn failure(latency: Duration, detail: impl Into<String>) -> Self {
        Self {
            ok: false,
            latency,
            detail: detail.into(),
        }
    }

    /// A probe that got no answer within `timeout`: detail `timeout after 1s`.
    pub fn timed_out(timeout: Duration) -> Self {
        Self::failure(
            timeout,
            format!("timeout after {}", format_duration(timeout)),
        )
    }
}

// === impl Transition ===

impl Transition {
    /// Why the state changed, for `server app/b down: <reason>`:
    /// `3 consecutive failed checks: connection refused`, `2 consecutive successful
    /// checks`, `first check succeeded`, `first check failed: status 503`.
    pub fn reason(&self) -> String {
        self.cause.to_string()
    }
}

impl TransitionCause {
    /// The state this cause leads to.
    pub fn target(&self) -> HealthState {
        match self {
            TransitionCause::FirstCheck { ok: true, .. } | TransitionCause::Rise { .. } => {
                HealthState::Up
            }
            TransitionCause::FirstCheck { ok: false, .. } | TransitionCause::Fall { .. } => {
                HealthState::Down
            }
        }
    }
}

impl fmt::Display for TransitionCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransitionCause::FirstCheck { ok: true, .. } => f.write_str("first check succeeded"),
            TransitionCause::FirstCheck { ok: false, detail } => {
                write!(f, "first check failed")?;
                write_detail(f, detail)
            }
            TransitionCause::Rise { count } => {
                write!(f, "{count} consecutive successful check{}", plural(*count))
            }
            TransitionCause::Fall { count, detail } => {
                write!(f, "{count} consecutive failed check{}", plural(*count))?;
                write_detail(f, detail)
            }
        }
    }
}

fn write_detail(f: &mut fmt::Formatter<'_>, detail: &str) -> fmt::Result {
    if detail.is_empty() {
        Ok(())
    } else {
        write!(f, ": {detail}")
    }
}

fn plural(count: u32) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}
