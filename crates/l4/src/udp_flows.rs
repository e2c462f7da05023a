//! The UDP flow table's decisions, sans I/O: which flow a datagram belongs to, when a new
//! flow may open, when the table is full, and which flows have been idle too long.
//!
//! Shaped after sozu's UDP manager: the table never touches a socket or a clock. The I/O
//! loop (`udp.rs`) passes `now` in (from `switchyard_balance::clock::now()`), acts on the
//! answers, and stores whatever it needs per flow in `F` (the connected server socket and
//! its reply task). That keeps every decision testable with a virtual clock.

use std::collections::HashMap;
use std::net::SocketAddr;

use switchyard_balance::Nanos;

/// Client address → flow, bounded, with idle expiry.
#[derive(Debug)]
pub struct FlowTable<F> {
    flows: HashMap<SocketAddr, Entry<F>>,
    max_flows: usize,
    idle: Nanos,
}

#[derive(Debug)]
struct Entry<F> {
    flow: F,
    last_seen: Nanos,
}

/// What to do with a datagram from a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision<'a, F> {
    /// Send it on this existing flow.
    Forward(&'a F),
    /// No flow yet and there is room: open one, then [`FlowTable::insert`] it.
    Open,
    /// No flow and the table is full: drop the datagram (and count it).
    Full,
}

// === impl FlowTable ===

impl<F> FlowTable<F> {
    /// An empty table holding at most `max_flows` flows (at least 1), each forgotten after
    /// `idle` nanoseconds without a datagram in either direction.
    pub fn new(max_flows: usize, idle: Nanos) -> Self {
        FlowTable {
            flows: HashMap::new(),
            max_flows: max_flows.max(1),
            idle,
        }
    }

    /// Changes the bound and idle time (a reload); existing flows stay even above the
    /// new bound.
    pub fn set_limits(&mut self, max_flows: usize, idle: Nanos) {
        self.max_flows = max_flows.max(1);
        self.idle = idle;
    }

    /// Number of live flows.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether there is no flow.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// A datagram from `client` arrived at `now`: refreshes its flow and says what to do.
    pub fn on_datagram(&mut self, client: SocketAddr, now: Nanos) -> Decision<'_, F> {
        let full = self.flows.len() >= self.max_flows;
        match self.flows.get_mut(&client) {
            Some(e) => {
                e.last_seen = e.last_seen.max(now);
                Decision::Forward(&e.flow)
            }
            None if full => Decision::Full,
            None => Decision::Open,
        }
    }

    /// Stores the flow opened for `client` after [`Decision::Open`]. Returns the flow back
    /// if the table is full (the caller then drops it).
    pub fn insert(&mut self, client: SocketAddr, flow: F, now: Nanos) -> Result<(), F> {
        if self.flows.len() >= self.max_flows && !self.flows.contains_key(&client) {
            return Err(flow);
        }
        self.flows.insert(
            client,
            Entry {
                flow,
                last_seen: now,
            },
        );
        Ok(())
    }

    /// Records activity on `client`'s flow seen elsewhere (a reply from the server).
    pub fn touch(&mut self, client: SocketAddr, at: Nanos) {
        if let Some(e) = self.flows.get_mut(&client) {
            e.last_seen = e.last_seen.max(at);
        }
    }

    /// Removes `client`'s flow (its server socket failed).
    pub fn remove(&mut self, client: SocketAddr) -> Option<F> {
        self.flows.remove(&client).map(|e| e.flow)
    }

    /// Removes and returns every flow idle for `idle` or longer at `now`. `replied_at`
    /// gives each flow's last reply time as seen by the I/O side (0 if none), which also
    /// keeps a flow alive.
    pub fn expire(&mut self, now: Nanos, replied_at: impl Fn(&F) -> Nanos) -> Vec<(SocketAddr, F)> {
        let idle = self.idle;
        let dead: Vec<SocketAddr> = self
            .flows
            .iter_mut()
            .filter_map(|(addr, e)| {
                e.last_seen = e.last_seen.max(replied_at(&e.flow));
                (now.saturating_sub(e.last_seen) >= idle).then_some(*addr)
            })
            .collect();
        dead.into_iter()
            .filter_map(|a| self.flows.remove(&a).map(|e| (a, e.flow)))
            .collect()
    }

    /// When [`expire`](Self::expire) next has something to do, at the earliest.
    pub fn next_expiry(&self) -> Option<Nanos> {
        self.flows.values().map(|e| e.last_seen + self.idle).min()
    }

    /// Removes every flow (shutdown).
    pub fn drain(&mut self) -> Vec<(SocketAddr, F)> {
        self.flows.drain().map(|(a, e)| (a, e.flow)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = 1_000_000_000;

    fn c(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn a_flow_keeps_its_server_for_every_datagram() {
        let mut t = FlowTable::new(10, 30 * S);
        assert_eq!(t.on_datagram(c(1), 0), Decision::Open);
        t.insert(c(1), "server-a", 0).unwrap();
        assert_eq!(t.on_datagram(c(2), S), Decision::Open);
        t.insert(c(2), "server-b", S).unwrap();
        for i in 0..100 {
            assert_eq!(
                t.on_datagram(c(1), 2 * S + i),
                Decision::Forward(&"server-a")
            );
            assert_eq!(
                t.on_datagram(c(2), 2 * S + i),
                Decision::Forward(&"server-b")
            );
        }
    }

    #[test]
    fn idle_flows_expire_and_active_ones_stay() {
        let mut t = FlowTable::new(10, 30 * S);
        t.insert(c(1), 1, 0).unwrap();
        t.insert(c(2), 2, 0).unwrap();
        assert_eq!(t.next_expiry(), Some(30 * S));
        let _ = t.on_datagram(c(2), 20 * S);
        assert!(t.expire(29 * S, |_| 0).is_empty());
        assert_eq!(t.expire(30 * S, |_| 0), vec![(c(1), 1)]);
        assert_eq!(t.next_expiry(), Some(50 * S));
        assert_eq!(t.expire(50 * S, |_| 0), vec![(c(2), 2)]);
        assert!(t.is_empty());
        assert_eq!(t.on_datagram(c(1), 51 * S), Decision::Open);
    }

    #[test]
    fn replies_keep_a_flow_alive() {
        let mut t = FlowTable::new(10, 30 * S);
        t.insert(c(1), 1u8, 0).unwrap();
        assert!(t.expire(40 * S, |_| 25 * S).is_empty());
        t.touch(c(1), 45 * S);
        assert!(t.expire(70 * S, |_| 0).is_empty());
        assert_eq!(t.expire(75 * S, |_| 0).len(), 1);
    }

    #[test]
    fn a_full_table_refuses_new_flows_but_serves_existing_ones() {
        let mut t = FlowTable::new(2, 30 * S);
        t.insert(c(1), 1, 0).unwrap();
        t.insert(c(2), 2, 0).unwrap();
        assert_eq!(t.on_datagram(c(3), S), Decision::Full);
        assert_eq!(t.insert(c(3), 3, S), Err(3));
        assert_eq!(t.on_datagram(c(1), S), Decision::Forward(&1));
        assert_eq!(t.remove(c(2)), Some(2));
        assert_eq!(t.on_datagram(c(3), S), Decision::Open);
    }

    #[test]
    fn a_clock_going_back_never_shortens_a_flow() {
        let mut t = FlowTable::new(2, 10 * S);
        t.insert(c(1), 1, 100 * S).unwrap();
        let _ = t.on_datagram(c(1), 50 * S);
        assert!(t.expire(109 * S, |_| 0).is_empty());
        assert_eq!(t.expire(110 * S, |_| 0).len(), 1);
    }
}
