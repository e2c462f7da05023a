//! The discrete-event engine: a virtual clock, a binary-heap event queue, and the life of
//! every request — arrival, choice of server (through a balancer instance, a caching DNS
//! resolver, or straight to one server), service, timeout, retry.
//!
//! Arrivals are not kept in the heap: the next one is held aside and compared with the
//! heap's top, which halves the heap traffic; at equal times scheduled events go first
//! (the first health checks at time 0, a completion freeing a slot). Requests live in a slab whose slots (and
//! their `tried` vectors) are reused, so the steady state allocates nothing. Ties in time
//! are broken by insertion order, so a run is a pure function of the scenario and seed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::pool::{Balancer, Ticket};
use crate::scenario::{DeadServer, Scenario};
use crate::server::{Admit, Job, Server};
use crate::stats::{Failure, Frame, RunStats};
use crate::workload::{sample_service, ArrivalStream};
use crate::{Nanos, SimError};

mod control;

/// How requests find a server in one run.
pub enum Route {
    /// Every request straight to one server: the no-balancer baseline.
    Direct(usize),
    /// Through one of the balancer instances, picked per request.
    Balanced(Vec<Balancer>),
    /// Through caching resolvers; `balancers` answer their queries.
    Dns {
        balancers: Vec<Balancer>,
        cache: Vec<(u32, Nanos)>,
        ttl: Nanos,
    },
}

/// One scheduled happening.
#[derive(Debug, Clone, Copy)]
struct Ev {
    at: Nanos,
    seq: u64,
    kind: Kind,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    JobDone {
        server: u32,
        epoch: u32,
        req: u32,
        serial: u32,
    },
    Timeout {
        req: u32,
        serial: u32,
    },
    Probe {
        balancer: u32,
        server: u32,
    },
    ProbeFailed {
        balancer: u32,
        server: u32,
    },
    OutlierTick {
        balancer: u32,
    },
    Refresh {
        balancer: u32,
    },
    Scenario(u32),
}

/// Why an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Dropped,
    Refused,
    Reset,
    Timeout,
}

/// A request in flight.
#[derive(Default)]
struct Req {
    live: bool,
    arrival: Nanos,
    work: Nanos,
    /// Bumped per attempt; events of earlier attempts are stale.
    serial: u32,
    attempts: u32,
    balancer: u32,
    resolver: u32,
    /// The client's hash key, for ring_hash and maglev.
    hash: Option<u64>,
    server: u32,
    sent: Nanos,
    /// The current attempt is at a live server (queued or in service).
    at_server: bool,
    timeout_armed: bool,
    tried: Vec<u32>,
    ticket: Option<Ticket>,
}

/// One run of a scenario with one way of routing.
pub struct Engine<'s> {
    sc: &'s Scenario,
    now: Nanos,
    seq: u64,
    heap: BinaryHeap<Ev>,
    /// Job completions and timeouts pending: when 0 and arrivals are over, nothing can
    /// finish the requests still in flight.
    pending: u64,
    servers: Vec<Server>,
    reqs: Vec<Req>,
    free: Vec<u32>,
    in_flight: u64,
    route: Route,
    workload: SmallRng,
    arrivals: ArrivalStream,
    next_arrival: Option<Nanos>,
    resolver_cdf: Vec<f64>,
    pub stats: RunStats,
}

// === impl Ev ===

impl PartialEq for Ev {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ev {
    /// Reversed: the heap's top is the earliest event.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

// === impl Engine ===

impl<'s> Engine<'s> {
    pub fn new(sc: &'s Scenario, route: Route) -> Result<Self, SimError> {
        let frame = Frame::new(sc.warmup, sc.duration, sc.windows);
        let resolver_cdf = sc.dns.as_ref().map_or_else(Vec::new, |d| {
            d.shares
                .iter()
                .scan(0.0, |acc, s| {
                    *acc += s;
                    Some(*acc)
                })
                .collect()
        });
        let mut engine = Self {
            sc,
            now: 0,
            seq: 0,
            heap: BinaryHeap::new(),
            pending: 0,
            servers: sc.servers.iter().map(Server::new).collect(),
            reqs: Vec::new(),
            free: Vec::new(),
            in_flight: 0,
            route,
            workload: SmallRng::seed_from_u64(sc.seed),
            arrivals: ArrivalStream::new(&sc.arrivals, sc.duration)?,
            next_arrival: None,
            resolver_cdf,
            stats: RunStats::new(frame, sc.servers.len()),
        };
        for i in 0..sc.events.len() {
            engine.schedule(sc.events[i].at, Kind::Scenario(i as u32));
        }
        if sc.health.is_some() {
            for b in 0..engine.balancer_count() {
                for s in 0..sc.servers.len() {
                    engine.schedule(
                        0,
                        Kind::Probe {
                            balancer: b as u32,
                            server: s as u32,
                        },
                    );
                }
            }
        }
        engine.next_arrival = engine.arrivals.next(&mut engine.workload)?;
        Ok(engine)
    }

    /// Runs to the end: arrivals stop at the duration, requests in flight then finish.
    /// `progress` is called now and then with the fraction of simulated time done.
    pub fn run(mut self, progress: &mut dyn FnMut(f64)) -> Result<RunStats, SimError> {
        let mut steps: u32 = 0;
        loop {
            steps = steps.wrapping_add(1);
            if steps & 0xffff == 0 {
                progress((self.now as f64 / self.sc.duration as f64).min(1.0));
            }
            let next_event = self.heap.peek().map(|e| e.at);
            match (self.next_arrival, next_event) {
                (Some(a), e) if e.is_none_or(|e| a < e) => {
                    self.now = a;
                    self.arrive();
                    self.next_arrival = self.arrivals.next(&mut self.workload)?;
                }
                _ if self.next_arrival.is_none() && (self.in_flight == 0 || self.pending == 0) => {
                    break
                }
                (_, Some(_)) => {
                    let ev = self.heap.pop().expect("peeked");
                    self.now = ev.at;
                    self.handle(ev.kind);
                }
                (_, None) => break,
            }
        }
        self.abandon_stuck();
        self.stats.finish(self.now.max(self.sc.duration));
        Ok(self.stats)
    }

    fn balancer_count(&self) -> usize {
        match &self.route {
            Route::Direct(_) => 0,
            Route::Balanced(b) | Route::Dns { balancers: b, .. } => b.len(),
        }
    }

    fn balancer(&mut self, i: u32) -> &mut Balancer {
        match &mut self.route {
            Route::Balanced(b) | Route::Dns { balancers: b, .. } => &mut b[i as usize],
            Route::Direct(_) => unreachable!("no balancer in a direct run"),
        }
    }

    fn schedule(&mut self, at: Nanos, kind: Kind) {
        self.seq += 1;
        if matches!(kind, Kind::JobDone { .. } | Kind::Timeout { .. }) {
            self.pending += 1;
        }
        self.heap.push(Ev {
            at,
            seq: self.seq,
            kind,
        });
    }

    fn handle(&mut self, kind: Kind) {
        match kind {
            Kind::JobDone {
                server,
                epoch,
                req,
                serial,
            } => {
                self.pending -= 1;
                self.job_done(server as usize, epoch, req, serial);
            }
            Kind::Timeout { req, serial } => {
                self.pending -= 1;
                let r = &mut self.reqs[req as usize];
                if r.live && r.serial == serial {
                    r.timeout_armed = false;
                    self.attempt_failed(req, Why::Timeout);
                }
            }
            Kind::Probe { balancer, server } => {
                self.probe(balancer, server);
                self.schedule_refresh(balancer);
            }
            Kind::Refresh { balancer } => {
                let now = self.now;
                self.balancer(balancer).refresh(now);
                self.schedule_refresh(balancer);
            }
            Kind::ProbeFailed { balancer, server } => {
                let timeout = self.sc.health.as_ref().map_or(0, |h| h.timeout);
                let now = self.now;
                self.balancer(balancer)
                    .probe_result(server as usize, false, timeout, now);
                self.schedule_refresh(balancer);
            }
            Kind::OutlierTick { balancer } => {
                let now = self.now;
                self.balancer(balancer).outlier_tick(now);
                self.schedule_refresh(balancer);
            }
            Kind::Scenario(i) => self.scenario_event(i as usize),
        }
    }

    /// A new request: draw its work and its client's resolver and balancer, then send it.
    fn arrive(&mut self) {
        let work = sample_service(&self.sc.service, &mut self.workload);
        let balancer = self.workload.random_range(0..self.sc.balancers.max(1)) as u32;
        let resolver = if self.resolver_cdf.is_empty() {
            0
        } else {
            let u: f64 = self.workload.random();
            self.resolver_cdf
                .iter()
                .position(|c| u < *c)
                .unwrap_or(self.resolver_cdf.len() - 1) as u32
        };
        let hash = self.sc.clients.map(|n| {
            let client: u32 = self.workload.random_range(0..n);
            switchyard_balance::hash_bytes(&client.to_le_bytes())
        });
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.reqs.push(Req::default());
                (self.reqs.len() - 1) as u32
            }
        };
        let r = &mut self.reqs[id as usize];
        r.live = true;
        r.arrival = self.now;
        r.work = work;
        r.attempts = 0;
        r.balancer = balancer;
        r.resolver = resolver;
        r.hash = hash;
        r.tried.clear();
        self.in_flight += 1;
        self.stats.arrived(self.now);
        self.send(id);
    }

    /// One attempt: choose a server and offer it the job.
    fn send(&mut self, id: u32) {
        let now = self.now;
        let Some(server) = self.choose(id) else {
            return self.fail(id, Failure::Error);
        };
        let counted = self.stats.counts(self.reqs[id as usize].arrival);
        if counted {
            self.stats.picks[server] += 1;
        }
        let r = &mut self.reqs[id as usize];
        r.attempts += 1;
        r.serial = r.serial.wrapping_add(1);
        r.server = server as u32;
        r.sent = now;
        r.tried.push(server as u32);
        // A timeout armed for an earlier attempt is stale (its serial is old): this
        // attempt arms its own if it needs one.
        r.timeout_armed = false;
        let job = Job {
            req: id,
            serial: r.serial,
            work: r.work,
        };
        let serial = r.serial;
        match self.servers[server].admit(job) {
            Admit::Started(service) => {
                self.accepted(id, server);
                let epoch = self.servers[server].epoch;
                let kind = Kind::JobDone {
                    server: server as u32,
                    epoch,
                    req: id,
                    serial,
                };
                self.schedule(now.saturating_add(service), kind);
                if self.sc.timeout.is_some_and(|t| service > t) {
                    self.arm_timeout(id);
                }
            }
            Admit::Queued => {
                self.accepted(id, server);
                self.arm_timeout(id);
            }
            Admit::Dropped => self.attempt_failed(id, Why::Dropped),
            Admit::Dead => match self.sc.dead_server {
                DeadServer::Refuse => self.attempt_failed(id, Why::Refused),
                DeadServer::Timeout => self.arm_timeout(id),
            },
        }
    }

    fn accepted(&mut self, id: u32, server: usize) {
        self.reqs[id as usize].at_server = true;
        self.stats.server_load[server].change(&self.stats.frame, self.now, 1);
    }

    fn arm_timeout(&mut self, id: u32) {
        let r = &mut self.reqs[id as usize];
        if let (Some(t), false) = (self.sc.timeout, r.timeout_armed) {
            r.timeout_armed = true;
            let kind = Kind::Timeout {
                req: id,
                serial: r.serial,
            };
            self.schedule(self.now.saturating_add(t), kind);
        }
    }

    /// The server for this attempt, or `None` when the balancer has no server to offer.
    fn choose(&mut self, id: u32) -> Option<usize> {
        let now = self.now;
        self.finish_ticket(id, false);
        let r = &mut self.reqs[id as usize];
        match &mut self.route {
            Route::Direct(s) => Some(*s),
            Route::Balanced(balancers) => {
                let (server, ticket) =
                    balancers[r.balancer as usize].pick(&r.tried, r.hash, now)?;
                r.ticket = Some(ticket);
                Some(server)
            }
            Route::Dns {
                balancers,
                cache,
                ttl,
            } => {
                let entry = &mut cache[r.resolver as usize];
                if entry.1 <= now || entry.0 == u32::MAX {
                    let n = balancers.len();
                    let dns = &mut balancers[r.resolver as usize % n];
                    // With no server up the DNS listener fails open: it answers every
                    // address, and the client takes one of them.
                    let server = match dns.pick(&[], None, now) {
                        Some((server, _answer)) => server,
                        None => dns.any_server(),
                    };
                    *entry = (server as u32, now.saturating_add(*ttl));
                }
                Some(entry.0 as usize)
            }
        }
    }

    fn job_done(&mut self, server: usize, epoch: u32, req: u32, serial: u32) {
        let s = &mut self.servers[server];
        if s.epoch != epoch {
            return; // the server crashed since this job started
        }
        let next = s.finish();
        self.stats.server_load[server].change(&self.stats.frame, self.now, -1);
        if let Some((job, service)) = next {
            let kind = Kind::JobDone {
                server: server as u32,
                epoch,
                req: job.req,
                serial: job.serial,
            };
            self.schedule(self.now.saturating_add(service), kind);
        }
        let r = &mut self.reqs[req as usize];
        if !(r.live && r.serial == serial) {
            return; // its client gave up long ago
        }
        let now = self.now;
        let arrival = r.arrival;
        self.finish_ticket(req, true);
        self.stats.completed(arrival, now);
        self.release(req);
    }

    /// An attempt failed: retry on another server if attempts are left, else give up.
    fn attempt_failed(&mut self, id: u32, why: Why) {
        let r = &mut self.reqs[id as usize];
        r.at_server = false;
        if r.attempts <= self.sc.retries {
            return self.send(id);
        }
        let failure = if why == Why::Dropped {
            Failure::Dropped
        } else {
            Failure::Error
        };
        self.fail(id, failure);
    }

    fn fail(&mut self, id: u32, failure: Failure) {
        let now = self.now;
        self.finish_ticket(id, false);
        let arrival = self.reqs[id as usize].arrival;
        self.stats.failed(arrival, now, failure);
        self.release(id);
    }

    /// Reports the current attempt's outcome to its balancer (if it went through one),
    /// and schedules the end of any ejection that caused.
    fn finish_ticket(&mut self, id: u32, success: bool) {
        let now = self.now;
        let r = &mut self.reqs[id as usize];
        let Some(ticket) = r.ticket.take() else {
            return;
        };
        let (balancer, latency) = (r.balancer, now - r.sent);
        if let Some(until) = self
            .balancer(balancer)
            .finish(ticket, success, latency, now)
        {
            self.schedule(until, Kind::OutlierTick { balancer });
        }
    }

    fn release(&mut self, id: u32) {
        let r = &mut self.reqs[id as usize];
        r.live = false;
        r.at_server = false;
        r.timeout_armed = false;
        // Bumping the serial makes any pending event of this request stale.
        r.serial = r.serial.wrapping_add(1);
        self.in_flight -= 1;
        self.free.push(id);
    }
}
