//! The one place where the simulator meets the real decision code: a simulated balancer
//! instance is a `switchyard_balance::Pool`, one `switchyard_health::ActiveHealth` per
//! server and, with `[outlier]`, a `switchyard_health::OutlierDetector`, all fed with
//! virtual time and seeded randomness.
//!
//! A server is up for the pool while its active checks say so (or there are none) and
//! passive health has not ejected it — the same composition the runtime makes. Simulated
//! servers get synthetic addresses — server `i` is `10.x.y.z:80` with `x.y.z = i` — so a
//! pick names its server index without a lookup. Each instance has its own RNG streams
//! (picks, check jitter) derived from the scenario seed and its index.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use switchyard_balance::{Algorithm, PickRequest, Picked, Pool, PoolSpec, ServerId, ServerSpec};
use switchyard_health::{
    next_delay, ActiveConfig, ActiveHealth, HealthState, OutlierConfig, OutlierDetector,
    ProbeResult,
};

use crate::scenario::{OutlierSpec, Scenario};
use crate::Nanos;

const BASE: u32 = 0x0a00_0000; // 10.0.0.0

/// One balancer instance with its own state.
pub struct Balancer {
    pool: Pool,
    ids: Vec<ServerId>,
    names: Vec<String>,
    health: Vec<ActiveHealth>,
    /// What active checks say (always true without them).
    active_up: Vec<bool>,
    outlier: Option<OutlierDetector>,
    pick_rng: SmallRng,
    check_rng: SmallRng,
    exclude: Vec<ServerId>,
    /// The earliest slow-start refresh already scheduled by the engine.
    refresh_due: Option<Nanos>,
}

/// A pick in flight: the pool counts it until it is finished or dropped.
pub struct Ticket {
    picked: Picked,
    server: usize,
}

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
        spec.slow_start = sc.slow_start.map(Duration::from_nanos);
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
        let n = sc.servers.len();
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
                .flat_map(|c| (0..n).map(move |_| ActiveHealth::new(c)))
                .collect(),
            active_up: vec![sc.health.is_none(); n],
            outlier: sc
                .outlier
                .as_ref()
                .map(|o| OutlierDetector::new(outlier_config(o), n)),
            pick_rng: SmallRng::seed_from_u64(seed.wrapping_add(1)),
            check_rng: SmallRng::seed_from_u64(seed.wrapping_add(2)),
            exclude: Vec::new(),
            refresh_due: None,
        }
    }

    /// When the pool next needs [`refresh`](Self::refresh) for slow start, if that is
    /// earlier than what the engine has already scheduled (it then schedules it).
    pub fn refresh_needed(&mut self) -> Option<Nanos> {
        let next = self.pool.next_refresh()?;
        if self.refresh_due.is_some_and(|due| due <= next) {
            return None;
        }
        self.refresh_due = Some(next);
        Some(next)
    }

    /// Recomputes slow-start weights.
    pub fn refresh(&mut self, now: Nanos) {
        if self.refresh_due.is_some_and(|due| due <= now) {
            self.refresh_due = None;
        }
        self.pool.refresh(now);
    }

    /// Picks a server, avoiding those already `tried`, placing by `hash` for the hash
    /// algorithms (a random key when `None`); `None` when no server is available.
    pub fn pick(
        &mut self,
        tried: &[u32],
        hash: Option<u64>,
        now: Nanos,
    ) -> Option<(usize, Ticket)> {
        self.exclude.clear();
        self.exclude
            .extend(tried.iter().map(|&i| self.ids[i as usize]));
        let mut request = PickRequest::new().with_exclude(&self.exclude);
        request.hash = hash;
        let picked = self.pool.pick(&request, &mut self.pick_rng, now)?;
        let server = index_of(picked.address());
        Some((server, Ticket { picked, server }))
    }

    /// Any configured server, uniformly: what a client takes from a fail-open DNS answer
    /// that lists every address.
    pub fn any_server(&mut self) -> usize {
        self.pick_rng.random_range(0..self.ids.len())
    }

    /// Reports an attempt's outcome to the pool (latency EWMA, in-flight count) and to
    /// passive health. Returns when an ejection it caused ends, for the caller to
    /// [`outlier_tick`](Self::outlier_tick) then.
    pub fn finish(
        &mut self,
        ticket: Ticket,
        success: bool,
        latency: Nanos,
        now: Nanos,
    ) -> Option<Nanos> {
        ticket
            .picked
            .finish(success, Duration::from_nanos(latency), now);
        let ejection = self.outlier.as_mut()?.record(ticket.server, success, now)?;
        self.publish(ejection.server, now);
        Some(ejection.until)
    }

    /// Brings back the servers whose ejection has ended.
    pub fn outlier_tick(&mut self, now: Nanos) {
        let back = self
            .outlier
            .as_mut()
            .map(|o| o.tick(now))
            .unwrap_or_default();
        for server in back {
            self.publish(server, now);
        }
    }

    pub fn set_weight(&mut self, server: usize, weight: u32) {
        // The weight is in range (checked with the scenario), and the name exists.
        let _ = self.pool.set_weight(&self.names[server], weight);
    }

    /// The jittered delay before this instance's next check of a server.
    pub fn next_probe_delay(&mut self, interval: Nanos) -> Nanos {
        next_delay(Duration::from_nanos(interval), &mut self.check_rng).as_nanos() as Nanos
    }

    /// Feeds a check result to the server's rise/fall state machine and tells the pool
    /// when the state changes. A failure with zero latency was refused, else timed out.
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
            self.active_up[server] = t.to == HealthState::Up;
            self.publish(server, now);
        }
    }

    /// Tells the pool the composed health of a server.
    fn publish(&mut self, server: usize, now: Nanos) {
        let ejected = self.outlier.as_ref().is_some_and(|o| o.is_ejected(server));
        let up = self.active_up[server] && !ejected;
        // The name exists: the pool was built from the same list.
        let _ = self.pool.set_health(&self.names[server], up, now);
    }
}

fn outlier_config(spec: &OutlierSpec) -> OutlierConfig {
    let d = OutlierConfig::default();
    OutlierConfig {
        consecutive_failures: spec.consecutive_failures.unwrap_or(d.consecutive_failures),
        base_ejection: spec
            .base_ejection
            .map_or(d.base_ejection, Duration::from_nanos),
        max_ejection: spec
            .max_ejection
            .map_or(d.max_ejection, Duration::from_nanos),
        max_ejection_percent: spec.max_ejection_percent.unwrap_or(d.max_ejection_percent),
    }
}

fn address(index: usize) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::from(BASE + index as u32), 80))
}

fn index_of(addr: SocketAddr) -> usize {
    match addr.ip() {
        IpAddr::V4(ip) => (u32::from(ip) - BASE) as usize,
        IpAddr::V6(_) => unreachable!("simulated servers have IPv4 addresses"),
    }
}
