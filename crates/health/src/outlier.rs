//! Passive health (`[pool.outlier]`): eject a server that keeps failing real traffic.
//!
//! The runtime reports every request or connection outcome with
//! [`OutlierDetector::record`]; `consecutive_failures` failures in a row eject the server
//! for `base_ejection × n` (n = how many times it has been ejected, counting this one),
//! capped at `max_ejection` (default [`MAX_EJECTION`], 300s; `base_ejection` when that
//! is longer): 30s, 60s, 90s… At most `max_ejection_percent` of the pool's servers are out at once, but one
//! server can always be ejected, even in a pool of one or two where the percentage
//! rounds to zero. The runtime calls [`OutlierDetector::tick`] at
//! [`OutlierDetector::next_deadline`] to bring servers back.
//!
//! The count n decays: a server that has been back in service for
//! `base_ejection × `[`DECAY_FACTOR`] (5 minutes with the 30s default) without being
//! ejected again starts over at 30s. Envoy instead decrements n by one per quiet
//! interval; a full reset is simpler to explain and, at the cap, the same after 10
//! quiet periods. Servers are identified by their index in the pool.

use std::fmt;
use std::time::Duration;

use crate::duration::{format_duration, nanos_of};
use crate::Nanos;

/// The default `max_ejection`: the longest ejection (Envoy's default cap).
pub const MAX_EJECTION: Duration = Duration::from_secs(300);

/// A server back for `base_ejection × DECAY_FACTOR` has its ejection count reset.
pub const DECAY_FACTOR: u32 = 10;

/// `[pool.outlier]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlierConfig {
    /// Failures in a row (5xx, connect errors, resets, timeouts) that eject a server;
    /// 0 disables ejection.
    pub consecutive_failures: u32,
    /// The first ejection's length; the nth lasts n times as long, up to `max_ejection`.
    pub base_ejection: Duration,
    /// The longest ejection (default [`MAX_EJECTION`]); a longer `base_ejection` wins.
    pub max_ejection: Duration,
    /// At most this percentage of the pool's servers is ejected at once (but always
    /// at least one may be). Values above 100 count as 100.
    pub max_ejection_percent: u8,
}

/// A server taken out of rotation, returned by [`OutlierDetector::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ejection {
    pub server: usize,
    pub at: Nanos,
    /// When the server comes back ([`OutlierDetector::tick`] reports it).
    pub until: Nanos,
    pub duration: Duration,
    /// How many times in a row (before decay) the server has been ejected: n in `base × n`.
    pub ejection_count: u32,
    /// The failures in a row that caused it.
    pub consecutive_failures: u32,
}

/// One server's passive-health figures, for the admin API and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierStats {
    /// `Some(t)` while ejected: back at `t`.
    pub ejected_until: Option<Nanos>,
    /// Ejections since the detector was created (a counter for metrics).
    pub ejections_total: u64,
    /// n for the next `base × n` (after decay).
    pub ejection_count: u32,
    pub consecutive_failures: u32,
}

/// Passive health of one pool.
#[derive(Debug, Clone)]
pub struct OutlierDetector {
    config: OutlierConfig,
    servers: Vec<ServerOutlier>,
    ejected: usize,
    ejections_refused_total: u64,
}

#[derive(Debug, Clone, Default)]
struct ServerOutlier {
    consecutive_failures: u32,
    ejection_count: u32,
    ejections_total: u64,
    ejected_until: Option<Nanos>,
    /// When the last ejection ended (start of the decay period).
    back_since: Nanos,
}

// === impl OutlierConfig ===

impl Default for OutlierConfig {
    /// `consecutive_failures = 5`, `base_ejection = "30s"`, `max_ejection = "300s"`
    /// (Envoy's defaults), `max_ejection_percent = 50` (the configuration's default).
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(30),
            max_ejection: MAX_EJECTION,
            max_ejection_percent: 50,
        }
    }
}

impl OutlierConfig {
    /// Length of the `count`th ejection: `base × count`, capped.
    pub fn ejection_duration(&self, count: u32) -> Duration {
        let cap = self.max_ejection.max(self.base_ejection);
        self.base_ejection
            .checked_mul(count.max(1))
            .map_or(cap, |d| d.min(cap))
    }

    fn decay_period(&self) -> Nanos {
        nanos_of(self.base_ejection).saturating_mul(u64::from(DECAY_FACTOR))
    }
}

// === impl Ejection ===

impl Ejection {
    /// For `server app/b ejected: <reason>`:
    /// `5 consecutive failed requests; out for 60s (ejection 2)`.
    pub fn reason(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Ejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.consecutive_failures;
        write!(
            f,
            "{n} consecutive failed request{}; out for {} (ejection {})",
            if n == 1 { "" } else { "s" },
            format_duration(self.duration),
            self.ejection_count
        )
    }
}

// === impl ServerOutlier ===

impl ServerOutlier {
    /// The ejection count after decay at `now`.
    fn count_at(&self, now: Nanos, decay_period: Nanos) -> u32 {
        let quiet =
            self.ejected_until.is_none() && now.saturating_sub(self.back_since) >= decay_period;
        if quiet {
            0
        } else {
            self.ejection_count
        }
    }
}

// === impl OutlierDetector ===

impl OutlierDetector {
    /// A detector for a pool of `servers` servers (indices `0..servers`).
    pub fn new(config: OutlierConfig, servers: usize) -> Self {
        Self {
            config,
            servers: vec![ServerOutlier::default(); servers],
            ejected: 0,
            ejections_refused_total: 0,
        }
    }

    /// Takes a new configuration (on reload); current ejections keep their end time.
    pub fn reconfigure(&mut self, config: OutlierConfig) {
        self.config = config;
    }

    /// Grows or shrinks the pool (on reload); kept servers keep their figures.
    pub fn resize(&mut self, servers: usize) {
        self.servers.resize_with(servers, ServerOutlier::default);
        self.ejected = self
            .servers
            .iter()
            .filter(|s| s.ejected_until.is_some())
            .count();
    }

    pub fn config(&self) -> &OutlierConfig {
        &self.config
    }

    pub fn len(&self) -> usize {
        self.servers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Records the outcome of one request or connection to `server`. Returns the
    /// ejection it caused, if any. Outcomes for a server that is out (requests that
    /// were in flight) and for an index outside the pool are ignored.
    pub fn record(&mut self, server: usize, success: bool, now: Nanos) -> Option<Ejection> {
        let decay = self.config.decay_period();
        let threshold = self.config.consecutive_failures;
        let s = self.servers.get_mut(server)?;
        if s.ejected_until.is_some() {
            return None;
        }
        s.ejection_count = s.count_at(now, decay);
        if success {
            s.consecutive_failures = 0;
            return None;
        }
        s.consecutive_failures = s.consecutive_failures.saturating_add(1);
        if threshold == 0 || s.consecutive_failures < threshold {
            return None;
        }
        if !self.may_eject_one_more() {
            self.ejections_refused_total += 1;
            return None;
        }
        Some(self.eject(server, now))
    }

    /// Whether one more server may go out under `max_ejection_percent`; the first
    /// always may.
    fn may_eject_one_more(&self) -> bool {
        let percent = u64::from(self.config.max_ejection_percent.min(100));
        let after = self.ejected as u64 + 1;
        self.ejected == 0 || after * 100 <= percent * self.servers.len() as u64
    }

    fn eject(&mut self, server: usize, now: Nanos) -> Ejection {
        let s = &mut self.servers[server];
        s.ejection_count = s.ejection_count.saturating_add(1);
        s.ejections_total += 1;
        let duration = self.config.ejection_duration(s.ejection_count);
        let until = now.saturating_add(nanos_of(duration));
        s.ejected_until = Some(until);
        let consecutive_failures = std::mem::take(&mut s.consecutive_failures);
        self.ejected += 1;
        Ejection {
            server,
            at: now,
            until,
            duration,
            ejection_count: s.ejection_count,
            consecutive_failures,
        }
    }

    /// Brings back every server whose ejection has ended by `now`; returns their
    /// indices in increasing order.
    pub fn tick(&mut self, now: Nanos) -> Vec<usize> {
        let mut back = Vec::new();
        for (i, s) in self.servers.iter_mut().enumerate() {
            if let Some(until) = s.ejected_until.filter(|&until| until <= now) {
                s.ejected_until = None;
                s.back_since = until;
                back.push(i);
            }
        }
        self.ejected -= back.len();
        back
    }

    /// The earliest time [`tick`](Self::tick) has work to do; `None` when no server is out.
    pub fn next_deadline(&self) -> Option<Nanos> {
        self.servers.iter().filter_map(|s| s.ejected_until).min()
    }

    /// Puts `server` back now and forgets its history (an operator's `enable`).
    /// Returns whether it was ejected.
    pub fn reset(&mut self, server: usize) -> bool {
        let Some(s) = self.servers.get_mut(server) else {
            return false;
        };
        let was_out = s.ejected_until.is_some();
        let total = s.ejections_total;
        *s = ServerOutlier {
            ejections_total: total,
            ..ServerOutlier::default()
        };
        if was_out {
            self.ejected -= 1;
        }
        was_out
    }

    pub fn is_ejected(&self, server: usize) -> bool {
        self.ejected_until(server).is_some()
    }

    /// `Some(t)` while `server` is out: it comes back at `t`.
    pub fn ejected_until(&self, server: usize) -> Option<Nanos> {
        self.servers.get(server)?.ejected_until
    }

    /// How many servers are out now.
    pub fn ejected_count(&self) -> usize {
        self.ejected
    }

    /// Ejections not made because `max_ejection_percent` servers were already out.
    pub fn ejections_refused_total(&self) -> u64 {
        self.ejections_refused_total
    }

    /// `server`'s figures as of `now` (the ejection count after decay).
    pub fn stats(&self, server: usize, now: Nanos) -> Option<OutlierStats> {
        let s = self.servers.get(server)?;
        Some(OutlierStats {
            ejected_until: s.ejected_until,
            ejections_total: s.ejections_total,
            ejection_count: s.count_at(now, self.config.decay_period()),
            consecutive_failures: s.consecutive_failures,
        })
    }
}
