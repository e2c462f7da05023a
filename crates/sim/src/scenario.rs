//! The scenario file: what `switchyard simulate SCENARIO` reads (see docs/simulate.md).
//!
//! Parsing happens in two steps: serde reads the TOML into `Raw*` structs (unknown keys
//! are errors, durations are checked as they are read so the TOML error carries the
//! position), then [`Scenario::parse_named`] checks what spans several keys (server
//! references, event kinds) and builds the validated [`Scenario`] the engine runs.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::duration::parse_duration;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default = "default_seed")]
    seed: u64,
    duration: Dur,
    #[serde(default)]
    warmup: Option<Dur>,
    algorithms: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    direct: Option<Spanned<String>>,
    #[serde(default = "one")]
    balancers: Spanned<u32>,
    #[serde(default)]
    clients: Option<Spanned<u32>>,
    #[serde(default)]
    timeout: Option<Timeout>,
    #[serde(default)]
    retries: u32,
    #[serde(default = "default_dead")]
    dead_server: DeadServer,
    #[serde(default)]
    panic_threshold: Option<Spanned<u8>>,
    #[serde(default = "default_windows")]
    windows: Spanned<u32>,
    arrivals: Spanned<RawArrivals>,
    service: Spanned<RawService>,
    #[serde(default)]
    health: Option<Spanned<RawHealth>>,
    #[serde(default)]
    outlier: Option<Spanned<RawOutlier>>,
    #[serde(rename = "server")]
    servers: Spanned<Vec<Spanned<RawServer>>>,
    #[serde(rename = "event", default)]
    events: Vec<Spanned<RawEvent>>,
    #[serde(default)]
    dns: Option<Spanned<RawDns>>,
}

#[derive(Deserialize)]
#[serde(tag = "process", rename_all = "snake_case", deny_unknown_fields)]
enum RawArrivals {
    Poisson { rate: f64 },
    Bursty { rate: f64, on: Dur, off: Dur },
    Constant { rate: f64 },
    Trace { file: String },
}

#[derive(Deserialize)]
#[serde(tag = "distribution", rename_all = "snake_case", deny_unknown_fields)]
enum RawService {
    Exponential {
        mean: Dur,
    },
    Lognormal {
        mean: Dur,
        sigma: f64,
    },
    Constant {
        mean: Dur,
    },
    Bimodal {
        fast: Dur,
        slow: Dur,
        slow_fraction: f64,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    interval: Dur,
    timeout: Dur,
    #[serde(default = "default_rise")]
    rise: u32,
    #[serde(default = "default_fall")]
    fall: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutlier {
    #[serde(default)]
    consecutive_failures: Option<u32>,
    #[serde(default)]
    base_ejection: Option<Dur>,
    #[serde(default)]
    max_ejection: Option<Dur>,
    #[serde(default)]
    max_ejection_percent: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    name: String,
    #[serde(default = "one_f64")]
    speed: f64,
    #[serde(default = "one_u32")]
    concurrency: u32,
    #[serde(default)]
    queue: Option<u32>,
    #[serde(default = "one_u32")]
    weight: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    at: Dur,
    #[serde(default)]
    kill: Option<String>,
    #[serde(default)]
    revive: Option<String>,
    #[serde(default)]
    set_weight: Option<RawSetWeight>,
    #[serde(default)]
    slow: Option<RawSlow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSetWeight {
    server: String,
    weight: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlow {
    server: String,
    factor: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDns {
    resolvers: u32,
    ttl: Dur,
    #[serde(default)]
    shares: Option<Vec<f64>>,
}

/// A duration string, checked while it is read so errors carry their position.
struct Dur(Nanos);

/// A timeout: a duration or `"none"`.
struct Timeout(Option<Nanos>);

fn default_seed() -> u64 {
    1
}
fn one() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}
fn one_u32() -> u32 {
    1
}
fn one_f64() -> f64 {
    1.0
}
fn default_dead() -> DeadServer {
    DeadServer::Timeout
}
fn default_windows() -> Spanned<u32> {
    Spanned::new(0..0, 60)
}
fn default_rise() -> u32 {
    2
}
fn default_fall() -> u32 {
    3
}

/// The per-attempt timeout when a scenario names none.
pub const DEFAULT_TIMEOUT: Nanos = 30_000_000_000;

// === impl Dur, Timeout ===

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "none" {
            return Ok(Timeout(None));
        }
        match parse_duration(&text) {
            Ok(0) => Err(serde::de::Error::custom(
                "timeout must be greater than 0 (or \"none\" to wait forever)",
            )),
            Ok(n) => Ok(Timeout(Some(n))),
            Err(e) => Err(serde::de::Error::custom(e)),
        }
    }
}

// === impl Scenario ===

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
        let raw: RawScenario = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            SimError::at(file, text, offset, e.message().trim_end())
        })?;
        Checker { file, text }.build(raw, dir)
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

/// Builds a [`Scenario`] from raw parts, turning each problem into a positioned error.
struct Checker<'a> {
    file: &'a str,
    text: &'a str,
}

impl Checker<'_> {
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> Result<T, SimError> {
        Err(SimError::at(self.file, self.text, span.start, message))
    }

    fn build(&self, raw: RawScenario, dir: &Path) -> Result<Scenario, SimError> {
        let servers = self.servers(&raw.servers)?;
        let find = |name: &Spanned<String>| -> Result<usize, SimError> {
            match servers.iter().position(|s| s.name == *name.get_ref()) {
                Some(i) => Ok(i),
                None => self.err(name.span(), format!("no server named {:?}", name.get_ref())),
            }
        };
        let algorithms = self.algorithms(&raw.algorithms)?;
        let direct = raw.direct.as_ref().map(find).transpose()?;
        if *raw.balancers.get_ref() == 0 {
            return self.err(raw.balancers.span(), "balancers must be at least 1");
        }
        if *raw.windows.get_ref() == 0 || *raw.windows.get_ref() > 10_000 {
            return self.err(raw.windows.span(), "windows must be between 1 and 10000");
        }
        let duration = raw.duration.0;
        if duration == 0 {
            return self.err(0..0, "duration must be greater than 0");
        }
        let warmup = raw.warmup.map_or(0, |w| w.0);
        if warmup >= duration {
            return self.err(0..0, "warmup must be shorter than duration");
        }
        let mut events = Vec::with_capacity(raw.events.len());
        for event in &raw.events {
            events.push(self.event(event, &servers)?);
        }
        events.sort_by_key(|e| e.at);
        Ok(Scenario {
            seed: raw.seed,
            duration,
            warmup,
            algorithms,
            direct,
            balancers: *raw.balancers.get_ref() as usize,
            clients: match raw.clients {
                Some(c) if *c.get_ref() == 0 => {
                    return self.err(c.span(), "clients must be at least 1")
                }
                c => c.map(|c| *c.get_ref()),
            },
            timeout: raw.timeout.map_or(Some(DEFAULT_TIMEOUT), |t| t.0),
            retries: raw.retries,
            dead_server: raw.dead_server,
            panic_threshold: match raw.panic_threshold {
                Some(p) if *p.get_ref() > 100 => {
                    return self.err(p.span(), "panic_threshold is a percentage: 0..=100")
                }
                p => p.map(|p| *p.get_ref()),
            },
            windows: *raw.windows.get_ref() as usize,
            arrivals: self.arrivals(&raw.arrivals, dir)?,
            service: self.service(&raw.service)?,
            health: raw.health.as_ref().map(|h| self.health(h)).transpose()?,
            outlier: raw.outlier.as_ref().map(|o| self.outlier(o)).transpose()?,
            servers,
            events,
            dns: raw.dns.as_ref().map(|d| self.dns(d)).transpose()?,
        })
    }

    fn algorithms(&self, raw: &Spanned<Vec<Spanned<String>>>) -> Result<Vec<String>, SimError> {
        if raw.get_ref().is_empty() {
            return self.err(raw.span(), "algorithms must name at least one algorithm");
        }
        let mut seen = HashSet::new();
        let mut names = Vec::new();
        for name in raw.get_ref() {
            crate::pool::check_algorithm(name.get_ref()).or_else(|m| self.err(name.span(), m))?;
            if name.get_ref() == crate::DIRECT {
                return self.err(
                    name.span(),
                    "\"direct\" is not an algorithm: use direct = \"SERVER\"",
                );
            }
            if !seen.insert(name.get_ref().clone()) {
                return self.err(
                    name.span(),
                    format!("algorithm {:?} is listed twice", name.get_ref()),
                );
            }
            names.push(name.get_ref().clone());
        }
        Ok(names)
    }

    fn servers(&self, raw: &Spanned<Vec<Spanned<RawServer>>>) -> Result<Vec<SimServer>, SimError> {
        if raw.get_ref().is_empty() {
            return self.err(raw.span(), "a scenario needs at least one [[server]]");
        }
        let mut seen = HashSet::new();
        let mut servers = Vec::new();
        for s in raw.get_ref() {
            let (span, s) = (s.span(), s.get_ref());
            if !seen.insert(s.name.clone()) {
                return self.err(span, format!("server {:?} is defined twice", s.name));
            }
            if !(s.speed.is_finite() && s.speed > 0.0) {
                return self.err(
                    span,
                    format!("server {:?}: speed must be greater than 0", s.name),
                );
            }
            if s.concurrency == 0 {
                return self.err(
                    span,
                    format!("server {:?}: concurrency must be at least 1", s.name),
                );
            }
            if !(1..=1000).contains(&s.weight) {
                return self.err(
                    span,
                    format!("server {:?}: weight must be 1..=1000", s.name),
                );
            }
            servers.push(SimServer {
                name: s.name.clone(),
                speed: s.speed,
                concurrency: s.concurrency,
                queue: s.queue.unwrap_or(u32::MAX),
                weight: s.weight,
            });
        }
        Ok(servers)
    }

    fn event(&self, raw: &Spanned<RawEvent>, servers: &[SimServer]) -> Result<Event, SimError> {
        let (span, e) = (raw.span(), raw.get_ref());
        let mut actions: Vec<(&str, Action)> = Vec::new();
        if let Some(s) = &e.kill {
            actions.push((s, Action::Kill));
        }
        if let Some(s) = &e.revive {
            actions.push((s, Action::Revive));
        }
        if let Some(w) = &e.set_weight {
            if !(1..=1000).contains(&w.weight) {
                return self.err(span, "set_weight: weight must be 1..=1000");
            }
            actions.push((&w.server, Action::SetWeight(w.weight)));
        }
        if let Some(s) = &e.slow {
            if !(s.factor.is_finite() && s.factor > 0.0) {
                return self.err(span, "slow: factor must be greater than 0");
            }
            actions.push((&s.server, Action::Slow(s.factor)));
        }
        if actions.len() != 1 {
            return self.err(
                span,
                "an [[event]] needs exactly one of kill, revive, set_weight, slow",
            );
        }
        let (name, action) = actions.remove(0);
        let Some(server) = servers.iter().position(|s| s.name == name) else {
            return self.err(span, format!("event names no server called {name:?}"));
        };
        Ok(Event {
            at: e.at.0,
            server,
            action,
        })
    }

    fn arrivals(&self, raw: &Spanned<RawArrivals>, dir: &Path) -> Result<Arrivals, SimError> {
        let rate_ok = |rate: f64| rate.is_finite() && rate > 0.0;
        let arrivals = match raw.get_ref() {
            RawArrivals::Poisson { rate } => Arrivals::Poisson { rate: *rate },
            RawArrivals::Constant { rate } => Arrivals::Constant { rate: *rate },
            RawArrivals::Bursty { rate, on, off } => {
                if on.0 == 0 {
                    return self.err(raw.span(), "arrivals: bursty needs on greater than 0");
                }
                Arrivals::Bursty {
                    rate: *rate,
                    on: on.0,
                    off: off.0,
                }
            }
            RawArrivals::Trace { file } => {
                return Ok(Arrivals::Trace {
                    file: dir.join(file),
                })
            }
        };
        match arrivals {
            Arrivals::Poisson { rate }
            | Arrivals::Constant { rate }
            | Arrivals::Bursty { rate, .. }
                if !rate_ok(rate) =>
            {
                self.err(
                    raw.span(),
                    "arrivals: rate must be greater than 0 (requests per second)",
                )
            }
            a => Ok(a),
        }
    }

    fn service(&self, raw: &Spanned<RawService>) -> Result<Service, SimError> {
        let service = match raw.get_ref() {
            RawService::Exponential { mean } => Service::Exponential { mean: mean.0 },
            RawService::Constant { mean } => Service::Constant { mean: mean.0 },
            RawService::Lognormal { mean, sigma } => {
                if !(sigma.is_finite() && *sigma >= 0.0) {
                    return self.err(raw.span(), "service: sigma must be 0 or more");
                }
                Service::Lognormal {
                    mean: mean.0,
                    sigma: *sigma,
                }
            }
            RawService::Bimodal {
                fast,
                slow,
                slow_fraction,
            } => {
                if !(0.0..=1.0).contains(slow_fraction) {
                    return self.err(raw.span(), "service: slow_fraction must be between 0 and 1");
                }
                Service::Bimodal {
                    fast: fast.0,
                    slow: slow.0,
                    slow_fraction: *slow_fraction,
                }
            }
        };
        Ok(service)
    }

    fn health(&self, raw: &Spanned<RawHealth>) -> Result<HealthSpec, SimError> {
        let h = raw.get_ref();
        if h.interval.0 == 0 || h.timeout.0 == 0 {
            return self.err(
                raw.span(),
                "health: interval and timeout must be greater than 0",
            );
        }
        if h.rise == 0 || h.fall == 0 {
            return self.err(raw.span(), "health: rise and fall must be at least 1");
        }
        Ok(HealthSpec {
            interval: h.interval.0,
            timeout: h.timeout.0,
            rise: h.rise,
            fall: h.fall,
        })
    }

    fn outlier(&self, raw: &Spanned<RawOutlier>) -> Result<OutlierSpec, SimError> {
        let o = raw.get_ref();
        if o.max_ejection_percent.is_some_and(|p| p > 100) {
            return self.err(
                raw.span(),
                "outlier: max_ejection_percent is a percentage: 0..=100",
            );
        }
        if o.base_ejection.as_ref().is_some_and(|d| d.0 == 0) {
            return self.err(raw.span(), "outlier: base_ejection must be greater than 0");
        }
        Ok(OutlierSpec {
            consecutive_failures: o.consecutive_failures,
            base_ejection: o.base_ejection.as_ref().map(|d| d.0),
            max_ejection: o.max_ejection.as_ref().map(|d| d.0),
            max_ejection_percent: o.max_ejection_percent,
        })
    }

    fn dns(&self, raw: &Spanned<RawDns>) -> Result<Dns, SimError> {
        let d = raw.get_ref();
        if d.resolvers == 0 {
            return self.err(raw.span(), "dns: resolvers must be at least 1");
        }
        let shares = match &d.shares {
            None => vec![1.0 / d.resolvers as f64; d.resolvers as usize],
            Some(s) => {
                let total: f64 = s.iter().sum();
                if s.len() != d.resolvers as usize
                    || s.iter().any(|x| x.is_nan() || *x < 0.0)
                    || total <= 0.0
                {
                    return self.err(
                        raw.span(),
                        "dns: shares needs one non-negative number per resolver",
                    );
                }
                s.iter().map(|x| x / total).collect()
            }
        };
        Ok(Dns {
            shares,
            ttl: d.ttl.0,
        })
    }
}
