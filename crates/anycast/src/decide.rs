//! The announce/withdraw decision for one `[[anycast.announce]]`, with hysteresis.
//!
//! Pure: the caller passes each listed pool's count of up servers and the current time
//! (nanoseconds on a monotonic clock of its choosing), so tests drive it with a virtual
//! clock and the controller with the process clock. The rule:
//!
//! - **withdraw at once** when any listed pool has fewer than `min_healthy` servers up:
//!   traffic must stop arriving at a datacenter that cannot serve it;
//! - **announce again only after the pools have been continuously healthy for
//!   `hold_down`**: a flapping pool never moves the route faster than once per hold-down,
//!   so routers elsewhere are not made to reconverge on every flap.
//!
//! A fresh [`Hysteresis`] starts withdrawn and applies the hold-down before its first
//! announcement too: a process that starts, announces and crashes in a loop would
//! otherwise flap the route as fast as it restarts.

use std::time::Duration;

use switchyard_health::format_duration;

/// Nanoseconds on the caller's monotonic clock.
pub type Nanos = u64;

/// One listed pool as the caller sees it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolCount<'a> {
    /// The pool's name, for the reason.
    pub pool: &'a str,
    /// Servers up now; `None` when no pool has that name (counts as unhealthy).
    pub up: Option<usize>,
}

/// Whether the announcement's pools can serve now, and why (in operators' words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub healthy: bool,
    /// For unhealthy: every failing pool, e.g. `pool app has 0 of 1 required healthy
    /// servers`. For healthy: every pool's count, e.g. `pool app has 2 healthy servers`.
    pub detail: String,
}

/// What the route should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Announce,
    Withdraw,
}

/// A change of the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub action: Action,
    pub reason: String,
    pub at: Nanos,
}

/// The decision state of one announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hysteresis {
    announced: bool,
    /// Start of the current unbroken run of healthy observations.
    healthy_since: Option<Nanos>,
    /// When `announced` last changed (or the tracker started).
    since: Nanos,
    reason: String,
    /// Set by [`Hysteresis::shut_down`]: never announce again.
    stopped: bool,
}

// === impl Health ===

/// Assesses the listed pools against `min_healthy`.
pub fn assess(pools: &[PoolCount<'_>], min_healthy: u32) -> Health {
    let need = min_healthy.max(1) as usize;
    let failing: Vec<String> = pools
        .iter()
        .filter_map(|p| match p.up {
            None => Some(format!("pool {} is not configured", p.pool)),
            Some(up) if up < need => Some(format!(
                "pool {} has {up} of {need} required healthy server{}",
                p.pool,
                plural(need)
            )),
            Some(_) => None,
        })
        .collect();
    if pools.is_empty() {
        return Health {
            healthy: false,
            detail: "no pools are listed".to_owned(),
        };
    }
    if !failing.is_empty() {
        return Health {
            healthy: false,
            detail: failing.join("; "),
        };
    }
    let counts: Vec<String> = pools
        .iter()
        .map(|p| {
            let up = p.up.unwrap_or(0);
            format!("pool {} has {up} healthy server{}", p.pool, plural(up))
        })
        .collect();
    Health {
        healthy: true,
        detail: counts.join("; "),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

// === impl Hysteresis ===

impl Hysteresis {
    /// Withdrawn, waiting for the first health observation.
    pub fn new(now: Nanos) -> Self {
        Hysteresis {
            announced: false,
            healthy_since: None,
            since: now,
            reason: "starting: waiting for the first health observation".to_owned(),
            stopped: false,
        }
    }

    /// Whether the prefix should be announced now.
    pub fn announced(&self) -> bool {
        self.announced
    }

    /// Why it is (or is not) announced.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// When `announced` last changed.
    pub fn since(&self) -> Nanos {
        self.since
    }

    /// Feeds one observation; returns the transition when the decision changes.
    pub fn observe(
        &mut self,
        health: &Health,
        hold_down: Duration,
        now: Nanos,
    ) -> Option<Transition> {
        if self.stopped {
            return None;
        }
        if !health.healthy {
            self.healthy_since = None;
            self.reason = health.detail.clone();
            return self.set(false, now);
        }
        let start = *self.healthy_since.get_or_insert(now);
        if self.announced {
            return None;
        }
        let hold = u64::try_from(hold_down.as_nanos()).unwrap_or(u64::MAX);
        let healthy_for = now.saturating_sub(start);
        if healthy_for >= hold {
            self.reason = if hold == 0 {
                "healthy (no hold-down)".to_owned()
            } else {
                format!("healthy for {} (hold-down)", format_duration(hold_down))
            };
            return self.set(true, now);
        }
        self.reason = format!(
            "healthy for {:.1}s, announcing after {} (hold-down)",
            healthy_for as f64 / 1e9,
            format_duration(hold_down)
        );
        None
    }

    /// Withdraws for good (graceful shutdown, or `[anycast]` removed), for `reason`;
    /// later observations change nothing.
    pub fn shut_down(&mut self, reason: &str, now: Nanos) -> Option<Transition> {
        self.stopped = true;
        self.healthy_since = None;
        self.reason = reason.to_owned();
        self.set(false, now)
    }

    fn set(&mut self, announced: bool, now: Nanos) -> Option<Transition> {
        if self.announced == announced {
            return None;
        }
        self.announced = announced;
        self.since = now;
        Some(Transition {
            action: if announced {
                Action::Announce
            } else {
                Action::Withdraw
            },
            reason: self.reason.clone(),
            at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: Nanos = 1_000_000_000;
    const HOLD: Duration = Duration::from_secs(10);

    fn app(up: usize) -> Health {
        assess(
            &[PoolCount {
                pool: "app",
                up: Some(up),
            }],
            1,
        )
    }

    #[test]
    fn reasons_name_the_pool_and_the_counts() {
        assert_eq!(app(0).detail, "pool app has 0 of 1 required healthy server");
        let two = assess(
            &[
                PoolCount {
                    pool: "app",
                    up: Some(3),
                },
                PoolCount {
                    pool: "db",
                    up: Some(1),
                },
                PoolCount {
                    pool: "gone",
                    up: None,
                },
            ],
            2,
        );
        assert!(!two.healthy);
        assert_eq!(
            two.detail,
            "pool db has 1 of 2 required healthy servers; pool gone is not configured"
        );
        let ok = assess(
            &[PoolCount {
                pool: "app",
                up: Some(2),
            }],
            2,
        );
        assert!(ok.healthy);
        assert_eq!(ok.detail, "pool app has 2 healthy servers");
        assert!(!assess(&[], 1).healthy);
    }

    #[test]
    fn starts_withdrawn_and_announces_after_the_hold_down() {
        let mut h = Hysteresis::new(0);
        assert!(!h.announced());
        assert_eq!(h.observe(&app(1), HOLD, 0), None);
        assert_eq!(h.observe(&app(1), HOLD, 9 * S), None);
        assert_eq!(
            h.reason(),
            "healthy for 9.0s, announcing after 10s (hold-down)"
        );
        let t = h.observe(&app(1), HOLD, 10 * S).expect("announces at 10s");
        assert_eq!(t.action, Action::Announce);
        assert_eq!(t.reason, "healthy for 10s (hold-down)");
        assert_eq!(h.since(), 10 * S);
    }

    #[test]
    fn withdraws_at_once_when_a_pool_loses_its_servers() {
        let mut h = Hysteresis::new(0);
        h.observe(&app(1), Duration::ZERO, 0)
            .expect("no hold-down: announces at once");
        assert_eq!(h.reason(), "healthy (no hold-down)");
        let t = h.observe(&app(0), Duration::ZERO, S).expect("withdraws");
        assert_eq!(t.action, Action::Withdraw);
        assert_eq!(t.reason, "pool app has 0 of 1 required healthy server");
        assert!(!h.announced());
    }

    #[test]
    fn a_failure_during_the_hold_down_restarts_it() {
        let mut h = Hysteresis::new(0);
        h.observe(&app(1), HOLD, 0);
        h.observe(&app(0), HOLD, 8 * S);
        assert_eq!(h.observe(&app(1), HOLD, 9 * S), None);
        assert_eq!(
            h.observe(&app(1), HOLD, 18 * S),
            None,
            "only 9s since the flap"
        );
        assert!(h.observe(&app(1), HOLD, 19 * S).is_some());
    }

    #[test]
    fn shut_down_withdraws_and_stays_withdrawn() {
        let mut h = Hysteresis::new(0);
        h.observe(&app(1), Duration::ZERO, 0);
        let t = h.shut_down("shutting down", S).expect("withdraws");
        assert_eq!(t.reason, "shutting down");
        assert_eq!(h.observe(&app(5), Duration::ZERO, 100 * S), None);
        assert!(!h.announced());
    }

    proptest! {
        /// A flapping pool never flaps the route faster than the hold-down: the prefix is
        /// announced exactly when the current unbroken run of healthy observations has
        /// lasted the hold-down, so every announcement comes at least `hold_down` after
        /// the previous withdrawal, and every unhealthy observation withdraws at once.
        #[test]
        fn route_never_flaps_faster_than_the_hold_down(
            hold_ms in 0u64..5_000,
            steps in proptest::collection::vec((1u64..3_000, 0usize..3), 1..200),
        ) {
            let hold = Duration::from_millis(hold_ms);
            let hold_ns = hold_ms * 1_000_000;
            let mut h = Hysteresis::new(0);
            let mut now = 0;
            let mut run_start: Option<Nanos> = None;
            let mut last_withdraw: Option<Nanos> = None;
            for (gap_ms, up) in steps {
                now += gap_ms * 1_000_000;
                let health = app(up);
                if health.healthy {
                    run_start.get_or_insert(now);
                } else {
                    run_start = None;
                }
                let change = h.observe(&health, hold, now);
                let model = run_start.is_some_and(|s| now - s >= hold_ns);
                prop_assert_eq!(h.announced(), model);
                match change.map(|t| t.action) {
                    Some(Action::Announce) => {
                        if let Some(w) = last_withdraw {
                            prop_assert!(now - w >= hold_ns, "re-announced {}ns after the withdrawal", now - w);
                        }
                    }
                    Some(Action::Withdraw) => last_withdraw = Some(now),
                    None => {}
                }
            }
        }

        /// Healthy without a break for the hold-down, observed at its end: announced.
        #[test]
        fn announces_once_healthy_for_the_hold_down(
            hold_ms in 0u64..5_000,
            gaps in proptest::collection::vec(1u64..1_000, 1..100),
        ) {
            let hold = Duration::from_millis(hold_ms);
            let mut h = Hysteresis::new(0);
            let start = 1_000_000;
            let mut now = start;
            h.observe(&app(1), hold, now);
            for gap in gaps {
                now += gap * 1_000_000;
                h.observe(&app(1), hold, now);
                prop_assert_eq!(h.announced(), now - start >= hold_ms * 1_000_000);
            }
        }
    }
}
