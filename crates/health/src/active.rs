//! Active health checks: the per-server rise/fall state machine and check jitter.
//!
//! The runtime runs a probe every [`next_delay`] and feeds each [`ProbeResult`] to the
//! server's [`ActiveHealth`]; a returned [`Transition`] is logged as
//! `server app/b down: <reason>` and published to the balancer. At start every server is
//! [`HealthState::Unknown`] and every check runs at once, so the first result decides
//! (a server is up after its first success, down after its first failure) instead of
//! waiting `rise` intervals before serving anything. After that, `rise` consecutive
//! successes bring a down server up and `fall` consecutive failures take an up server down.

use std::time::Duration;

use rand::{Rng, RngCore};

use crate::probe::{HealthState, LastCheck, ProbeResult, Transition, TransitionCause};
use crate::Nanos;

/// `[pool.health]` timing and thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveConfig {
    /// Time between the starts of two checks (jittered by [`next_delay`]).
    pub interval: Duration,
    /// How long a probe may take before it counts as failed.
    pub timeout: Duration,
    /// Consecutive successes that mark a down server up.
    pub rise: u32,
    /// Consecutive failures that mark an up server down.
    pub fall: u32,
}

/// Why an [`ActiveConfig`] cannot be used, in the configuration's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActiveConfigError {
    #[error("health.interval must be greater than 0")]
    ZeroInterval,
    #[error("health.timeout must be greater than 0")]
    ZeroTimeout,
    #[error("health.rise must be at least 1 (consecutive successes to mark a server up)")]
    ZeroRise,
    #[error("health.fall must be at least 1 (consecutive failures to mark a server down)")]
    ZeroFall,
}

/// The rise/fall state machine of one server.
#[derive(Debug, Clone)]
pub struct ActiveHealth {
    rise: u32,
    fall: u32,
    state: HealthState,
    consecutive_successes: u32,
    consecutive_failures: u32,
    last: Option<LastCheck>,
    last_transition_at: Option<Nanos>,
}

/// The delay before the next check: `interval` scaled by a uniformly random factor in
/// `[0.9, 1.1]`, so that the checks of many servers (and of many load balancers) do not
/// align. Zero stays zero.
pub fn next_delay<R: RngCore + ?Sized>(interval: Duration, rng: &mut R) -> Duration {
    let nanos = crate::nanos_of(interval);
    let spread = nanos / 10;
    let low = nanos - spread;
    let high = nanos.saturating_add(spread);
    Duration::from_nanos(rng.random_range(low..=high))
}

// === impl ActiveConfig ===

impl ActiveConfig {
    /// Checks the values the state machine relies on.
    pub fn validate(&self) -> Result<(), ActiveConfigError> {
        if self.interval.is_zero() {
            return Err(ActiveConfigError::ZeroInterval);
        }
        if self.timeout.is_zero() {
            return Err(ActiveConfigError::ZeroTimeout);
        }
        if self.rise == 0 {
            return Err(ActiveConfigError::ZeroRise);
        }
        if self.fall == 0 {
            return Err(ActiveConfigError::ZeroFall);
        }
        Ok(())
    }
}

impl Default for ActiveConfig {
    /// `interval = "2s"`, `timeout = "1s"`, `rise = 2`, `fall = 3` (HAProxy's defaults).
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            rise: 2,
            fall: 3,
        }
    }
}

// === impl ActiveHealth ===

impl ActiveHealth {
    /// A server whose state is not known yet. `rise` and `fall` below 1 count as 1.
    pub fn new(config: &ActiveConfig) -> Self {
        Self {
            rise: config.rise.max(1),
            fall: config.fall.max(1),
            state: HealthState::Unknown,
            consecutive_successes: 0,
            consecutive_failures: 0,
            last: None,
            last_transition_at: None,
        }
    }

    /// Takes new thresholds (on reload) without forgetting the state or the counts.
    /// The new thresholds apply from the next result on.
    pub fn reconfigure(&mut self, config: &ActiveConfig) {
        self.rise = config.rise.max(1);
        self.fall = config.fall.max(1);
    }

    /// Feeds one probe result; returns the state change it caused, if any.
    pub fn record(&mut self, result: ProbeResult, now: Nanos) -> Option<Transition> {
        if result.ok {
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            self.consecutive_failures = 0;
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.consecutive_successes = 0;
        }
        let cause = self.cause_of_change(&result);
        self.last = Some(LastCheck {
            ok: result.ok,
            latency: result.latency,
            detail: result.detail,
            at: now,
        });
        let cause = cause?;
        let from = self.state;
        self.state = cause.target();
        self.last_transition_at = Some(now);
        Some(Transition {
            from,
            to: self.state,
            at: now,
            cause,
        })
    }

    /// The cause of a state change, once the counters include the new result.
    fn cause_of_change(&self, result: &ProbeResult) -> Option<TransitionCause> {
        match self.state {
            HealthState::Unknown => Some(TransitionCause::FirstCheck {
                ok: result.ok,
                detail: result.detail.clone(),
            }),
            HealthState::Down if self.consecutive_successes >= self.rise => {
                Some(TransitionCause::Rise {
                    count: self.consecutive_successes,
                })
            }
            HealthState::Up if self.consecutive_failures >= self.fall => {
                Some(TransitionCause::Fall {
                    count: self.consecutive_failures,
                    detail: result.detail.clone(),
                })
            }
            _ => None,
        }
    }

    pub fn state(&self) -> HealthState {
        self.state
    }

    pub fn is_up(&self) -> bool {
        self.state == HealthState::Up
    }

    pub fn consecutive_successes(&self) -> u32 {
        self.consecutive_successes
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// The last probe result (detail, latency and time), for the admin API.
    pub fn last_check(&self) -> Option<&LastCheck> {
        self.last.as_ref()
    }

    /// When the state last changed; `None` while [`HealthState::Unknown`].
    pub fn last_transition_at(&self) -> Option<Nanos> {
        self.last_transition_at
    }

    pub fn rise(&self) -> u32 {
        self.rise
    }

    pub fn fall(&self) -> u32 {
        self.fall
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const SEC: Nanos = 1_000_000_000;

    fn config(rise: u32, fall: u32) -> ActiveConfig {
        ActiveConfig {
            rise,
            fall,
            ..ActiveConfig::default()
        }
    }

    fn ok() -> ProbeResult {
        ProbeResult::success(Duration::from_millis(3), "status 200")
    }

    fn refused() -> ProbeResult {
        ProbeResult::failure(Duration::from_millis(1), "connection refused")
    }

    /// Feeds results one per second starting at `start`; returns the transitions.
    fn feed(h: &mut ActiveHealth, start: Nanos, results: &[bool]) -> Vec<Transition> {
        let mut out = Vec::new();
        for (i, &good) in results.iter().enumerate() {
            let r = if good { ok() } else { refused() };
            out.extend(h.record(r, start + i as Nanos * SEC));
        }
        out
    }

    #[test]
    fn first_success_marks_up_at_once() {
        let mut h = ActiveHealth::new(&config(2, 3));
        assert_eq!(h.state(), HealthState::Unknown);
        let t = h.record(ok(), 5).expect("first result decides");
        assert_eq!(
            (t.from, t.to, t.at),
            (HealthState::Unknown, HealthState::Up, 5)
        );
        assert_eq!(t.reason(), "first check succeeded");
        assert_eq!(h.last_transition_at(), Some(5));
    }

    #[test]
    fn first_failure_marks_down_at_once() {
        let mut h = ActiveHealth::new(&config(2, 3));
        let t = h.record(refused(), 0).expect("first result decides");
        assert_eq!((t.from, t.to), (HealthState::Unknown, HealthState::Down));
        assert_eq!(t.reason(), "first check failed: connection refused");
    }

    #[test]
    fn fall_consecutive_failures_take_an_up_server_down() {
        let mut h = ActiveHealth::new(&config(2, 3));
        h.record(ok(), 0);
        assert!(feed(&mut h, SEC, &[false, false]).is_empty());
        assert!(h.is_up());
        let t = feed(&mut h, 3 * SEC, &[false]);
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].from, t[0].to), (HealthState::Up, HealthState::Down));
        assert_eq!(
            t[0].reason(),
            "3 consecutive failed checks: connection refused"
        );
        assert_eq!(h.last_transition_at(), Some(3 * SEC));
    }

    #[test]
    fn a_success_between_failures_restarts_the_fall_count() {
        let mut h = ActiveHealth::new(&config(2, 3));
        h.record(ok(), 0);
        assert!(feed(&mut h, SEC, &[false, false, true, false, false]).is_empty());
        assert!(h.is_up());
        assert_eq!(h.consecutive_failures(), 2);
    }

    #[test]
    fn rise_consecutive_successes_bring_a_down_server_up() {
        let mut h = ActiveHealth::new(&config(2, 3));
        h.record(refused(), 0);
        assert!(feed(&mut h, SEC, &[true, false, true]).is_empty());
        let t = feed(&mut h, 4 * SEC, &[true]);
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].from, t[0].to), (HealthState::Down, HealthState::Up));
        assert_eq!(t[0].reason(), "2 consecutive successful checks");
    }

    #[test]
    fn a_threshold_of_one_words_the_reason_in_singular() {
        let mut h = ActiveHealth::new(&config(1, 1));
        h.record(ok(), 0);
        let t = h.record(ProbeResult::timed_out(Duration::from_secs(1)), SEC);
        assert_eq!(
            t.map(|t| t.reason()).as_deref(),
            Some("1 consecutive failed check: timeout after 1s")
        );
        let t = h.record(ok(), 2 * SEC);
        assert_eq!(
            t.map(|t| t.reason()).as_deref(),
            Some("1 consecutive successful check")
        );
    }

    #[test]
    fn last_check_keeps_detail_latency_and_time() {
        let mut h = ActiveHealth::new(&config(2, 3));
        h.record(ok(), 1);
        h.record(
            ProbeResult::failure(Duration::from_millis(40), "status 503"),
            7,
        );
        let last = h.last_check().expect("recorded");
        assert!(!last.ok);
        assert_eq!(last.detail, "status 503");
        assert_eq!(last.latency, Duration::from_millis(40));
        assert_eq!(last.at, 7);
        assert_eq!(
            (h.consecutive_successes(), h.consecutive_failures()),
            (0, 1)
        );
        assert_eq!(h.last_transition_at(), Some(1));
    }

    #[test]
    fn zero_thresholds_count_as_one() {
        let mut h = ActiveHealth::new(&config(0, 0));
        assert_eq!((h.rise(), h.fall()), (1, 1));
        h.record(ok(), 0);
        assert!(h.record(refused(), 1).is_some());
    }

    #[test]
    fn reconfigure_keeps_state_and_applies_new_thresholds() {
        let mut h = ActiveHealth::new(&config(2, 5));
        h.record(ok(), 0);
        feed(&mut h, SEC, &[false, false]);
        h.reconfigure(&config(2, 3));
        assert!(h.is_up());
        assert!(h.record(refused(), 10 * SEC).is_some());
    }

    #[test]
    fn validate_names_the_bad_key() {
        assert_eq!(ActiveConfig::default().validate(), Ok(()));
        let bad = config(0, 3).validate().unwrap_err();
        assert!(bad.to_string().starts_with("health.rise"));
        let bad = ActiveConfig {
            interval: Duration::ZERO,
            ..ActiveConfig::default()
        };
        assert_eq!(bad.validate(), Err(ActiveConfigError::ZeroInterval));
    }

    #[test]
    fn next_delay_stays_within_ten_percent_and_spreads() {
        let mut rng = StdRng::seed_from_u64(7);
        let interval = Duration::from_secs(2);
        let (lo, hi) = (Duration::from_millis(1800), Duration::from_millis(2200));
        let delays: Vec<Duration> = (0..2000).map(|_| next_delay(interval, &mut rng)).collect();
        assert!(delays.iter().all(|d| (lo..=hi).contains(d)));
        // Spread: both the lower and the upper fifth of the range are hit.
        assert!(delays.iter().any(|d| *d < Duration::from_millis(1880)));
        assert!(delays.iter().any(|d| *d > Duration::from_millis(2120)));
        assert_eq!(next_delay(Duration::ZERO, &mut rng), Duration::ZERO);
    }
}
