//! The one place where the simulator meets the real decision code: a simulated balancer
//! instance is a `switchyard_balance::Pool` plus one `switchyard_health::ActiveHealth`
//! per server, fed with virtual time and seeded randomness.
//!
//! Simulated servers get synthetic addresses — server `i` is `10.x.y.z:80` with
//! `x.y.z = i` — so a pick names its server index without a lookup. Each instance has its
//! own RNG streams (picks, check jitter) derived from the scenario seed and its index.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchyard_balance::{Algorithm, PickRequest, Picked, Pool, PoolSpec, ServerId, ServerSpec};
use switchyard_health::{next_delay, ActiveConfig, ActiveHealth, HealthState, ProbeResult};

use crate::scenario::Scenario;
use crate::Nanos;

const BASE: u32 = 0x0a00_0000; // 10.0.0.0

/// One balancer instance with its own state.
pub struct Balancer {
    pool: Pool,
    ids: Vec<ServerId>,
    names: Vec<String>,
    health: Vec<ActiveHealth>,
    pick_rng: SmallRng,
    check_rng: SmallRng,
    exclude: Vec<ServerId>,
}

/// A pick in flight: the pool counts it until it is finished or dropped.
pub struct Ticket(Picked);

/// Checks an algorithm name as `switchyard_balance` parses it.
pub(crate) fn check_algorithm(name: &str) -> Result<(), String> {
    name.parse::<Algorithm>()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

// === impl Balancer ===

impl Balancer {
    /// Instance `index` running `algorithm` (already checked) over the scenario's servers.
    pub fn new(sc: &Scenario, algorithm: &str, index: u64) -> Self {
        let algorithm: Algorithm = algorithm
            .parse()
            .expect("algorithm names are checked when the scenario is parsed");
        let servers: Vec<ServerSpec> = sc
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| ServerSpec::new(s.name.clone(), address(i)).with_weight(s.weight))
            .collect();
        let mut spec = PoolSpec::new("sim", algorithm, servers);
        if let Some(threshold) = sc.panic_threshold {
            spec.panic_threshold = threshold;
        }
        // With health checks, servers start down and the first check (at time 0) brings
        // them up, as in the proxy; without, they start up.
        let pool = match sc.health {
            Some(_) => Pool::new(spec, 0),
            None => Pool::new_all_up(spec, 0),
        }
        .expect("scenario servers make a valid pool");
        let config = sc.health.as_ref().map(|h| ActiveConfig {
            interval: Duration::from_nanos(h.interval),
            timeout: Duration::from_nanos(h.timeout),
            rise: h.rise,
            fall: h.fall,
        });
        let seed = sc.seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Self {
            pool,
            ids: sc
                .servers
                .iter()
                .map(|s| ServerId::of_name(&s.name))
                .collect(),
            names: sc.servers.iter().map(|s| s.name.clone()).collect(),
            health: config
                .iter()
                .flat_map(|c| sc.servers.iter().map(move |_| ActiveHealth::new(c)))
                .collect(),
            pick_rng: SmallRng::seed_from_u64(seed.wrapping_add(1)),
            check_rng: SmallRng::seed_from_u64(seed.wrapping_add(2)),
            exclude: Vec::new(),
        }
    }

    /// Picks a server, avoiding those already `tried`; `None` when no server is available.
    pub fn pick(&mut self, tried: &[u32], now: Nanos) -> Option<(usize, Ticket)> {
        self.exclude.clear();
        self.exclude
            .extend(tried.iter().map(|&i| self.ids[i as usize]));
        let request = PickRequest::new().with_exclude(&self.exclude);
        let picked = self.pool.pick(&request, &mut self.pick_rng, now)?;
        Some((index_of(picked.address()), Ticket(picked)))
    }

    pub fn set_weight(&mut self, server: usize, weight: u32, now: Nanos) {
        let _ = (self.pool.set_weight(&self.names[server], weight), now);
    }

    /// The jittered delay before this instance's next check of a server.
    pub fn next_probe_delay(&mut self, interval: Nanos) -> Nanos {
        next_delay(Duration::from_nanos(interval), &mut self.check_rng).as_nanos() as Nanos
    }

    /// Feeds a check result to the server's rise/fall state machine and tells the pool
    /// when the state changes.
    pub fn probe_result(&mut self, server: usize, ok: bool, latency: Nanos, now: Nanos) {
        let latency = Duration::from_nanos(latency);
        let result = if ok {
            ProbeResult::success(latency, "")
        } else if latency.is_zero() {
            ProbeResult::failure(latency, "connection refused")
        } else {
            ProbeResult::timed_out(latency)
        };
        let Some(health) = self.health.get_mut(server) else {
            return;
        };
        if let Some(t) = health.record(result, now) {
            let _ = self
                .pool
                .set_health(&self.names[server], t.to == HealthState::Up, now);
        }
    }
}

// === impl Ticket ===

impl Ticket {
    /// Reports the attempt's outcome to the pool (passive signals, latency EWMA).
    pub fn finish(self, success: bool, latency: Nanos, now: Nanos) {
        self.0.finish(success, Duration::from_nanos(latency), now);
    }
}

fn address(index: usize) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::from(BASE + index as u32), 80))
}

fn index_of(addr: SocketAddr) -> usize {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => (u32::from(ip) - BASE) as usize,
        std::net::IpAddr::V6(_) => unreachable!("simulated servers have IPv4 addresses"),
    }
}
