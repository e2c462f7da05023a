//! [`Pool`]: the shared, `Send + Sync` handle to one pool of servers.
//!
//! Readers (`pick`, `snapshot`) load the current [`Snapshot`] through `arc_swap`: no lock,
//! no allocation. Writers — the health system, the admin API, reloads, the slow-start
//! timer — take a `Mutex` over the authoritative state, change it, rebuild a snapshot and
//! swap it in. Per-server [`ServerStats`] are kept by server name across every rebuild
//! and reload, as are health and admin state.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use rand::RngCore;

use crate::spec::check_weight;
use crate::{
    AdminState, Algorithm, Error, Health, Nanos, PickRequest, Picked, PoolSpec, ServerId,
    ServerSpec, ServerState, ServerStats, Snapshot,
};

/// A pool of servers and its balancing state.
#[derive(Debug)]
pub struct Pool {
    current: ArcSwap<Snapshot>,
    state: Mutex<PoolState>,
    /// The round-robin position, carried across rebuilds.
    cursor: Arc<AtomicU64>,
    /// Requests in flight pool-wide, counted while bounded loads need it.
    pool_load: Arc<AtomicU64>,
}

/// The authoritative, writer-side state a snapshot is built from.
#[derive(Debug)]
pub(crate) struct PoolState {
    pub(crate) spec: PoolSpec,
    /// The algorithm in force (the spec's, or an operator's override).
    pub(crate) algorithm: Algorithm,
    pub(crate) records: Vec<ServerRecord>,
    /// New servers start up (pools without health checks) or down.
    start_up: bool,
    /// The latest `now` any writer passed (for changes that carry no time).
    last_now: Nanos,
}

/// One server on the writer side.
#[derive(Debug)]
pub(crate) struct ServerRecord {
    pub(crate) id: ServerId,
    pub(crate) spec: ServerSpec,
    /// The weight in force (the spec's, or an operator's override).
    pub(crate) weight: u32,
    pub(crate) health: Health,
    pub(crate) admin: AdminState,
    pub(crate) up_since: Option<Nanos>,
    pub(crate) stats: Arc<ServerStats>,
}

// === impl Pool ===

impl Pool {
    /// A pool whose servers all start down until the health system reports them up.
    pub fn new(spec: PoolSpec, now: Nanos) -> Result<Pool, Error> {
        Pool::build(spec, now, false)
    }

    /// A pool whose servers all start up: for pools without health checks
    /// (`check = "none"`). Servers added later by `update` start up too.
    pub fn new_all_up(spec: PoolSpec, now: Nanos) -> Result<Pool, Error> {
        Pool::build(spec, now, true)
    }

    fn build(spec: PoolSpec, now: Nanos, start_up: bool) -> Result<Pool, Error> {
        spec.validate()?;
        let records = spec
            .servers
            .iter()
            .map(|s| ServerRecord::new(s.clone(), Health::from_up(start_up), None))
            .collect();
        let state = PoolState {
            algorithm: spec.algorithm,
            spec,
            records,
            start_up,
            last_now: now,
        };
        let cursor = Arc::new(AtomicU64::new(0));
        let pool_load = Arc::new(AtomicU64::new(0));
        let snapshot = Snapshot::build(&state, Arc::clone(&cursor), &pool_load, now)?;
        Ok(Pool {
            current: ArcSwap::from_pointee(snapshot),
            state: Mutex::new(state),
            cursor,
            pool_load,
        })
    }

    /// The current snapshot, for readers that look at more than one thing (DNS answers,
    /// the admin API). Cheap: one atomic load and a reference count.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The pool's name.
    pub fn name(&self) -> String {
        self.current.load().name().to_string()
    }

    /// Chooses a server (see [`Snapshot::pick`]). Lock-free and allocation-free.
    #[inline]
    pub fn pick<R: RngCore + ?Sized>(
        &self,
        req: &PickRequest<'_>,
        rng: &mut R,
        now: Nanos,
    ) -> Option<Picked> {
        self.current.load().pick(req, rng, now)
    }

    /// Health system: marks a server up or down. Returns whether its health changed.
    /// A server coming up starts its slow-start ramp at `now`.
    pub fn set_health(&self, server: &str, up: bool, now: Nanos) -> Result<bool, Error> {
        let mut st = self.lock();
        st.last_now = st.last_now.max(now);
        let r = st.record_mut(server)?;
        let health = Health::from_up(up);
        if r.health == health {
            return Ok(false);
        }
        r.health = health;
        if up {
            r.up_since = Some(now);
            // Its latency before (or while) it went down says nothing about it now.
            r.stats.reset_latency();
        }
        self.publish(&st)?;
        Ok(true)
    }

    /// Admin API: drain, disable or re-enable a server. Re-enabling a disabled server
    /// that is healthy starts its slow-start ramp.
    pub fn set_admin(&self, server: &str, admin: AdminState) -> Result<(), Error> {
        let mut st = self.lock();
        let now = st.last_now;
        let r = st.record_mut(server)?;
        if r.admin == admin {
            return Ok(());
        }
        if r.admin == AdminState::Disabled && r.health == Health::Up {
            r.up_since = Some(now);
        }
        r.admin = admin;
        self.publish(&st)
    }

    /// Admin API: sets a server's weight (1..=1000). Kept across reloads unless the
    /// configuration changes that server's weight.
    pub fn set_weight(&self, server: &str, weight: u32) -> Result<(), Error> {
        let mut st = self.lock();
        let pool = st.spec.name.clone();
        let r = st.record_mut(server)?;
        check_weight(&pool, server, weight)?;
        if r.weight == weight {
            return Ok(());
        }
        r.weight = weight;
        self.publish(&st)
    }

    /// Admin API: switches the algorithm. Counters carry over. Kept across reloads unless
    /// the configuration changes the pool's algorithm.
    pub fn set_algorithm(&self, algorithm: Algorithm) -> Result<(), Error> {
        let mut st = self.lock();
        if st.algorithm == algorithm {
            return Ok(());
        }
        let previous = std::mem::replace(&mut st.algorithm, algorithm);
        self.publish(&st).inspect_err(|_| {
            st.algorithm = previous;
        })
    }

    /// Hot reload. Servers kept by name keep their counters, health, admin state and slow
    /// start; new servers start down (or up, for pools made with `new_all_up`); removed
    /// servers disappear from new picks while their in-flight requests finish normally.
    pub fn update(&self, spec: PoolSpec, now: Nanos) -> Result<(), Error> {
        spec.validate()?;
        let mut st = self.lock();
        st.last_now = st.last_now.max(now);
        let records = spec
            .servers
            .iter()
            .map(
                |s| match st.records.iter().position(|r| r.spec.name == s.name) {
                    Some(i) => st.records[i].carried_over(s),
                    None => {
                        let since = st.start_up.then_some(now);
                        ServerRecord::new(s.clone(), Health::from_up(st.start_up), since)
                    }
                },
            )
            .collect();
        let algorithm = if spec.algorithm == st.spec.algorithm {
            st.algorithm
        } else {
            spec.algorithm
        };
        let next = PoolState {
            spec,
            algorithm,
            records,
            start_up: st.start_up,
            last_now: st.last_now,
        };
        self.publish(&next)?;
        *st = next;
        Ok(())
    }

    /// Recomputes slow-start weights for `now` and republishes. Call at
    /// [`next_refresh`](Pool::next_refresh) (or on any timer).
    pub fn refresh(&self, now: Nanos) {
        let mut st = self.lock();
        st.last_now = st.last_now.max(now);
        // Rebuilding what was already built cannot fail; keep the old snapshot if it did.
        let _ = self.publish(&st);
    }

    /// When a slow-start ramp next needs [`refresh`](Pool::refresh); `None` when no
    /// server is ramping.
    pub fn next_refresh(&self) -> Option<Nanos> {
        self.current.load().next_refresh()
    }

    /// The effective state of a server by name.
    pub fn state_of(&self, server: &str) -> Option<ServerState> {
        self.current.load().server(server).map(|s| s.state())
    }

    fn publish(&self, st: &PoolState) -> Result<(), Error> {
        let snapshot = Snapshot::build(st, Arc::clone(&self.cursor), &self.pool_load, st.last_now)?;
        self.current.store(Arc::new(snapshot));
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A writer that panicked left whole values behind (every change is one
        // assignment), so the state is still consistent: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// === impl PoolState ===

impl PoolState {
    fn record_mut(&mut self, server: &str) -> Result<&mut ServerRecord, Error> {
        let pool = &self.spec.name;
        self.records
            .iter_mut()
            .find(|r| r.spec.name == server)
            .ok_or_else(|| Error::UnknownServer {
                pool: pool.clone(),
                server: server.to_string(),
            })
    }
}

// === impl ServerRecord ===

impl ServerRecord {
    fn new(spec: ServerSpec, health: Health, up_since: Option<Nanos>) -> ServerRecord {
        ServerRecord {
            id: ServerId::of_name(&spec.name),
            weight: spec.weight,
            spec,
            health,
            admin: AdminState::Normal,
            up_since,
            stats: Arc::new(ServerStats::new()),
        }
    }

    /// This server under a reloaded spec: everything live carries over; the operator's
    /// weight stays unless the configured weight changed.
    fn carried_over(&self, spec: &ServerSpec) -> ServerRecord {
        let weight = if spec.weight == self.spec.weight {
            self.weight
        } else {
            spec.weight
        };
        ServerRecord {
            id: self.id,
            spec: spec.clone(),
            weight,
            health: self.health,
            admin: self.admin,
            up_since: self.up_since,
            stats: Arc::clone(&self.stats),
        }
    }
}
