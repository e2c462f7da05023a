//! What an accept loop does when `accept(2)` fails.
//!
//! Most failures concern one connection: the client gave up while it waited in the backlog
//! (`ECONNABORTED`), a firewall hook refused it (`EPERM`), or the call was interrupted. The
//! next accept can go on at once, and the event is not worth a warning.
//!
//! Running out of descriptors (`EMFILE`, `ENFILE`) or kernel memory (`ENOBUFS`, `ENOMEM`)
//! is different: every accept fails until some connection closes, while the clients wait
//! in the backlog. Retrying at once would spin a core, and warning on each failure floods
//! the log (a listener at its descriptor limit wrote about 50 lines a second). So the loop
//! pauses ([`EXHAUSTED_PAUSE`], like nginx's pause of accepting) and warns about the first
//! failure of a burst, then at most once per [`LOG_EVERY`], saying how many failures it
//! did not report. The decision ([`AcceptErrors::record`]) takes the time as an argument
//! and does no I/O, so it is tested without a clock.

use std::io;
use std::time::{Duration, Instant};

/// Pause after running out of descriptors or memory: long enough not to spin, short
/// enough that clients waiting in the backlog are served soon after a connection closes.
pub const EXHAUSTED_PAUSE: Duration = Duration::from_millis(100);
/// Pause after an unexpected error, so one that persists cannot spin a core.
pub const OTHER_PAUSE: Duration = Duration::from_millis(20);
/// At most one warning per this long while accepts keep failing.
pub const LOG_EVERY: Duration = Duration::from_secs(5);

/// The kind of an accept failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// About one connection only; the next accept may succeed at once.
    OneConnection,
    /// Out of descriptors or kernel memory until something closes.
    Exhausted,
    /// Anything else.
    Other,
}

fn kind(e: &io::Error) -> Kind {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => Kind::Exhausted,
        Some(
            libc::ECONNABORTED
            | libc::ECONNRESET
            | libc::EPERM
            | libc::EPROTO
            | libc::EINTR
            | libc::EAGAIN,
        ) => Kind::OneConnection,
        _ => Kind::Other,
    }
}

/// How long to pause before the next accept after `e`.
pub fn pause_for(e: &io::Error) -> Duration {
    match kind(e) {
        Kind::OneConnection => Duration::ZERO,
        Kind::Exhausted => EXHAUSTED_PAUSE,
        Kind::Other => OTHER_PAUSE,
    }
}

/// What to do about one failed accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Pause this long before accepting again.
    pub pause: Duration,
    /// `Some(n)`: warn about this failure, and that `n` failures since the last warning
    /// were not reported. `None`: do not warn (a warning went out less than
    /// [`LOG_EVERY`] ago, or the failure concerned one connection only).
    pub warn: Option<u64>,
}

/// A warning that may go out at most once per period: the first event warns, later ones
/// within the period are counted, and the next warning says how many went unreported.
/// For events a client can cause at will (failed accepts, datagrams that open no flow),
/// which must not write a log line each.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last_warned: Option<Instant>,
    unreported: u64,
}

impl Throttle {
    /// At most one warning per `every`.
    pub fn new(every: Duration) -> Self {
        Throttle {
            every,
            last_warned: None,
            unreported: 0,
        }
    }

    /// Records an event at `now`. `Some(n)`: warn now, and say that `n` events since the
    /// last warning went unreported. `None`: stay quiet.
    pub fn record(&mut self, now: Instant) -> Option<u64> {
        let due = self
            .last_warned
            .is_none_or(|at| now.saturating_duration_since(at) >= self.every);
        if !due {
            self.unreported += 1;
            return None;
        }
        self.last_warned = Some(now);
        Some(std::mem::take(&mut self.unreported))
    }
}

/// The failures of one accept loop: when it last warned and what it left unreported.
#[derive(Debug)]
pub struct AcceptErrors {
    warnings: Throttle,
}

impl Default for AcceptErrors {
    fn default() -> Self {
        AcceptErrors {
            warnings: Throttle::new(LOG_EVERY),
        }
    }
}

// === impl AcceptErrors ===

impl AcceptErrors {
    /// No failure yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a failure `e` at `now` and says what to do about it.
    pub fn record(&mut self, e: &io::Error, now: Instant) -> Verdict {
        let pause = pause_for(e);
        if kind(e) == Kind::OneConnection {
            return Verdict { pause, warn: None };
        }
        Verdict {
            pause,
            warn: self.warnings.record(now),
        }
    }

    /// Records `e`, logs it as the verdict says (naming `listener`) and pauses.
    pub async fn handle(&mut self, listener: &str, e: &io::Error) {
        let verdict = self.record(e, Instant::now());
        match verdict.warn {
            Some(0) => tracing::warn!(%listener, error = %e, "accept failed"),
            Some(unreported) => tracing::warn!(
                %listener,
                error = %e,
                unreported,
                "accept failed (and {unreported} more times since the last report)"
            ),
            None => tracing::debug!(%listener, error = %e, "accept failed"),
        }
        if !verdict.pause.is_zero() {
            tokio::time::sleep(verdict.pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn exhaustion_pauses_longest_and_one_connection_failures_not_at_all() {
        assert_eq!(pause_for(&os(libc::EMFILE)), EXHAUSTED_PAUSE);
        assert_eq!(pause_for(&os(libc::ENFILE)), EXHAUSTED_PAUSE);
        assert_eq!(pause_for(&os(libc::ENOBUFS)), EXHAUSTED_PAUSE);
        assert_eq!(pause_for(&os(libc::ECONNABORTED)), Duration::ZERO);
        assert_eq!(pause_for(&os(libc::EINVAL)), OTHER_PAUSE);
        assert_eq!(pause_for(&io::Error::other("no code")), OTHER_PAUSE);
    }

    #[test]
    fn a_burst_warns_once_per_period_with_the_count_left_unreported() {
        let mut errs = AcceptErrors::new();
        let t0 = Instant::now();
        let emfile = os(libc::EMFILE);
        assert_eq!(
            errs.record(&emfile, t0).warn,
            Some(0),
            "the first is reported"
        );
        for i in 1..=49 {
            let at = t0 + Duration::from_millis(100 * i);
            assert_eq!(errs.record(&emfile, at).warn, None, "failure {i} is not");
        }
        let later = t0 + LOG_EVERY;
        assert_eq!(errs.record(&emfile, later).warn, Some(49));
        assert_eq!(errs.record(&emfile, later).warn, None);
        assert_eq!(
            errs.record(&emfile, later + LOG_EVERY).warn,
            Some(1),
            "the count starts again after each report"
        );
    }

    #[test]
    fn a_throttle_warns_first_then_once_per_period_with_a_count() {
        let mut t = Throttle::new(Duration::from_secs(5));
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(t.record(t0), Some(0));
        for i in 1..=9 {
            assert_eq!(t.record(t0 + Duration::from_nanos(i)), None);
        }
        assert_eq!(t.record(t0 + s(4)), None);
        assert_eq!(t.record(t0 + s(5)), Some(10));
        assert_eq!(t.record(t0 + s(11)), Some(0));
    }

    #[test]
    fn failures_about_one_connection_are_never_warned_nor_counted() {
        let mut errs = AcceptErrors::new();
        let t0 = Instant::now();
        let aborted = os(libc::ECONNABORTED);
        for _ in 0..10 {
            assert_eq!(
                errs.record(&aborted, t0),
                Verdict {
                    pause: Duration::ZERO,
                    warn: None
                }
            );
        }
        assert_eq!(errs.record(&os(libc::EMFILE), t0).warn, Some(0));
    }
}
