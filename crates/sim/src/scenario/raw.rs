//! The scenario as serde reads it: one struct per table, unknown keys rejected, and
//! durations parsed while reading so that a bad one is reported at its position.

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use super::DeadServer;
use crate::duration::parse_duration;
use crate::Nanos;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    #[serde(default = "default_seed")]
    pub(super) seed: u64,
    pub(super) duration: Dur,
    #[serde(default)]
    pub(super) warmup: Option<Dur>,
    pub(super) algorithms: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) direct: Option<Spanned<String>>,
    #[serde(default = "one")]
    pub(super) balancers: Spanned<u32>,
    #[serde(default)]
    pub(super) clients: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) timeout: Option<Timeout>,
    #[serde(default)]
    pub(super) retries: u32,
    #[serde(default = "default_dead")]
    pub(super) dead_server: DeadServer,
    #[serde(default)]
    pub(super) slow_start: Option<Dur>,
    #[serde(default)]
    pub(super) panic_threshold: Option<Spanned<u8>>,
    #[serde(default = "default_windows")]
    pub(super) windows: Spanned<u32>,
    pub(super) arrivals: Spanned<RawArrivals>,
    pub(super) service: Spanned<RawService>,
    #[serde(default)]
    pub(super) health: Option<Spanned<RawHealth>>,
    #[serde(default)]
    pub(super) outlier: Option<Spanned<RawOutlier>>,
    #[serde(rename = "server")]
    pub(super) servers: Spanned<Vec<Spanned<RawServer>>>,
    #[serde(rename = "event", default)]
    pub(super) events: Vec<Spanned<RawEvent>>,
    #[serde(default)]
    pub(super) dns: Option<Spanned<RawDns>>,
}

#[derive(Deserialize)]
#[serde(tag = "process", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum RawArrivals {
    Poisson { rate: f64 },
    Bursty { rate: f64, on: Dur, off: Dur },
    Constant { rate: f64 },
    Trace { file: String },
}

#[derive(Deserialize)]
#[serde(tag = "distribution", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum RawService {
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
pub(super) struct RawHealth {
    pub(super) interval: Dur,
    pub(super) timeout: Dur,
    #[serde(default = "default_rise")]
    pub(super) rise: u32,
    #[serde(default = "default_fall")]
    pub(super) fall: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutlier {
    #[serde(default)]
    pub(super) consecutive_failures: Option<u32>,
    #[serde(default)]
    pub(super) base_ejection: Option<Dur>,
    #[serde(default)]
    pub(super) max_ejection: Option<Dur>,
    #[serde(default)]
    pub(super) max_ejection_percent: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) name: String,
    #[serde(default = "one_f64")]
    pub(super) speed: f64,
    #[serde(default = "one_u32")]
    pub(super) concurrency: u32,
    #[serde(default)]
    pub(super) queue: Option<u32>,
    #[serde(default = "one_u32")]
    pub(super) weight: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvent {
    pub(super) at: Dur,
    #[serde(default)]
    pub(super) kill: Option<String>,
    #[serde(default)]
    pub(super) revive: Option<String>,
    #[serde(default)]
    pub(super) set_weight: Option<RawSetWeight>,
    #[serde(default)]
    pub(super) slow: Option<RawSlow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSetWeight {
    pub(super) server: String,
    pub(super) weight: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlow {
    pub(super) server: String,
    pub(super) factor: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDns {
    pub(super) resolvers: u32,
    pub(super) ttl: Dur,
    #[serde(default)]
    pub(super) shares: Option<Vec<f64>>,
}

/// A duration string, checked while it is read so errors carry their position.
pub(super) struct Dur(pub(super) Nanos);

/// A timeout: a duration or `"none"`.
pub(super) struct Timeout(pub(super) Option<Nanos>);

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
