//! A simulated server: `concurrency` requests in service at once, a FIFO waiting room of
//! `queue` more, beyond which requests are dropped; service time is the request's work
//! divided by `speed` (times the `slow` factor of a `slow` event).
//!
//! The server knows jobs, not client requests: a job whose client gave up (timeout) is
//! still served to the end and only then discarded, as a real backend that never noticed
//! the closed connection would. `epoch` changes when the server is killed, so completions
//! scheduled before the crash are recognised and ignored.

use std::collections::VecDeque;

use crate::scenario::SimServer;
use crate::Nanos;

/// A unit of work at a server, tied to one attempt of one request.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    pub req: u32,
    pub serial: u32,
    pub work: Nanos,
}

/// What a server did with a job offered to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Service starts now and ends after this long.
    Started(Nanos),
    Queued,
    /// The waiting room is full.
    Dropped,
    /// The server is dead.
    Dead,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub speed: f64,
    pub slow: f64,
    pub concurrency: u32,
    pub queue_cap: u32,
    pub alive: bool,
    pub epoch: u32,
    pub busy: u32,
    pub queue: VecDeque<Job>,
}

// === impl Server ===

impl Server {
    pub fn new(spec: &SimServer) -> Self {
        Self {
            speed: spec.speed,
            slow: 1.0,
            concurrency: spec.concurrency,
            queue_cap: spec.queue,
            alive: true,
            epoch: 0,
            busy: 0,
            queue: VecDeque::new(),
        }
    }

    /// Jobs at the server: in service plus waiting.
    pub fn load(&self) -> u64 {
        self.busy as u64 + self.queue.len() as u64
    }

    pub fn service_time(&self, work: Nanos) -> Nanos {
        if self.speed == 1.0 && self.slow == 1.0 {
            work
        } else {
            (work as f64 * self.slow / self.speed + 0.5) as Nanos
        }
    }

    pub fn admit(&mut self, job: Job) -> Admit {
        if !self.alive {
            Admit::Dead
        } else if self.busy < self.concurrency {
            self.busy += 1;
            Admit::Started(self.service_time(job.work))
        } else if (self.queue.len() as u64) < self.queue_cap as u64 {
            self.queue.push_back(job);
            Admit::Queued
        } else {
            Admit::Dropped
        }
    }

    /// A job finished: frees its slot and returns the next job to start with its
    /// service time, if one was waiting.
    pub fn finish(&mut self) -> Option<(Job, Nanos)> {
        self.busy -= 1;
        let job = self.queue.pop_front()?;
        self.busy += 1;
        Some((job, self.service_time(job.work)))
    }

    /// Crashes the server: everything in it is lost. Returns how many jobs were lost.
    pub fn kill(&mut self) -> u64 {
        let lost = self.load();
        self.alive = false;
        self.epoch = self.epoch.wrapping_add(1);
        self.busy = 0;
        self.queue.clear();
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(concurrency: u32, queue: u32) -> SimServer {
        SimServer {
            name: "a".into(),
            speed: 2.0,
            concurrency,
            queue,
            weight: 1,
        }
    }

    #[test]
    fn serves_concurrency_then_queues_then_drops() {
        let mut s = Server::new(&spec(1, 1));
        let job = Job {
            req: 0,
            serial: 0,
            work: 100,
        };
        assert_eq!(s.admit(job), Admit::Started(50));
        assert_eq!(s.admit(job), Admit::Queued);
        assert_eq!(s.admit(job), Admit::Dropped);
        assert_eq!(s.load(), 2);
        assert_eq!(s.finish().map(|(_, t)| t), Some(50));
        assert!(s.finish().is_none());
        assert_eq!(s.load(), 0);
    }

    #[test]
    fn killed_servers_lose_their_jobs_and_refuse_new_ones() {
        let mut s = Server::new(&spec(1, 5));
        let job = Job {
            req: 0,
            serial: 0,
            work: 100,
        };
        s.admit(job);
        s.admit(job);
        assert_eq!(s.kill(), 2);
        assert_eq!(s.admit(job), Admit::Dead);
        s.slow = 3.0;
        assert_eq!(s.service_time(100), 150);
    }
}
