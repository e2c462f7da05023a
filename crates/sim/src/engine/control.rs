//! The engine's control plane: health checks run by each balancer instance, slow-start
//! refreshes, the scenario's events (kill, revive, weights, slowdowns), and the end of a
//! run. Kept apart from the request path in `mod.rs`, which it shares state with.

use super::{Engine, Kind, Why};
use crate::scenario::{Action, DeadServer};
use crate::stats::Failure;

// === impl Engine (control) ===

impl Engine<'_> {
    /// After a health change: schedules the slow-start refresh the pool now needs.
    pub(super) fn schedule_refresh(&mut self, balancer: u32) {
        if self.sc.slow_start.is_none() {
            return;
        }
        if let Some(at) = self.balancer(balancer).refresh_needed() {
            self.schedule(at.max(self.now), Kind::Refresh { balancer });
        }
    }

    pub(super) fn probe(&mut self, balancer: u32, server: u32) {
        let Some(h) = self.sc.health.clone() else {
            return;
        };
        let now = self.now;
        let alive = self.servers[server as usize].alive;
        let dead_server = self.sc.dead_server;
        let b = self.balancer(balancer);
        let delay = b.next_probe_delay(h.interval);
        match (alive, dead_server) {
            (true, _) => b.probe_result(server as usize, true, 0, now),
            (false, DeadServer::Refuse) => b.probe_result(server as usize, false, 0, now),
            (false, DeadServer::Timeout) => self.schedule(
                now.saturating_add(h.timeout),
                Kind::ProbeFailed { balancer, server },
            ),
        }
        self.schedule(now.saturating_add(delay), Kind::Probe { balancer, server });
    }

    pub(super) fn scenario_event(&mut self, i: usize) {
        let event = self.sc.events[i].clone();
        match event.action {
            Action::Kill => self.kill(event.server),
            Action::Revive => self.servers[event.server].alive = true,
            Action::Slow(factor) => self.servers[event.server].slow = factor,
            Action::SetWeight(w) => {
                for b in 0..self.balancer_count() {
                    self.balancer(b as u32).set_weight(event.server, w);
                }
            }
        }
    }

    /// Crashes a server: its jobs are lost; the requests waiting on it are reset at once
    /// (`dead_server = "refuse"`) or wait for their timeout (`"timeout"`).
    fn kill(&mut self, server: usize) {
        let lost = self.servers[server].kill();
        self.stats.server_load[server].change(&self.stats.frame, self.now, -(lost as i64));
        let victims: Vec<u32> = (0..self.reqs.len() as u32)
            .filter(|&i| {
                let r = &self.reqs[i as usize];
                r.live && r.at_server && r.server as usize == server
            })
            .collect();
        for id in victims {
            self.reqs[id as usize].at_server = false;
            match self.sc.dead_server {
                DeadServer::Refuse => self.attempt_failed(id, Why::Reset),
                DeadServer::Timeout => self.arm_timeout(id),
            }
        }
    }

    /// Requests that nothing can finish any more (a dead server and no timeout) end as
    /// errors when the run ends.
    pub(super) fn abandon_stuck(&mut self) {
        for id in 0..self.reqs.len() as u32 {
            if self.reqs[id as usize].live {
                self.fail(id, Failure::Error);
            }
        }
    }
}
