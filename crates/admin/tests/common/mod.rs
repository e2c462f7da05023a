//! Test support: an in-memory [`Control`] whose mutating calls really change the state it
//! reports, and a helper that serves it on 127.0.0.1:0.
#![allow(dead_code)]

pub mod exposition;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_admin::metrics::{family, MetricKind};
use switchyard_admin::{
    AnnouncementDoc, CheckDoc, Control, ControlError, DatacenterDoc, HealthDoc, Histogram,
    LatencyDoc, ListenerDoc, PoolDoc, ReloadFuture, ReloadSummary, ServerDoc, ServerStatus,
    StateDoc,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const ALGORITHMS: [&str; 4] = ["round_robin", "least_connections", "power_of_two", "maglev"];

/// A runtime stand-in: pools, servers and listeners in memory. Every `state()` call
/// simulates a slice of traffic: each `up` server gets `weight` requests, so shares
/// follow weights and drained or disabled servers get none.
pub struct FakeControl {
    state: Mutex<StateDoc>,
    ready: AtomicBool,
    reload_errors: Mutex<Option<Vec<String>>>,
    pub reloads: AtomicUsize,
    reload_delay: Mutex<Duration>,
    latency: Histogram,
}

pub struct Served {
    pub base: String,
    pub addr: SocketAddr,
    pub control: Arc<FakeControl>,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<()>,
}

fn server(name: &str, port: u16, weight: u32) -> ServerDoc {
    ServerDoc {
        name: name.into(),
        address: format!("127.0.0.1:{port}"),
        state: ServerStatus::Up,
        weight,
        effective_weight: weight.into(),
        health: HealthDoc {
            last: Some(CheckDoc {
                ok: true,
                detail: "HTTP 200".into(),
                latency_ms: Some(1.5),
                at: 1_700_000_000_000,
            }),
            consecutive_successes: 4,
            ..Default::default()
        },
        ..Default::default()
    }
}

// === impl FakeControl ===

impl FakeControl {
    pub fn new() -> Self {
        let mut flaky = server("flaky", 9004, 1);
        flaky.state = ServerStatus::Down;
        flaky.ejections = 2;
        flaky.health.last = Some(CheckDoc {
            ok: false,
            detail: "connect refused".into(),
            latency_ms: None,
            at: 1_700_000_000_000,
        });
        let state = StateDoc {
            listeners: vec![ListenerDoc {
                name: "web".into(),
                protocol: "http".into(),
                listen: "127.0.0.1:8080".into(),
                pool: Some("app".into()),
                ..Default::default()
            }],
            pools: vec![
                PoolDoc {
                    name: "app".into(),
                    algorithm: "round_robin".into(),
                    panic: false,
                    check: "http".into(),
                    servers: vec![
                        server("fast", 9001, 3),
                        server("medium", 9002, 1),
                        server("slow", 9003, 1),
                        flaky,
                    ],
                },
                PoolDoc {
                    name: "db".into(),
                    algorithm: "least_connections".into(),
                    panic: true,
                    check: "tcp".into(),
                    servers: vec![server("primary \"quoted\"", 5432, 1)],
                },
            ],
            datacenters: vec![DatacenterDoc {
                name: "virginia".into(),
                up: true,
                addresses: vec!["198.51.100.10".into()],
                pool: Some("app".into()),
            }],
            anycast: vec![AnnouncementDoc {
                prefix: "203.0.113.10/32".into(),
                bird_protocol: "vip_web".into(),
                announced: true,
                reason: "pool app has 3 of 1 required healthy servers".into(),
                since: Some(1_700_000_000_000),
            }],
            ..Default::default()
        };
        Self {
            state: Mutex::new(state),
            ready: AtomicBool::new(true),
            reload_errors: Mutex::new(None),
            reloads: AtomicUsize::new(0),
            reload_delay: Mutex::new(Duration::from_millis(5)),
            latency: Histogram::new(),
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// The next reloads fail with these errors (None: succeed).
    pub fn fail_reloads_with(&self, errors: Option<Vec<String>>) {
        *self.reload_errors.lock().unwrap() = errors;
    }

    /// How long each reload takes from now on.
    pub fn set_reload_delay(&self, delay: Duration) {
        *self.reload_delay.lock().unwrap() = delay;
    }

    /// The server as the control holds it now.
    pub fn server(&self, pool: &str, server: &str) -> ServerDoc {
        let state = self.state.lock().unwrap();
        let pool = state.pools.iter().find(|p| p.name == pool).expect("pool");
        pool.servers
            .iter()
            .find(|s| s.name == server)
            .expect("server")
            .clone()
    }

    pub fn algorithm(&self, pool: &str) -> String {
        let state = self.state.lock().unwrap();
        state
            .pools
            .iter()
            .find(|p| p.name == pool)
            .expect("pool")
            .algorithm
            .clone()
    }

    fn with_server<T>(
        &self,
        pool: &str,
        server: &str,
        f: impl FnOnce(&mut ServerDoc) -> T,
    ) -> Result<T, ControlError> {
        let mut state = self.state.lock().unwrap();
        let p = state
            .pools
            .iter_mut()
            .find(|p| p.name == pool)
            .ok_or_else(|| ControlError::unknown_pool(pool))?;
        let s = p
            .servers
            .iter_mut()
            .find(|s| s.name == server)
            .ok_or_else(|| ControlError::unknown_server(pool, server))?;
        Ok(f(s))
    }

    fn simulate_traffic(&self, state: &mut StateDoc) {
        let mut total = 0;
        for pool in &mut state.pools {
            for s in &mut pool.servers {
                if s.state == ServerStatus::Up {
                    let n = u64::from(s.weight);
                    s.requests_total += n;
                    s.errors_total += n / 3;
                    total += n;
                    let ms = 1 + s.address.len() as u64;
                    self.latency.observe(Duration::from_millis(ms));
                    s.latency = LatencyDoc {
                        p50_ms: Some(ms as f64),
                        p90_ms: Some(ms as f64 * 1.5),
                        p99_ms: Some(ms as f64 * 2.0),
                    };
                }
            }
        }
        for l in &mut state.listeners {
            l.requests_total += total;
            l.connections_total += total;
            l.received_bytes_total += total * 200;
            l.sent_bytes_total += total * 1200;
        }
    }
}

impl Control for FakeControl {
    fn state(&self) -> StateDoc {
        let mut state = self.state.lock().unwrap();
        self.simulate_traffic(&mut state);
        state.clone()
    }

    fn drain(&self, pool: &str, server: &str) -> Result<(), ControlError> {
        self.with_server(pool, server, |s| s.state = ServerStatus::Draining)
    }

    fn enable(&self, pool: &str, server: &str) -> Result<(), ControlError> {
        self.with_server(pool, server, |s| s.state = ServerStatus::Up)
    }

    fn disable(&self, pool: &str, server: &str) -> Result<(), ControlError> {
        self.with_server(pool, server, |s| s.state = ServerStatus::Disabled)
    }

    fn set_weight(&self, pool: &str, server: &str, weight: u32) -> Result<(), ControlError> {
        self.with_server(pool, server, |s| {
            s.weight = weight;
            s.effective_weight = weight.into();
        })
    }

    fn set_algorithm(&self, pool: &str, algorithm: &str) -> Result<(), ControlError> {
        let mut state = self.state.lock().unwrap();
        let p = state
            .pools
            .iter_mut()
            .find(|p| p.name == pool)
            .ok_or_else(|| ControlError::unknown_pool(pool))?;
        if !ALGORITHMS.contains(&algorithm) {
            return Err(ControlError::BadRequest(format!(
                "unknown algorithm {algorithm}"
            )));
        }
        p.algorithm = algorithm.to_owned();
        Ok(())
    }

    fn reload(&self) -> ReloadFuture {
        let errors = self.reload_errors.lock().unwrap().clone();
        let delay = *self.reload_delay.lock().unwrap();
        self.reloads.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            match errors {
                Some(errors) => Err(errors),
                None => Ok(ReloadSummary {
                    changed: vec!["pool app".into()],
                    unchanged: 2,
                    ..Default::default()
                }),
            }
        })
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn render_metrics(&self, out: &mut String) {
        switchyard_admin::render_state(out, &self.state());
        family(
            out,
            "switchyard_request_duration_seconds",
            MetricKind::Histogram,
            "Request latency by pool.",
        )
        .histogram(&[("pool", "app")], &self.latency.snapshot());
    }
}

/// Serves a fresh [`FakeControl`] on 127.0.0.1:0.
pub async fn serve(token: Option<&str>) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let control = Arc::new(FakeControl::new());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(switchyard_admin::serve(
        listener,
        control.clone(),
        token.map(str::to_owned),
        shutdown.clone(),
    ));
    Served {
        base: format!("http://{addr}"),
        addr,
        control,
        shutdown,
        task,
    }
}
