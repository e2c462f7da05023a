//! Records computed per query: balanced (a pool's healthy servers) and geo (the nearest
//! healthy datacenter's addresses).
//!
//! Health is read from the pools' snapshots at answer time (one atomic load per pool), so
//! answers follow health within one query. Work space (candidate lists, the RNG) lives in
//! a per-worker [`Scratch`] that is reused, so the answer path does not allocate once the
//! vectors have grown to the largest pool.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use switchyard_balance::{Pool, ServerState};
use switchyard_config::BalancePolicy;

use crate::geo::Datacenters;
use crate::geoip::GeoDb;
use crate::zone::Catalog;

pub use crate::geo::Geo;

/// Everything a listener answers from.
#[derive(Debug)]
pub struct Authority {
    /// The zones.
    pub catalog: Catalog,
    /// The GeoIP database, when `[geoip]` is configured.
    pub geoip: Option<GeoDb>,
    /// The datacenters geo records choose from.
    pub datacenters: Arc<Datacenters>,
}

/// Per-worker work space, reused across queries.
#[derive(Debug)]
pub struct Scratch {
    /// The addresses to answer, filled by `pick`.
    pub addrs: Vec<IpAddr>,
    /// Healthy candidates with their weights.
    pub(crate) candidates: Vec<(IpAddr, u32)>,
    /// Datacenter order.
    pub(crate) order: Vec<usize>,
    /// The datacenters chosen.
    pub(crate) chosen: Vec<usize>,
    /// The client's place (its country string is reused).
    pub(crate) location: switchyard_gslb::Location,
    /// Randomness for weighted picks.
    pub(crate) rng: SmallRng,
}

/// A record answered from a pool.
#[derive(Debug)]
pub struct Balanced {
    pool_name: String,
    pool: Arc<Pool>,
    policy: BalancePolicy,
    max_answers: Option<usize>,
    v6: bool,
    /// Whether servers of the pool share an address (several ports on one host): DNS
    /// answers addresses, so those servers become one answer. Pool membership only
    /// changes on reload, which builds the records again.
    shared_addresses: bool,
    next: AtomicUsize,
    last_fail_open_log: AtomicU64,
}

// === impl Scratch ===

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            addrs: Vec::with_capacity(16),
            candidates: Vec::with_capacity(16),
            order: Vec::with_capacity(16),
            chosen: Vec::with_capacity(16),
            location: switchyard_gslb::Location::default(),
            rng: SmallRng::from_rng(&mut rand::rng()),
        }
    }
}

impl Scratch {
    /// A scratch with a fixed seed (tests).
    pub fn seeded(seed: u64) -> Self {
        Scratch {
            rng: SmallRng::seed_from_u64(seed),
            ..Scratch::default()
        }
    }
}

// === impl Balanced ===

impl Balanced {
    /// A balanced record over `pool`.
    pub fn new(
        pool_name: String,
        pool: Arc<Pool>,
        policy: BalancePolicy,
        max_answers: Option<usize>,
        v6: bool,
    ) -> Self {
        let servers = pool.snapshot();
        let servers = servers.servers();
        let shared_addresses = servers.iter().enumerate().any(|(i, s)| {
            servers[..i]
                .iter()
                .any(|o| o.address().ip() == s.address().ip())
        });
        Balanced {
            pool_name,
            pool,
            policy,
            max_answers,
            v6,
            shared_addresses,
            next: AtomicUsize::new(0),
            last_fail_open_log: AtomicU64::new(0),
        }
    }

    /// Fill `scratch.addrs` with this answer's addresses.
    pub fn pick(&self, scratch: &mut Scratch) {
        scratch.addrs.clear();
        let healthy = self.candidates(scratch);
        if !healthy {
            // Fail open: every configured address of the family, whatever the policy
            // and max_answers (an answer that might work beats one that surely does not).
            self.log_fail_open(scratch.candidates.len());
            scratch.addrs.extend(scratch.candidates.iter().map(|c| c.0));
            return;
        }
        let cands = &mut scratch.candidates;
        let max = match (self.policy, self.max_answers) {
            (BalancePolicy::Failover, None) => 1,
            (_, m) => m.unwrap_or(usize::MAX).max(1),
        };
        match self.policy {
            BalancePolicy::All => scratch.addrs.extend(cands.iter().map(|c| c.0)),
            BalancePolicy::Failover => scratch.addrs.extend(cands.iter().take(max).map(|c| c.0)),
            BalancePolicy::RoundRobin => {
                let n = cands.len();
                if n > 0 {
                    let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
                    let take = max.min(n);
                    scratch
                        .addrs
                        .extend((0..take).map(|i| cands[(start + i) % n].0));
                }
            }
            BalancePolicy::Weighted => {
                while scratch.addrs.len() < max && !cands.is_empty() {
                    let total: u64 = cands.iter().map(|c| u64::from(c.1.max(1))).sum();
                    let mut r = scratch.rng.random_range(0..total);
                    let mut chosen = cands.len() - 1;
                    for (i, c) in cands.iter().enumerate() {
                        let w = u64::from(c.1.max(1));
                        if r < w {
                            chosen = i;
                            break;
                        }
                        r -= w;
                    }
                    scratch.addrs.push(cands.remove(chosen).0);
                }
            }
        }
    }

    /// Put the addresses to answer from into `scratch.candidates`, in configured order:
    /// those of the up non-backup servers, else of the up backups, else (fail open) of
    /// every server of the record's family. Servers sharing an address are one candidate
    /// weighing their weights together. Whether some server was up.
    fn candidates(&self, scratch: &mut Scratch) -> bool {
        let snapshot = self.pool.snapshot();
        let cands = &mut scratch.candidates;
        let shared = self.shared_addresses;
        let add = |cands: &mut Vec<(IpAddr, u32)>, ip: IpAddr, weight: u32| {
            let same = if shared {
                cands.iter_mut().find(|c| c.0 == ip)
            } else {
                None // the common case: no scan
            };
            match same {
                Some(c) => c.1 = c.1.saturating_add(weight),
                None => cands.push((ip, weight)),
            }
        };
        cands.clear();
        for backup in [false, true] {
            for s in snapshot.servers() {
                let ip = s.address().ip();
                if ip.is_ipv6() == self.v6
                    && s.is_backup() == backup
                    && s.state() == ServerState::Up
                {
                    add(cands, ip, s.weight());
                }
            }
            if !cands.is_empty() {
                return true;
            }
        }
        for s in snapshot.servers() {
            let ip = s.address().ip();
            if ip.is_ipv6() == self.v6 {
                add(cands, ip, s.weight());
            }
        }
        false
    }

    /// Log a fail-open answer, at most once every 10 seconds per record.
    fn log_fail_open(&self, answered: usize) {
        if fail_open_log_due(&self.last_fail_open_log) {
            tracing::warn!(
                pool = %self.pool_name,
                answered,
                "no server of the pool is up: DNS answers every configured address (fail open)"
            );
        }
    }
}

/// Whether a fail-open answer is logged now: the first one (even in the process's first
/// seconds), then at most once every 10 seconds. `last_logged` holds the second of the
/// last log, counted from 1 (0: never logged).
pub(crate) fn fail_open_log_due(last_logged: &AtomicU64) -> bool {
    fail_open_log_due_at(
        last_logged,
        switchyard_balance::clock::now() / 1_000_000_000 + 1,
    )
}

fn fail_open_log_due_at(last_logged: &AtomicU64, now: u64) -> bool {
    let last = last_logged.load(Ordering::Relaxed);
    (last == 0 || now.saturating_sub(last) >= 10)
        && last_logged
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_fail_open_is_logged_even_at_start_then_every_10s() {
        let last = AtomicU64::new(0);
        assert!(fail_open_log_due_at(&last, 1), "the first, 1 s after start");
        assert!(!fail_open_log_due_at(&last, 5));
        assert!(!fail_open_log_due_at(&last, 10));
        assert!(fail_open_log_due_at(&last, 11));
        assert!(!fail_open_log_due_at(&last, 12));
    }
}
