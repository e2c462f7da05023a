//! What a pool is made of, as configuration gives it: algorithms and their parameters,
//! servers, and the states a server can be in.
//!
//! These are plain data with `FromStr`/`Display` in the names SPEC.md uses, so the config
//! crate, the admin API and the simulator can all speak them without translation tables.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::Error;

/// The largest weight a server may have (SPEC: `weight = 1..=1000`).
pub const MAX_WEIGHT: u32 = 1000;

/// A server's effective state, composed from health and admin state:
/// disabled > down > draining > up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerState {
    /// Healthy and in service: takes new traffic.
    Up,
    /// Failed health checks or ejected as an outlier: no traffic.
    Down,
    /// Healthy but draining: keeps sticky users and what it already has, nothing new.
    Draining,
    /// Disabled by an operator: no traffic at all.
    Disabled,
}

/// What the health system (active checks and outlier ejection) says about a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    Up,
    Down,
}

/// What an operator has asked for a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AdminState {
    /// In service, health permitting.
    #[default]
    Normal,
    /// No new traffic; sticky users and existing connections continue.
    Draining,
    /// No traffic at all.
    Disabled,
}

/// A balancing algorithm (SPEC names in `Display`/`FromStr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    RoundRobin,
    WeightedRoundRobin,
    LeastConnections,
    WeightedLeastConnections,
    Random,
    PowerOfTwo,
    PeakEwma,
    RingHash,
    Maglev,
}

/// Tuning knobs of the algorithms; `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgorithmParams {
    /// `ring_hash`: points on the ring per unit of weight (default 160).
    pub ring_vnodes: u32,
    /// `ring_hash`: bounded loads, in percent of the average in-flight load per unit of
    /// weight (e.g. 125); `None` (default) means plain consistent hashing.
    pub hash_balance_factor: Option<u32>,
    /// `maglev`: lookup table size; must be prime (default 65537).
    pub maglev_table_size: u64,
    /// `peak_ewma`: how fast the latency estimate forgets (default 10 s).
    pub ewma_decay: Duration,
}

/// One backend as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub name: String,
    pub address: SocketAddr,
    /// 1..=1000.
    pub weight: u32,
    /// Used only when no non-backup server is up.
    pub backup: bool,
}

/// A pool as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    pub name: String,
    pub algorithm: Algorithm,
    pub params: AlgorithmParams,
    pub servers: Vec<ServerSpec>,
    /// A server that comes (back) up ramps its weight up linearly over this time.
    pub slow_start: Option<Duration>,
    /// Percent (default 50; 0 disables): when fewer than this share of the in-service
    /// primary servers are up, balance over all of them ("panic mode").
    pub panic_threshold: u8,
}

// === impl ServerState ===

impl ServerState {
    /// Composes health and admin state: disabled > down > draining > up.
    pub fn compose(health: Health, admin: AdminState) -> ServerState {
        match (admin, health) {
            (AdminState::Disabled, _) => ServerState::Disabled,
            (_, Health::Down) => ServerState::Down,
            (AdminState::Draining, Health::Up) => ServerState::Draining,
            (AdminState::Normal, Health::Up) => ServerState::Up,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ServerState::Up => "up",
            ServerState::Down => "down",
            ServerState::Draining => "draining",
            ServerState::Disabled => "disabled",
        }
    }
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServerState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "up" => Ok(ServerState::Up),
            "down" => Ok(ServerState::Down),
            "draining" => Ok(ServerState::Draining),
            "disabled" => Ok(ServerState::Disabled),
            _ => Err(Error::BadState(s.to_string())),
        }
    }
}

// === impl Health ===

impl Health {
    pub fn from_up(up: bool) -> Health {
        if up {
            Health::Up
        } else {
            Health::Down
        }
    }

    pub fn is_up(self) -> bool {
        self == Health::Up
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_up() { "up" } else { "down" })
    }
}

// === impl AdminState ===

impl AdminState {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Normal => "normal",
            AdminState::Draining => "draining",
            AdminState::Disabled => "disabled",
        }
    }
}

impl fmt::Display for AdminState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AdminState {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "normal" => Ok(AdminState::Normal),
            "draining" => Ok(AdminState::Draining),
            "disabled" => Ok(AdminState::Disabled),
            _ => Err(Error::BadAdminState(s.to_string())),
        }
    }
}

// === impl Algorithm ===

impl Algorithm {
    /// Every algorithm, in SPEC order.
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

    /// The SPEC names of every algorithm, for error hints.
    pub fn names() -> [&'static str; 9] {
        Self::ALL.map(Algorithm::as_str)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round_robin",
            Algorithm::WeightedRoundRobin => "weighted_round_robin",
            Algorithm::LeastConnections => "least_connections",
            Algorithm::WeightedLeastConnections => "weighted_least_connections",
            Algorithm::Random => "random",
            Algorithm::PowerOfTwo => "power_of_two",
            Algorithm::PeakEwma => "peak_ewma",
            Algorithm::RingHash => "ring_hash",
            Algorithm::Maglev => "maglev",
        }
    }

    /// Whether the algorithm places requests by `PickRequest::hash` (and so wants a
    /// `hash_key`).
    pub fn uses_hash(&self) -> bool {
        matches!(self, Algorithm::RingHash | Algorithm::Maglev)
    }

    /// Whether slow start ramps a server's share under this algorithm. Hash algorithms
    /// ignore slow start (a ramp would move keys back and forth and break affinity);
    /// round_robin and least_connections, which otherwise ignore weights, run their
    /// weighted form over the ramp factors while a server ramps.
    pub fn honours_slow_start(&self) -> bool {
        !self.uses_hash()
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| Error::UnknownAlgorithm {
                given: s.to_string(),
                expected: Self::names().join(", "),
            })
    }
}

// === impl AlgorithmParams ===

impl AlgorithmParams {
    pub const DEFAULT_RING_VNODES: u32 = 160;
    pub const DEFAULT_MAGLEV_TABLE_SIZE: u64 = 65537;
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

// === impl ServerSpec ===

impl ServerSpec {
    /// A primary server of weight 1.
    pub fn new(name: impl Into<String>, address: SocketAddr) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            address,
            weight: 1,
            backup: false,
        }
    }

    pub fn with_weight(mut self, weight: u32) -> ServerSpec {
        self.weight = weight;
        self
    }

    pub fn with_backup(mut self, backup: bool) -> ServerSpec {
        self.backup = backup;
        self
    }
}

// === impl PoolSpec ===

impl PoolSpec {
    pub const DEFAULT_PANIC_THRESHOLD: u8 = 50;

    /// A pool with default parameters, no slow start and the default panic threshold.
    pub fn new(name: impl Into<String>, algorithm: Algorithm, servers: Vec<ServerSpec>) -> Self {
        PoolSpec {
            name: name.into(),
            algorithm,
            params: AlgorithmParams::default(),
            servers,
            slow_start: None,
            panic_threshold: Self::DEFAULT_PANIC_THRESHOLD,
        }
    }

    /// Checks everything that does not depend on runtime state.
    pub fn validate(&self) -> Result<(), Error> {
        let pool = || self.name.clone();
        let mut names: Vec<&str> = self.servers.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::DuplicateServer {
                pool: pool(),
                server: w[0].to_string(),
            });
        }
        for s in &self.servers {
            check_weight(&self.name, &s.name, s.weight)?;
        }
        if self.panic_threshold > 100 {
            return Err(Error::PanicThreshold {
                pool: pool(),
                threshold: self.panic_threshold,
            });
        }
        let p = &self.params;
        if p.ring_vnodes == 0 {
            return Err(Error::RingVnodes(pool()));
        }
        if let Some(factor) = p.hash_balance_factor {
            if factor < 100 {
                return Err(Error::BalanceFactor {
                    pool: pool(),
                    factor,
                });
            }
        }
        if p.ewma_decay.is_zero() {
            return Err(Error::EwmaDecay(pool()));
        }
        crate::algorithms::maglev::check_table_size(&self.name, p.maglev_table_size)
    }
}

pub(crate) fn check_weight(pool: &str, server: &str, weight: u32) -> Result<(), Error> {
    if (1..=MAX_WEIGHT).contains(&weight) {
        Ok(())
    } else {
        Err(Error::BadWeight {
            pool: pool.to_string(),
            server: server.to_string(),
            weight,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_composition_orders_disabled_down_draining_up() {
        use AdminState as A;
        use Health as H;
        assert_eq!(ServerState::compose(H::Up, A::Normal), ServerState::Up);
        assert_eq!(
            ServerState::compose(H::Up, A::Draining),
            ServerState::Draining
        );
        assert_eq!(
            ServerState::compose(H::Down, A::Draining),
            ServerState::Down
        );
        assert_eq!(
            ServerState::compose(H::Down, A::Disabled),
            ServerState::Disabled
        );
        assert_eq!(
            ServerState::compose(H::Up, A::Disabled),
            ServerState::Disabled
        );
        assert_eq!(ServerState::compose(H::Down, A::Normal), ServerState::Down);
    }

    #[test]
    fn states_display_lowercase_and_round_trip() {
        for s in [
            ServerState::Up,
            ServerState::Down,
            ServerState::Draining,
            ServerState::Disabled,
        ] {
            assert_eq!(s.to_string().parse::<ServerState>(), Ok(s));
        }
        assert_eq!(ServerState::Draining.to_string(), "draining");
        assert_eq!("disabled".parse::<AdminState>(), Ok(AdminState::Disabled));
    }

    #[test]
    fn algorithm_names_round_trip_and_unknown_lists_all() {
        for a in Algorithm::ALL {
            assert_eq!(a.to_string().parse::<Algorithm>(), Ok(a));
        }
        assert_eq!(
            "weighted_least_connections".parse(),
            Ok(Algorithm::WeightedLeastConnections)
        );
        let err = "leastconn".parse::<Algorithm>().unwrap_err().to_string();
        assert!(err.contains("\"leastconn\""), "{err}");
        assert!(
            err.contains("round_robin") && err.contains("maglev"),
            "{err}"
        );
        assert!(Algorithm::Maglev.uses_hash() && Algorithm::RingHash.uses_hash());
        assert!(!Algorithm::PeakEwma.uses_hash());
    }

    #[test]
    fn validate_rejects_bad_pools_with_operator_messages() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut spec = PoolSpec::new(
            "app",
            Algorithm::Maglev,
            vec![ServerSpec::new("a", addr), ServerSpec::new("a", addr)],
        );
        assert_eq!(
            spec.validate().unwrap_err().to_string(),
            "server \"a\" appears twice in pool \"app\""
        );
        spec.servers[1].name = "b".into();
        spec.servers[1].weight = 0;
        assert!(spec
            .validate()
            .unwrap_err()
            .to_string()
            .contains("weight 0"));
        spec.servers[1].weight = 1001;
        assert!(spec.validate().is_err());
        spec.servers[1].weight = 1000;
        spec.params.maglev_table_size = 65536;
        let err = spec.validate().unwrap_err().to_string();
        assert!(
            err.contains("maglev table size 65536 is not prime"),
            "{err}"
        );
        spec.params.maglev_table_size = 65537;
        spec.validate().unwrap();
        spec.params.hash_balance_factor = Some(99);
        assert!(spec.validate().is_err());
    }
}
