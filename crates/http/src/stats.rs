//! Per-listener counters in atomics, read by the runtime for metrics.
//!
//! One [`ListenerStats`] lives in [`crate::Shared`] and survives reloads (a new
//! [`crate::State`] gets the same `Arc`). Relaxed ordering: these are statistics, not
//! synchronisation.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters of one http/https listener.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// TLS handshakes that failed or timed out.
    pub tls_failures: AtomicU64,
    /// Requests answered, by status class: index 0 = 1xx … 4 = 5xx.
    pub responses_by_class: [AtomicU64; 5],
    /// Request body bytes received from clients.
    pub bytes_in: AtomicU64,
    /// Response body bytes sent to clients.
    pub bytes_out: AtomicU64,
    /// Requests sent again to another server after a refused or reset connection.
    pub retries: AtomicU64,
    /// `502` answers (backend refused or reset, no retry possible).
    pub bad_gateway: AtomicU64,
    /// `503` answers (no server up).
    pub unavailable: AtomicU64,
    /// `504` answers (backend did not answer within `timeouts.backend`).
    pub gateway_timeout: AtomicU64,
    /// Requests refused for ambiguous or malformed framing before reaching hyper.
    pub rejected_framing: AtomicU64,
    /// WebSocket / Upgrade tunnels opened.
    pub upgrades: AtomicU64,
}

/// A plain copy of [`ListenerStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub connections_total: u64,
    pub connections_open: u64,
    pub tls_failures: u64,
    pub responses_by_class: [u64; 5],
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub retries: u64,
    pub bad_gateway: u64,
    pub unavailable: u64,
    pub gateway_timeout: u64,
    pub rejected_framing: u64,
    pub upgrades: u64,
}

// === impl ListenerStats ===

impl ListenerStats {
    /// Count one answer with `status`.
    pub fn count_status(&self, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.responses_by_class[class].fetch_add(1, Relaxed);
        match status {
            502 => self.bad_gateway.fetch_add(1, Relaxed),
            503 => self.unavailable.fetch_add(1, Relaxed),
            504 => self.gateway_timeout.fetch_add(1, Relaxed),
            _ => 0,
        };
    }

    /// Requests answered so far (all classes).
    pub fn requests(&self) -> u64 {
        self.responses_by_class
            .iter()
            .map(|c| c.load(Relaxed))
            .sum()
    }

    /// A consistent-enough copy for metrics.
    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |a: &AtomicU64| a.load(Relaxed);
        StatsSnapshot {
            connections_total: l(&self.connections_total),
            connections_open: l(&self.connections_open),
            tls_failures: l(&self.tls_failures),
            responses_by_class: std::array::from_fn(|i| l(&self.responses_by_class[i])),
            bytes_in: l(&self.bytes_in),
            bytes_out: l(&self.bytes_out),
            retries: l(&self.retries),
            bad_gateway: l(&self.bad_gateway),
            unavailable: l(&self.unavailable),
            gateway_timeout: l(&self.gateway_timeout),
            rejected_framing: l(&self.rejected_framing),
            upgrades: l(&self.upgrades),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_counted_by_class_and_gateway_errors_separately() {
        let s = ListenerStats::default();
        for code in [101, 200, 204, 404, 502, 503, 504, 599] {
            s.count_status(code);
        }
        let snap = s.snapshot();
        assert_eq!(snap.responses_by_class, [1, 2, 0, 1, 4]);
        assert_eq!(
            (snap.bad_gateway, snap.unavailable, snap.gateway_timeout),
            (1, 1, 1)
        );
        assert_eq!(s.requests(), 8);
    }
}
