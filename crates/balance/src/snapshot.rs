//! The immutable view of a pool that every pick reads: servers with their composed
//! states and weights, the eligible set, and the selector built from exactly that set.
//!
//! Built on the cold path by [`Pool`](crate::Pool) after every change and published
//! through `arc_swap`, so the servers a reader sees and the selector it picks with can
//! never disagree.
//!
//! Eligibility, in order:
//! 1. Up primaries (not backup), unless panic mode applies;
//! 2. panic mode: when some but fewer than `panic_threshold`% of the in-service primaries
//!    (admin state normal) are up, every in-service primary is eligible whatever its
//!    health — Envoy's rule, since health checks that fail most servers at once are more
//!    likely wrong than right. With no primary up at all panic mode does not engage, so a
//!    dead pool is seen as one (HTTP 503, SPEC "No healthy server"). A retry (some
//!    servers excluded) goes to an up server while an untried one is left;
//! 3. with no primary up: the up backups.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;

use crate::algorithms::{BuildContext, Selector};
use crate::pool::PoolState;
use crate::{
    AdminState, Algorithm, AlgorithmParams, Error, Nanos, PickRequest, Picked, Server, ServerId,
    ServerState,
};

/// Slow start begins at this share of the weight (10%), so a server that just came up
/// takes some traffic at once (and proves itself) without taking its full share cold.
pub const SLOW_START_FLOOR: f64 = 0.1;
/// Slow start weights are recomputed in this many steps over the ramp.
const SLOW_START_STEPS: u64 = 20;
/// ... but not more often than this.
const MIN_REFRESH_NS: u64 = 50_000_000;

/// One published state of a pool.
#[derive(Debug)]
pub struct Snapshot {
    name: String,
    algorithm: Algorithm,
    params: AlgorithmParams,
    servers: Vec<Arc<Server>>,
    eligible: Vec<Arc<Server>>,
    /// (id, index into `servers`), sorted by id, for sticky lookups.
    by_id: Vec<(ServerId, u32)>,
    selector: Selector,
    panic: bool,
    built_at: Nanos,
    next_refresh: Option<Nanos>,
}

// === impl Snapshot ===

impl Snapshot {
    pub(crate) fn build(
        state: &PoolState,
        cursor: Arc<AtomicU64>,
        pool_load: &Arc<AtomicU64>,
        now: Nanos,
    ) -> Result<Snapshot, Error> {
        let spec = &state.spec;
        let algorithm = state.algorithm;
        let track_load = Selector::needs_pool_load(algorithm, &spec.params);
        let ramp = spec.slow_start.filter(|_| algorithm.honours_slow_start());
        let mut next_refresh: Option<Nanos> = None;
        let servers: Vec<Arc<Server>> = state
            .records
            .iter()
            .map(|r| {
                let server_state = ServerState::compose(r.health, r.admin);
                let (factor, due) = slow_start(ramp, r.up_since, server_state, now);
                if let Some(due) = due {
                    next_refresh = Some(next_refresh.map_or(due, |n| n.min(due)));
                }
                let milli = ((r.weight as f64 * 1000.0 * factor).round() as u64).max(1);
                Arc::new(Server {
                    id: r.id,
                    name: r.spec.name.clone(),
                    address: r.spec.address,
                    weight: r.weight,
                    backup: r.spec.backup,
                    health: r.health,
                    admin: r.admin,
                    state: server_state,
                    weight_milli: milli,
                    up_since: r.up_since,
                    stats: Arc::clone(&r.stats),
                    ewma_decay: spec.params.ewma_decay,
                    pool_load: track_load.then(|| Arc::clone(pool_load)),
                })
            })
            .collect();
        let (eligible, panic) = eligible(&servers, spec.panic_threshold);
        let selector = Selector::build(
            algorithm,
            &eligible,
            BuildContext {
                pool: &spec.name,
                params: &spec.params,
                cursor,
                now,
            },
        )?;
        let mut by_id: Vec<(ServerId, u32)> = servers
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i as u32))
            .collect();
        by_id.sort_unstable();
        Ok(Snapshot {
            name: spec.name.clone(),
            algorithm,
            params: spec.params.clone(),
            servers,
            eligible,
            by_id,
            selector,
            panic,
            built_at: now,
            next_refresh,
        })
    }

    /// Chooses a server for a request; `None` when no server is eligible (or only
    /// excluded ones are). Lock-free and allocation-free.
    #[inline]
    pub fn pick<R: RngCore + ?Sized>(
        &self,
        req: &PickRequest<'_>,
        rng: &mut R,
        now: Nanos,
    ) -> Option<Picked> {
        if let Some(server) = req.sticky.and_then(|id| self.server_by_id(id)) {
            let keeps = matches!(server.state, ServerState::Up | ServerState::Draining);
            if keeps && server.allowed(req.exclude) {
                return Some(Picked::new(server, true));
            }
        }
        if self.panic && !req.exclude.is_empty() {
            if let Some(picked) = self.retry_on_up(req, rng, now) {
                return Some(picked);
            }
        }
        let i = self.selector.pick(&self.eligible, req, rng, now)?;
        Some(Picked::new(&self.eligible[i], false))
    }

    /// A retry in panic mode: the first attempt may go to any in-service server, but a
    /// retry goes to one that is up while one not yet tried is left (the selector still
    /// chooses among them), rather than to another down one. `None`: none is left.
    fn retry_on_up<R: RngCore + ?Sized>(
        &self,
        req: &PickRequest<'_>,
        rng: &mut R,
        now: Nanos,
    ) -> Option<Picked> {
        let mut exclude = req.exclude.to_vec();
        exclude.extend(
            self.eligible
                .iter()
                .filter(|s| s.state != ServerState::Up)
                .map(|s| s.id()),
        );
        if !self.eligible.iter().any(|s| s.allowed(&exclude)) {
            return None;
        }
        let narrowed = PickRequest {
            exclude: &exclude,
            ..*req
        };
        let i = self.selector.pick(&self.eligible, &narrowed, rng, now)?;
        let server = &self.eligible[i];
        server.allowed(&exclude).then(|| Picked::new(server, false))
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The algorithm in force (configured or as set by an operator).
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn params(&self) -> &AlgorithmParams {
        &self.params
    }

    /// Every server, in configuration order.
    pub fn servers(&self) -> &[Arc<Server>] {
        &self.servers
    }

    /// The servers new traffic may go to (see the module docs), in configuration order.
    /// DNS answers these.
    pub fn eligible(&self) -> &[Arc<Server>] {
        &self.eligible
    }

    /// Whether panic mode is on: too few servers are up, so all in-service ones are used.
    pub fn panic(&self) -> bool {
        self.panic
    }

    /// How many servers are up (effective state), backups included.
    pub fn up_count(&self) -> usize {
        self.servers
            .iter()
            .filter(|s| s.state == ServerState::Up)
            .count()
    }

    pub fn server(&self, name: &str) -> Option<&Arc<Server>> {
        self.servers.iter().find(|s| s.name == name)
    }

    pub fn server_by_id(&self, id: ServerId) -> Option<&Arc<Server>> {
        let i = self.by_id.binary_search_by_key(&id, |e| e.0).ok()?;
        Some(&self.servers[self.by_id[i].1 as usize])
    }

    /// When this snapshot was built (the `now` of the last change or refresh).
    pub fn built_at(&self) -> Nanos {
        self.built_at
    }

    /// When a slow-start ramp next needs the weights recomputed (`Pool::refresh`).
    pub fn next_refresh(&self) -> Option<Nanos> {
        self.next_refresh
    }
}

/// The slow-start factor of a server and when its weight should next be recomputed.
fn slow_start(
    ramp: Option<Duration>,
    up_since: Option<Nanos>,
    state: ServerState,
    now: Nanos,
) -> (f64, Option<Nanos>) {
    let (Some(ramp), Some(since)) = (ramp, up_since) else {
        return (1.0, None);
    };
    let ramp_ns = ramp.as_nanos().min(u64::MAX as u128) as u64;
    let elapsed = now.saturating_sub(since);
    if state != ServerState::Up || ramp_ns == 0 || elapsed >= ramp_ns {
        return (1.0, None);
    }
    let factor = (elapsed as f64 / ramp_ns as f64).max(SLOW_START_FLOOR);
    let step = (ramp_ns / SLOW_START_STEPS).max(MIN_REFRESH_NS);
    let due = now.saturating_add(step).min(since.saturating_add(ramp_ns));
    (factor, Some(due))
}

/// The eligible servers and whether panic mode is on.
fn eligible(servers: &[Arc<Server>], panic_threshold: u8) -> (Vec<Arc<Server>>, bool) {
    let in_service = |s: &&Arc<Server>| !s.backup && s.admin == AdminState::Normal;
    let total = servers.iter().filter(in_service).count();
    let up: Vec<Arc<Server>> = servers
        .iter()
        .filter(|s| !s.backup && s.state == ServerState::Up)
        .cloned()
        .collect();
    if !up.is_empty() {
        if (up.len() * 100) < panic_threshold as usize * total {
            let all = servers.iter().filter(in_service).cloned().collect();
            return (all, true);
        }
        return (up, false);
    }
    let backups = servers
        .iter()
        .filter(|s| s.backup && s.state == ServerState::Up)
        .cloned()
        .collect();
    (backups, false)
}
