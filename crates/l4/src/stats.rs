//! Per-listener counters, in atomics the runtime reads for metrics.
//!
//! Kept in a process-wide registry by listener name so a reload that rebuilds the
//! listener's state keeps counting into the same numbers, and connections accepted under
//! the old state still decrement the same `active` gauge when they close.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Counters of one L4 listener. Gauges (`*_active`) go up and down; the rest only up.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// TCP connections accepted (including ones then rejected).
    pub connections_accepted: AtomicU64,
    /// TCP connections open now.
    pub connections_active: AtomicU64,
    /// TCP connections closed at once because `max_connections` was reached.
    pub connections_rejected: AtomicU64,
    /// Connections closed for a bad or missing PROXY header or ClientHello, or no server.
    pub connections_failed: AtomicU64,
    /// Connections closed because their draining server's `drain_timeout` passed.
    pub connections_drain_closed: AtomicU64,
    /// Connections closed by `timeouts.idle`.
    pub connections_idle_closed: AtomicU64,
    /// Bytes from clients (TCP payload or UDP datagrams).
    pub bytes_in: AtomicU64,
    /// Bytes to clients.
    pub bytes_out: AtomicU64,
    /// Connection directions that became bulk transfers and switched to `splice(2)`.
    pub spliced_directions: AtomicU64,
    /// Failed connects to servers (refused, unreachable, timed out).
    pub connect_failures: AtomicU64,
    /// Connects retried on another server.
    pub retries: AtomicU64,
    /// UDP flows open now.
    pub udp_flows_active: AtomicU64,
    /// UDP flows opened.
    pub udp_flows_created: AtomicU64,
    /// UDP datagrams dropped because the flow table was full.
    pub udp_flows_dropped: AtomicU64,
    /// UDP datagrams dropped because no flow could be opened for them (no server up, no
    /// socket).
    pub udp_flows_failed: AtomicU64,
    /// UDP flows forgotten after `timeouts.idle`.
    pub udp_flows_expired: AtomicU64,
    /// UDP datagrams from clients.
    pub datagrams_in: AtomicU64,
    /// UDP datagrams sent back to clients.
    pub datagrams_out: AtomicU64,
}

/// A plain copy of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct StatsSnapshot {
    pub connections_accepted: u64,
    pub connections_active: u64,
    pub connections_rejected: u64,
    pub connections_failed: u64,
    pub connections_drain_closed: u64,
    pub connections_idle_closed: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub spliced_directions: u64,
    pub connect_failures: u64,
    pub retries: u64,
    pub udp_flows_active: u64,
    pub udp_flows_created: u64,
    pub udp_flows_dropped: u64,
    pub udp_flows_failed: u64,
    pub udp_flows_expired: u64,
    pub datagrams_in: u64,
    pub datagrams_out: u64,
}

// === impl ListenerStats ===

impl ListenerStats {
    /// The counters of the listener called `name` (created on first use).
    pub fn for_listener(name: &str) -> Arc<ListenerStats> {
        static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<ListenerStats>>>> = OnceLock::new();
        let reg = REGISTRY.get_or_init(Default::default);
        let mut reg = reg.lock().unwrap_or_else(|p| p.into_inner());
        reg.entry(name.to_string()).or_default().clone()
    }

    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Subtracts one from a gauge.
    pub fn dec(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            connections_accepted: g(&self.connections_accepted),
            connections_active: g(&self.connections_active),
            connections_rejected: g(&self.connections_rejected),
            connections_failed: g(&self.connections_failed),
            connections_drain_closed: g(&self.connections_drain_closed),
            connections_idle_closed: g(&self.connections_idle_closed),
            bytes_in: g(&self.bytes_in),
            bytes_out: g(&self.bytes_out),
            spliced_directions: g(&self.spliced_directions),
            connect_failures: g(&self.connect_failures),
            retries: g(&self.retries),
            udp_flows_active: g(&self.udp_flows_active),
            udp_flows_created: g(&self.udp_flows_created),
            udp_flows_dropped: g(&self.udp_flows_dropped),
            udp_flows_failed: g(&self.udp_flows_failed),
            udp_flows_expired: g(&self.udp_flows_expired),
            datagrams_in: g(&self.datagrams_in),
            datagrams_out: g(&self.datagrams_out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_listener_name_shares_counters_across_rebuilds() {
        let a = ListenerStats::for_listener("stats-test-a");
        ListenerStats::inc(&a.connections_accepted);
        let b = ListenerStats::for_listener("stats-test-a");
        assert_eq!(b.snapshot().connections_accepted, 1);
        assert_eq!(
            ListenerStats::for_listener("stats-test-b")
                .snapshot()
                .connections_accepted,
            0
        );
    }
}
