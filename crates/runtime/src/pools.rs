//! Pools at run time: the shared `balance::Pool` every data plane reads, plus the health
//! machinery that writes its server states (one probe loop per server, outlier
//! ejection).
//!
//! A pool object lives across reloads: a reload updates it in place (`Pool::update`), so
//! listeners keep their `Arc<Pool>`, and servers that did not change keep their counters,
//! health state and probe loop.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_balance::{clock, Pool, PoolSpec, ServerSpec};
use switchyard_config as config;
use switchyard_health::{ActiveConfig, ActiveHealth, OutlierConfig, OutlierDetector};
use tokio_util::sync::CancellationToken;

use crate::health_task::{self, ServerCheck};
use crate::probe::Probe;
use crate::RuntimeError;

/// One pool and its health machinery.
pub struct PoolRuntime {
    pub name: String,
    pub pool: Arc<Pool>,
    /// The configuration this pool runs now.
    config: Mutex<config::Pool>,
    /// Active health per server name (shared with the probe loops, read by admin).
    pub(crate) health: Mutex<HashMap<String, ServerCheck>>,
    /// Passive outlier ejection, when configured.
    pub(crate) outlier: Mutex<Option<OutlierDetector>>,
    /// Operator changes through the admin API that outlive reloads (see `control.rs`).
    overrides: Mutex<Overrides>,
    /// Whether the pool was in panic mode at the last maintenance poll (for logging).
    pub(crate) panic: std::sync::atomic::AtomicBool,
    /// Cancels every task of this pool (on removal or shutdown).
    cancel: CancellationToken,
}

/// Beyond a check's timeout, how long a reload waits for the first check of the servers
/// it adds (the probe loop's scheduling).
const FIRST_CHECK_SLACK: Duration = Duration::from_millis(100);

/// Weights and algorithm set by an operator; a reload that changes the server (or the
/// pool's algorithm) in the file drops the override.
#[derive(Debug, Default)]
struct Overrides {
    weights: HashMap<String, u32>,
    algorithm: Option<switchyard_balance::Algorithm>,
}

/// A server's health as the admin API shows it.
#[derive(Debug, Clone)]
pub struct HealthView {
    pub state: &'static str,
    pub last: Option<switchyard_health::LastCheck>,
    pub consecutive_successes: u32,
    pub consecutive_failures: u32,
    pub last_transition_at: Option<u64>,
    pub checked: bool,
}

// === impl PoolRuntime ===

impl PoolRuntime {
    /// Builds the pool and starts its probe loops.
    pub fn start(
        cfg: &config::Pool,
        parent: &CancellationToken,
    ) -> Result<Arc<Self>, RuntimeError> {
        let now = clock::now();
        let spec = spec_of(cfg);
        let pool = if cfg.health.check == config::CheckKind::None {
            Pool::new_all_up(spec, now)
        } else {
            Pool::new(spec, now)
        }
        .map_err(|e| RuntimeError::Pool(cfg.name.clone(), e.to_string()))?;
        let runtime = Arc::new(PoolRuntime {
            name: cfg.name.clone(),
            pool: Arc::new(pool),
            config: Mutex::new(cfg.clone()),
            health: Mutex::new(HashMap::new()),
            outlier: Mutex::new(
                cfg.outlier
                    .as_ref()
                    .map(|o| outlier_detector(o, cfg.servers.len())),
            ),
            overrides: Mutex::new(Overrides::default()),
            panic: std::sync::atomic::AtomicBool::new(false),
            cancel: parent.child_token(),
        });
        runtime.start_checks(cfg, cfg.servers.iter().collect());
        crate::outlier_task::spawn(&runtime);
        Ok(runtime)
    }

    /// The configuration this pool runs now.
    pub fn config(&self) -> config::Pool {
        self.config.lock().expect("pool config lock").clone()
    }

    /// Applies a changed configuration in place.
    pub fn update(self: &Arc<Self>, cfg: &config::Pool) -> Result<(), RuntimeError> {
        let old = self.config();
        let now = clock::now();
        let spec = self.with_overrides(&old, cfg);
        self.pool
            .update(spec, now)
            .map_err(|e| RuntimeError::Pool(cfg.name.clone(), e.to_string()))?;
        let health_changed = old.health != cfg.health;
        let mut restart = Vec::new();
        {
            let mut checks = self.health.lock().expect("health lock");
            checks.retain(|name, check| {
                let keep = !health_changed
                    && cfg
                        .servers
                        .iter()
                        .any(|s| &s.name == name && check_target(s) == check.target);
                if !keep {
                    check.cancel.cancel();
                }
                keep
            });
            for server in &cfg.servers {
                if !checks.contains_key(&server.name) {
                    restart.push(server);
                }
            }
        }
        if old.outlier != cfg.outlier {
            *self.outlier.lock().expect("outlier lock") = cfg
                .outlier
                .as_ref()
                .map(|o| outlier_detector(o, cfg.servers.len()));
        } else if let Some(detector) = self.outlier.lock().expect("outlier lock").as_mut() {
            detector.resize(cfg.servers.len());
        }
        *self.config.lock().expect("pool config lock") = cfg.clone();
        self.start_checks(cfg, restart);
        Ok(())
    }

    /// Applies a changed configuration in place, as [`PoolRuntime::update`] does, except
    /// that when it both adds and removes servers, the added ones first join beside the
    /// servers that stay and those that leave, and the removal waits for their first
    /// health check (at most the check's timeout). New servers start down until checked,
    /// so replacing every server of a pool at once would leave it with none up, and its
    /// requests answered 503, until the first checks came back.
    pub async fn update_checked(self: &Arc<Self>, cfg: &config::Pool) -> Result<(), RuntimeError> {
        let old = self.config();
        let is_new = |name: &str| !old.servers.iter().any(|s| s.name == name);
        let added: Vec<&config::Server> = cfg.servers.iter().filter(|s| is_new(&s.name)).collect();
        let removes = old
            .servers
            .iter()
            .any(|s| !cfg.servers.iter().any(|n| n.name == s.name));
        if added.is_empty() || !removes || old.health.check == config::CheckKind::None {
            return self.update(cfg);
        }
        let mut both = old.clone();
        both.servers.extend(added.iter().map(|s| (*s).clone()));
        if self.update(&both).is_ok() {
            let names: Vec<&str> = added.iter().map(|s| s.name.as_str()).collect();
            let checked = || {
                let checks = self.health.lock().expect("health lock");
                names.iter().all(|name| {
                    checks.get(*name).is_none_or(|c| {
                        c.machine
                            .lock()
                            .expect("machine lock")
                            .last_check()
                            .is_some()
                    })
                })
            };
            let until = tokio::time::Instant::now() + old.health.timeout + FIRST_CHECK_SLACK;
            while !checked() && tokio::time::Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        self.update(cfg)
    }

    /// Stops every task of this pool.
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// Whether [`PoolRuntime::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The position of `server` in the configuration (the outlier detector's index).
    pub fn server_index(&self, server: &str) -> Option<usize> {
        self.config
            .lock()
            .expect("pool config lock")
            .servers
            .iter()
            .position(|s| s.name == server)
    }

    /// Each server's outlier figures: how many times it was ejected, and while it is out,
    /// when it comes back (clock nanos).
    pub fn ejections(&self) -> HashMap<String, (u64, Option<u64>)> {
        let now = clock::now();
        let servers = self.config().servers;
        let guard = self.outlier.lock().expect("outlier lock");
        let Some(detector) = guard.as_ref() else {
            return HashMap::new();
        };
        servers
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let stats = detector.stats(i, now)?;
                Some((s.name.clone(), (stats.ejections_total, stats.ejected_until)))
            })
            .collect()
    }

    /// Sets a server's weight until a reload changes that server.
    pub fn set_weight_override(
        &self,
        server: &str,
        weight: u32,
    ) -> Result<(), switchyard_balance::Error> {
        self.pool.set_weight(server, weight)?;
        self.overrides
            .lock()
            .expect("overrides lock")
            .weights
            .insert(server.to_string(), weight);
        Ok(())
    }

    /// Switches the algorithm until a reload changes the pool's algorithm.
    pub fn set_algorithm_override(
        &self,
        algorithm: switchyard_balance::Algorithm,
    ) -> Result<(), switchyard_balance::Error> {
        self.pool.set_algorithm(algorithm)?;
        self.overrides.lock().expect("overrides lock").algorithm = Some(algorithm);
        Ok(())
    }

    /// Whether `cfg` can replace this pool's configuration (what [`PoolRuntime::update`]
    /// would refuse), without changing anything: a reload checks every changed pool
    /// before it changes any.
    pub fn check(&self, cfg: &config::Pool) -> Result<(), RuntimeError> {
        let spec = self.spec_for(&self.config(), cfg);
        Pool::new(spec, clock::now())
            .map(drop)
            .map_err(|e| RuntimeError::Pool(cfg.name.clone(), e.to_string()))
    }

    /// The spec for `new`, keeping operator overrides where the file did not change, and
    /// forgetting the others.
    fn with_overrides(&self, old: &config::Pool, new: &config::Pool) -> PoolSpec {
        let spec = self.spec_for(old, new);
        let mut overrides = self.overrides.lock().expect("overrides lock");
        if old.algorithm != new.algorithm {
            overrides.algorithm = None;
        }
        overrides
            .weights
            .retain(|name, _| override_survives(old, new, name));
        spec
    }

    /// The spec for `new` with the operator overrides that survive the change from `old`.
    fn spec_for(&self, old: &config::Pool, new: &config::Pool) -> PoolSpec {
        let mut spec = spec_of(new);
        let overrides = self.overrides.lock().expect("overrides lock");
        if old.algorithm == new.algorithm {
            if let Some(algorithm) = overrides.algorithm {
                spec.algorithm = algorithm;
            }
        }
        for server in &mut spec.servers {
            if let Some(weight) = overrides.weights.get(&server.name) {
                if override_survives(old, new, &server.name) {
                    server.weight = *weight;
                }
            }
        }
        spec
    }

    /// Whether every server has had its first check (readiness).
    pub fn first_round_done(&self) -> bool {
        let checks = self.health.lock().expect("health lock");
        checks.values().all(|c| {
            c.machine
                .lock()
                .expect("machine lock")
                .last_check()
                .is_some()
        })
    }

    /// The health of `server`, for the admin API.
    pub fn health_view(&self, server: &str) -> Option<HealthView> {
        let checks = self.health.lock().expect("health lock");
        let check = checks.get(server)?;
        let machine = check.machine.lock().expect("machine lock");
        Some(HealthView {
            state: match machine.state() {
                switchyard_health::HealthState::Unknown => "unknown",
                switchyard_health::HealthState::Up => "up",
                switchyard_health::HealthState::Down => "down",
            },
            last: machine.last_check().cloned(),
            consecutive_successes: machine.consecutive_successes(),
            consecutive_failures: machine.consecutive_failures(),
            last_transition_at: machine.last_transition_at(),
            checked: machine.last_check().is_some(),
        })
    }

    fn start_checks(self: &Arc<Self>, cfg: &config::Pool, servers: Vec<&config::Server>) {
        if cfg.health.check == config::CheckKind::None {
            return;
        }
        let probe = Probe::from_config(&cfg.health);
        // A separate `check_address` (a health port) is not the port behind
        // `proxy_protocol`: its checks send no PROXY header.
        let health_port = config::Health {
            proxy_header: config::ProxyProtocol::Off,
            ..cfg.health.clone()
        };
        let health_port = Probe::from_config(&health_port);
        let active = ActiveConfig {
            interval: cfg.health.interval,
            timeout: cfg.health.timeout,
            rise: cfg.health.rise,
            fall: cfg.health.fall,
        };
        let mut checks = self.health.lock().expect("health lock");
        for server in servers {
            let check = ServerCheck {
                target: check_target(server),
                machine: Arc::new(Mutex::new(ActiveHealth::new(&active))),
                cancel: self.cancel.child_token(),
            };
            health_task::spawn(
                self.clone(),
                server.name.clone(),
                &check,
                if server.check_address.is_some() {
                    health_port.clone()
                } else {
                    probe.clone()
                },
                active.clone(),
            );
            checks.insert(server.name.clone(), check);
        }
    }
}

/// Whether an operator's weight for `server` outlives a reload from `old` to `new`: only
/// when the file left that server's entry as it was.
fn override_survives(old: &config::Pool, new: &config::Pool, server: &str) -> bool {
    let before = old.servers.iter().find(|s| s.name == server);
    let after = new.servers.iter().find(|s| s.name == server);
    before.is_some() && before == after
}

/// Where a server's health is checked: `check_address`, else its own address.
fn check_target(server: &config::Server) -> SocketAddr {
    server.check_address.unwrap_or(server.address)
}

fn outlier_detector(o: &config::Outlier, servers: usize) -> OutlierDetector {
    OutlierDetector::new(
        OutlierConfig {
            consecutive_failures: o.consecutive_failures,
            base_ejection: o.base_ejection,
            max_ejection: switchyard_health::MAX_EJECTION,
            max_ejection_percent: o.max_ejection_percent,
        },
        servers,
    )
}

/// The balancing view of a configured pool.
pub fn spec_of(cfg: &config::Pool) -> PoolSpec {
    PoolSpec {
        name: cfg.name.clone(),
        algorithm: cfg.algorithm,
        params: cfg.params.clone(),
        servers: cfg
            .servers
            .iter()
            .map(|s| {
                ServerSpec::new(s.name.clone(), s.address)
                    .with_weight(s.weight)
                    .with_backup(s.backup)
            })
            .collect(),
        slow_start: cfg.slow_start,
        panic_threshold: cfg.panic_threshold,
    }
}
