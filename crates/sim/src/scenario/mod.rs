//! The scenario file: what `switchyard simulate SCENARIO` reads (see docs/simulate.md).
//!
//! Parsing happens in two steps: serde reads the TOML into the `raw` structs (unknown
//! keys are errors, durations are checked as they are read so the TOML error carries the
//! position), then `check` verifies what spans several keys (server references, event
//! kinds, ranges) and builds the validated [`Scenario`] the engine runs.

mod check;
mod raw;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Nanos, SimError};

/// A validated scenario: everything the engine needs, in nanoseconds.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    /// Arrivals stop at this time; requests in flight then still finish.
    pub duration: Nanos,
    /// Requests arriving before this time are served but not counted.
    pub warmup: Nanos,
    /// Algorithm names, as `switchyard_balance::Algorithm` parses them.
    pub algorithms: Vec<String>,
    /// Index of the server that a baseline run named `direct` sends everything to.
    pub direct: Option<usize>,
    /// Independent balancer instances, each with its own state.
    pub balancers: usize,
    /// Distinct clients; a request's hash key (ring_hash, maglev) is its client's.
    pub clients: Option<u32>,
    /// Per-attempt request timeout; `None` waits forever.
    pub timeout: Option<Nanos>,
    /// Extra attempts after a failed one.
    pub retries: u32,
    pub dead_server: DeadServer,
    /// A server coming up ramps its weight up over this time (`[[pool]] slow_start`).
    pub slow_start: Option<Nanos>,
    /// Panic mode threshold in percent (`None`: the balance crate's default).
    pub panic_threshold: Option<u8>,
    /// Time windows of the charts.
    pub windows: usize,
    pub arrivals: Arrivals,
    pub service: Service,
    pub health: Option<HealthSpec>,
    pub outlier: Option<OutlierSpec>,
    pub servers: Vec<SimServer>,
    /// Sorted by time (stable: same-time events keep file order).
    pub events: Vec<Event>,
    pub dns: Option<Dns>,
}

/// What a killed server does to requests and health checks sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadServer {
    /// Nothing answers (a crashed host): requests and checks wait for their timeout.
    Timeout,
    /// Connections are refused at once (a crashed process on a live host).
    Refuse,
}

/// How requests arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrivals {
    /// Exponential gaps at `rate` per second.
    Poisson { rate: f64 },
    /// Poisson at `rate` during `on`, nothing during `off`, repeating.
    Bursty { rate: f64, on: Nanos, off: Nanos },
    /// Exactly `1/rate` seconds apart.
    Constant { rate: f64 },
    /// Replays the arrival times (seconds, one per line) of a file.
    Trace { file: PathBuf },
}

/// How much work a request is, at speed 1.
#[derive(Debug, Clone, PartialEq)]
pub enum Service {
    Exponential {
        mean: Nanos,
    },
    /// `sigma` is the standard deviation of the underlying normal.
    Lognormal {
        mean: Nanos,
        sigma: f64,
    },
    Constant {
        mean: Nanos,
    },
    /// `slow` with probability `slow_fraction`, else `fast`.
    Bimodal {
        fast: Nanos,
        slow: Nanos,
        slow_fraction: f64,
    },
}

/// Active health checks, run by every balancer instance against every server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    pub interval: Nanos,
    pub timeout: Nanos,
    pub rise: u32,
    pub fall: u32,
}

/// Passive health (`[outlier]`): each balancer instance ejects a server that fails
/// `consecutive_failures` of its requests in a row. `None` fields take the health
/// crate's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutlierSpec {
    pub consecutive_failures: Option<u32>,
    pub base_ejection: Option<Nanos>,
    pub max_ejection: Option<Nanos>,
    pub max_ejection_percent: Option<u8>,
}

/// One simulated server.
#[derive(Debug, Clone, PartialEq)]
pub struct SimServer {
    pub name: String,
    pub speed: f64,
    pub concurrency: u32,
    /// Waiting room beyond `concurrency`; `u32::MAX` is unlimited.
    pub queue: u32,
    pub weight: u32,
}

/// Something that happens to a server at a given time.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: Nanos,
    pub server: usize,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Kill,
    Revive,
    SetWeight(u32),
    /// Service times of requests started from now on are multiplied by this.
    Slow(f64),
}

/// Clients reach servers through caching resolvers instead of a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct Dns {
    /// Share of the clients behind each resolver (sums to 1).
    pub shares: Vec<f64>,
    pub ttl: Nanos,
}

/// The per-attempt timeout when a scenario names none.
pub const DEFAULT_TIMEOUT: Nanos = 30_000_000_000;

// === impl Scenario ===

/// Said with a missing key: what every scenario has, and where complete ones are.
const MISSING_HINT: &str = "every scenario needs duration, algorithms, [arrivals], [service] \
and at least one [[server]]; see docs/simulate.md and the examples in scenarios/";

impl Scenario {
    /// Parses scenario text; errors name the file as `<scenario>`, and a trace file is
    /// looked up relative to the current directory.
    pub fn parse(text: &str) -> Result<Self, SimError> {
        Self::parse_named(text, "<scenario>", Path::new("."))
    }

    /// Reads and parses a scenario file; a trace file is relative to the scenario's directory.
    pub fn load(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
            path: path.to_owned(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse_named(&text, &path.display().to_string(), dir)
    }

    /// Parses scenario text, naming `file` in errors; relative trace paths start at `dir`.
    pub fn parse_named(text: &str, file: &str, dir: &Path) -> Result<Self, SimError> {
        let raw: raw::RawScenario = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let message = e.message().trim_end();
            let top = ["duration", "algorithms", "arrivals", "service", "server"];
            let missing_top = top
                .iter()
                .any(|k| message == format!("missing field `{k}`"));
            let message = if missing_top {
                format!("{message} ({MISSING_HINT})")
            } else {
                message.to_owned()
            };
            SimError::at(file, text, offset, message)
        })?;
        check::Checker { file, text }.build(raw, dir)
    }

    /// The names of the runs, in order: `direct` first when asked for, then each algorithm.
    pub fn run_names(&self) -> Vec<String> {
        let direct = self.direct.map(|_| crate::DIRECT.to_owned());
        direct
            .into_iter()
            .chain(self.algorithms.iter().cloned())
            .collect()
    }
}
