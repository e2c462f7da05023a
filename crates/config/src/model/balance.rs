//! Typed values that belong to `switchyard-balance` and `switchyard-health`.
//!
//! LOCAL STAND-INS: when this was written those crates did not yet export `Algorithm`,
//! `HashKey`, `AlgorithmParams` and `StatusRanges`. These small types parse the same
//! strings; switch to `switchyard_balance::{Algorithm, HashKey}` and
//! `switchyard_health::StatusRanges` (re-exported from here under the same names) once
//! they land, so users of `switchyard_config::model::*` keep compiling.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// `pool.algorithm`: how a server is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// `"round_robin"`: each server in turn, weights ignored.
    RoundRobin,
    /// `"weighted_round_robin"` (default): smooth weighted round robin.
    #[default]
    WeightedRoundRobin,
    /// `"least_connections"`: fewest active connections.
    LeastConnections,
    /// `"weighted_least_connections"`: fewest active connections per unit of weight.
    WeightedLeastConnections,
    /// `"random"`: uniformly random (weighted).
    Random,
    /// `"power_of_two"`: two random choices, the less loaded wins.
    PowerOfTwo,
    /// `"peak_ewma"`: lowest peak-sensitive moving average of latency × load.
    PeakEwma,
    /// `"ring_hash"`: consistent hashing on a ring of virtual nodes, keyed by `hash_key`.
    RingHash,
    /// `"maglev"`: Maglev consistent hashing, keyed by `hash_key`.
    Maglev,
}

/// `pool.hash_key`: what ring_hash and maglev hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum HashKey {
    /// `"source_ip"` (default): the client's IP address.
    #[default]
    SourceIp,
    /// `"header:NAME"`: a request header's value (name stored lowercase).
    Header(String),
    /// `"cookie:NAME"`: a cookie's value.
    Cookie(String),
    /// `"query:NAME"`: a query parameter's value.
    Query(String),
    /// `"path"`: the request path.
    Path,
    /// `"host"`: the Host header (HTTP) or the SNI name (TLS passthrough).
    Host,
}

/// Tuning of the algorithms, from pool keys of the same names.
#[derive(Debug, Clone, PartialEq)]
pub struct AlgorithmParams {
    /// `ring_vnodes`, default 160: ring_hash virtual nodes per unit of weight.
    pub ring_vnodes: u32,
    /// `hash_balance_factor`, optional (e.g. 1.25): consistent hashing with bounded
    /// loads; a server takes at most this factor times the average load. Must be > 1.
    pub hash_balance_factor: Option<f64>,
    /// `maglev_table_size`, default 65537: Maglev lookup table size, a prime.
    pub maglev_table_size: u32,
    /// `ewma_decay`, default `"10s"`: peak_ewma's decay time constant.
    pub ewma_decay: Duration,
}

/// `pool.health.expect_status`: accepted HTTP statuses, e.g. `"200-399"` or `"200,204"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRanges(pub Vec<StatusRange>);

/// One inclusive status range (`"200-299"`, or a single `"204"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    /// Lowest accepted status.
    pub start: u16,
    /// Highest accepted status.
    pub end: u16,
}

// === impl Algorithm ===

impl Algorithm {
    /// Every algorithm, in the order users see them listed.
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RoundRobin,
        Algorithm::WeightedRoundRobin,
        Algorithm::LeastConnections,
        Algorithm::WeightedLeastConnections,
        Algorithm::Random,
        Algorithm::PowerOfTwo,
        Algorithm::PeakEwma,
        Algorithm::RingHash,
        Algorithm::Maglev,
    ];

    /// The configuration name of every algorithm.
    pub const NAMES: [&'static str; 9] = [
        "round_robin",
        "weighted_round_robin",
        "least_connections",
        "weighted_least_connections",
        "random",
        "power_of_two",
        "peak_ewma",
        "ring_hash",
        "maglev",
    ];

    /// The name users write.
    pub fn as_str(self) -> &'static str {
        let i = Self::ALL.iter().position(|a| *a == self).unwrap_or(0);
        Self::NAMES[i]
    }

    /// Whether the algorithm uses `hash_key`.
    pub fn is_hash(self) -> bool {
        matches!(self, Algorithm::RingHash | Algorithm::Maglev)
    }
}

impl FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| Self::ALL[i])
            .ok_or_else(|| {
                format!(
                    "unknown algorithm \"{s}\"; expected one of {}",
                    Self::NAMES.join(", ")
                )
            })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl HashKey ===

impl HashKey {
    /// The accepted forms, for messages.
    pub const FORMS: &'static str = "source_ip, header:NAME, cookie:NAME, query:NAME, path, host";

    /// Whether the key can be computed without looking inside HTTP (L4 and SNI listeners).
    pub fn is_l4(&self) -> bool {
        matches!(self, HashKey::SourceIp | HashKey::Host)
    }
}

impl FromStr for HashKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid hash_key \"{s}\"; expected one of {}", Self::FORMS);
        match s {
            "source_ip" => return Ok(HashKey::SourceIp),
            "path" => return Ok(HashKey::Path),
            "host" => return Ok(HashKey::Host),
            _ => {}
        }
        let (kind, name) = s.split_once(':').ok_or_else(bad)?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad());
        }
        match kind {
            "header" => Ok(HashKey::Header(name.to_ascii_lowercase())),
            "cookie" => Ok(HashKey::Cookie(name.to_string())),
            "query" => Ok(HashKey::Query(name.to_string())),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashKey::SourceIp => f.write_str("source_ip"),
            HashKey::Header(n) => write!(f, "header:{n}"),
            HashKey::Cookie(n) => write!(f, "cookie:{n}"),
            HashKey::Query(n) => write!(f, "query:{n}"),
            HashKey::Path => f.write_str("path"),
            HashKey::Host => f.write_str("host"),
        }
    }
}

// === impl AlgorithmParams ===

impl AlgorithmParams {
    /// Default `ring_vnodes`.
    pub const DEFAULT_RING_VNODES: u32 = 160;
    /// Default `maglev_table_size` (the Maglev paper's small table).
    pub const DEFAULT_MAGLEV_TABLE_SIZE: u32 = 65537;
    /// Default `ewma_decay`.
    pub const DEFAULT_EWMA_DECAY: Duration = Duration::from_secs(10);
}

impl Default for AlgorithmParams {
    fn default() -> Self {
        AlgorithmParams {
            ring_vnodes: Self::DEFAULT_RING_VNODES,
            hash_balance_factor: None,
            maglev_table_size: Self::DEFAULT_MAGLEV_TABLE_SIZE,
            ewma_decay: Self::DEFAULT_EWMA_DECAY,
        }
    }
}

// === impl StatusRanges ===

impl StatusRanges {
    /// Whether `status` is accepted.
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|r| r.start <= status && status <= r.end)
    }
}

impl Default for StatusRanges {
    /// `200-399`.
    fn default() -> Self {
        StatusRanges(vec![StatusRange {
            start: 200,
            end: 399,
        }])
    }
}

impl FromStr for StatusRanges {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let status = |t: &str| -> Result<u16, String> {
            match t.trim().parse::<u16>() {
                Ok(n) if (100..=599).contains(&n) => Ok(n),
                _ => Err(format!(
                    "invalid status \"{}\" in expect_status \"{s}\": statuses are 100..=599",
                    t.trim()
                )),
            }
        };
        let mut out = Vec::new();
        for part in s.split(',') {
            let (start, end) = match part.split_once('-') {
                Some((a, b)) => (status(a)?, status(b)?),
                None => (status(part)?, status(part)?),
            };
            if start > end {
                return Err(format!(
                    "invalid range \"{}\" in expect_status: {start} is above {end}",
                    part.trim()
                ));
            }
            out.push(StatusRange { start, end });
        }
        Ok(StatusRanges(out))
    }
}

impl fmt::Display for StatusRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if r.start == r.end {
                write!(f, "{}", r.start)?;
            } else {
                write!(f, "{}-{}", r.start, r.end)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(a.as_str().parse::<Algorithm>(), Ok(a));
        }
        let err = "fastest".parse::<Algorithm>().unwrap_err();
        assert!(err.starts_with("unknown algorithm \"fastest\"; expected one of round_robin, "));
    }

    #[test]
    fn hash_key_forms() {
        assert_eq!(
            "header:X-User".parse(),
            Ok(HashKey::Header("x-user".into()))
        );
        assert_eq!("cookie:sid".parse(), Ok(HashKey::Cookie("sid".into())));
        assert_eq!("source_ip".parse(), Ok(HashKey::SourceIp));
        assert!("header:".parse::<HashKey>().is_err());
        assert!("body:x".parse::<HashKey>().is_err());
    }

    #[test]
    fn status_ranges_parse_and_match() {
        let r: StatusRanges = "200-299, 304".parse().unwrap();
        assert!(r.contains(204) && r.contains(304) && !r.contains(301));
        assert_eq!(r.to_string(), "200-299,304");
        assert!("300-200".parse::<StatusRanges>().is_err());
        assert!("abc".parse::<StatusRanges>().is_err());
        assert!(StatusRanges::default().contains(399));
    }
}
