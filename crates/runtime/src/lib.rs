//! Wiring: builds pools from the configuration model, runs health checks, binds the
//! listeners and hands their sockets to the data planes, applies reloads, shuts down.
//!
//! Startup is a reload from an empty configuration: [`Runtime::start`] creates an empty
//! runtime and applies the first configuration through the same [`Runtime::apply`] that
//! `SIGHUP` and `POST /api/v1/reload` use, so the reload path runs on every start.

mod admin_task;
mod anycast_task;
mod control;
mod health_task;
mod listeners;
mod metrics;
mod outlier_task;
pub mod pools;
pub mod probe;
mod signals;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use switchyard_config as config;
use tokio_util::sync::CancellationToken;

pub use control::RuntimeControl;
pub use health_task::COUNTERS as HEALTH_COUNTERS;
pub use pools::PoolRuntime;
pub use signals::Signals;

/// Why the runtime could not apply a configuration.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("pool {0}: {1}")]
    Pool(String, String),
    // The io error is part of the message, not a `source`: callers print this error
    // alone (reload errors) or through anyhow's chain, which would repeat it.
    #[error("listener {name}: cannot listen on {addr}: {error}")]
    Bind {
        name: String,
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
    #[error("listener {0}: {1}")]
    Listener(String, String),
    #[error("admin API: cannot listen on {addr}: {error}")]
    Admin {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
}

/// The running system.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// The file reloads read, when there is one (`switchyard demo` has a generated one).
    config_path: Option<PathBuf>,
    /// The configuration being served.
    config: ArcSwap<config::Config>,
    /// Pools by name; each lives across reloads.
    pools: ArcSwap<HashMap<String, Arc<PoolRuntime>>>,
    /// Bound listeners and their data planes.
    listeners: Mutex<listeners::ListenerSet>,
    /// The admin API listener, when `[admin]` is configured.
    admin: Mutex<Option<admin_task::AdminTask>>,
    /// The anycast controller, when `[anycast]` is configured.
    anycast: anycast_task::Slot,
    /// One reload at a time.
    reload_lock: tokio::sync::Mutex<()>,
    /// Cancelled at shutdown: every task stops accepting.
    shutdown: CancellationToken,
    /// Whether the process is shutting down (readiness answers 503).
    stopping: AtomicBool,
    /// Set the first time the runtime is ready; from then on only shutdown ends it.
    been_ready: AtomicBool,
    /// The access log every HTTP and L4 listener writes to, with the settings it was
    /// opened with.
    access_log: Mutex<(config::AccessLog, switchyard_http::AccessLogger)>,
    /// Lines the access loggers replaced by reloads had dropped, so the exported count
    /// never goes back.
    access_log_dropped_before: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
}

/// Pools by name.
type PoolMap = HashMap<String, Arc<PoolRuntime>>;

/// What a reload changed: the configuration crate's `diff(old, new)`, which the reload
/// also acts on (pools updated in place, listeners rebound), so the report and the
/// actions cannot disagree.
pub type ReloadSummary = config::ConfigDiff;

// === impl Runtime ===

impl Runtime {
    /// Starts with `config`: an empty runtime, then the first reload.
    pub async fn start(
        config: config::Config,
        config_path: Option<PathBuf>,
    ) -> Result<Runtime, RuntimeError> {
        let runtime = Runtime {
            inner: Arc::new(Inner {
                config_path,
                config: ArcSwap::from_pointee(config::Config::default()),
                pools: ArcSwap::from_pointee(HashMap::new()),
                listeners: Mutex::new(listeners::ListenerSet::default()),
                admin: Mutex::new(None),
                anycast: Mutex::new(None),
                reload_lock: tokio::sync::Mutex::new(()),
                shutdown: CancellationToken::new(),
                stopping: AtomicBool::new(false),
                been_ready: AtomicBool::new(false),
                access_log: Mutex::new((
                    config::AccessLog::default(),
                    switchyard_http::AccessLogger::off(),
                )),
                access_log_dropped_before: AtomicU64::new(0),
                reloads_ok: AtomicU64::new(0),
                reloads_failed: AtomicU64::new(0),
            }),
        };
        runtime.apply(config).await?;
        Ok(runtime)
    }

    /// The configuration being served.
    pub fn config(&self) -> Arc<config::Config> {
        self.inner.config.load_full()
    }

    /// The pools by name.
    pub fn pools(&self) -> Arc<HashMap<String, Arc<PoolRuntime>>> {
        self.inner.pools.load_full()
    }

    /// The file reloads read.
    pub fn config_path(&self) -> Option<&Path> {
        self.inner.config_path.as_deref()
    }

    /// Reads the configuration file again and applies it; on any error the running
    /// configuration stays and the errors are returned (one per line, located).
    pub async fn reload_from_file(&self) -> Result<ReloadSummary, Vec<String>> {
        let Some(path) = self.inner.config_path.clone() else {
            return Err(vec![
                "this runtime was started without a configuration file".into(),
            ]);
        };
        let loaded = tokio::task::spawn_blocking(move || read_for_reload(&path))
            .await
            .map_err(|e| vec![format!("reload task failed: {e}")])?;
        let result = match loaded {
            Ok(new) => self.apply(new).await.map_err(|e| vec![e.to_string()]),
            Err(errors) => Err(errors),
        };
        match &result {
            Ok(summary) => {
                self.inner.reloads_ok.fetch_add(1, Ordering::Relaxed);
                tracing::info!("configuration reloaded: {summary}");
            }
            Err(errors) => {
                self.inner.reloads_failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    "reload failed, the running configuration keeps serving:\n{}",
                    errors.join("\n")
                );
            }
        }
        result
    }

    /// Applies `new` on top of what runs now.
    pub async fn apply(&self, new: config::Config) -> Result<ReloadSummary, RuntimeError> {
        let _one_at_a_time = self.inner.reload_lock.lock().await;
        if self.inner.stopping.load(Ordering::SeqCst) {
            // Listeners or pools started now would take traffic the drain never waits for.
            return Err(RuntimeError::Config(
                "switchyard is shutting down: the configuration is not reloaded".into(),
            ));
        }
        let old = self.inner.config.load_full();
        let running = !old.listeners.is_empty() || !old.pools.is_empty();
        if running && old.global.workers != new.global.workers {
            tracing::warn!(
                "global.workers changed from {:?} to {:?}: it takes effect at the next restart",
                old.global.workers,
                new.global.workers
            );
        }
        let summary = config::diff(&old, &new);
        // Everything that can fail comes first (binding new sockets, opening the access
        // log, checking changed pools, starting new pools, building every listener's
        // state), so a refused reload leaves the running pools and listeners untouched.
        let bound = {
            let mut set = self.inner.listeners.lock().expect("listener lock");
            set.plan(&new)
        };
        let prepared = listeners::bind_all(bound).await?;
        let admin_plan = {
            let task = self.inner.admin.lock().expect("admin lock");
            admin_task::prepare(&task, new.admin.as_ref())?
        };
        let access_log = self.access_log(&new.global.access_log).await?;
        let (pools, started) = self.next_pools(&new, &summary)?;
        let built = {
            let set = self.inner.listeners.lock().expect("listener lock");
            set.build(&new, &pools, &access_log)
        };
        let stop_started = |error: RuntimeError| {
            for pool in &started {
                pool.stop();
            }
            error
        };
        let built = built.map_err(stop_started)?;
        // Changed pools were checked by `next_pools`; this applies them in place.
        for cfg in &new.pools {
            if summary.pools.changed.contains(&cfg.name) {
                if let Some(existing) = pools.get(&cfg.name) {
                    existing.update_checked(cfg).await.map_err(stop_started)?;
                }
            }
        }
        {
            let mut set = self.inner.listeners.lock().expect("listener lock");
            set.publish(&new, built, prepared, &self.inner.shutdown)?;
        }
        // Pools no longer referenced stop their checks once listeners moved off them.
        for name in &summary.pools.removed {
            if let Some(pool) = self.inner.pools.load().get(name) {
                pool.stop();
            }
        }
        if running {
            // Readiness is a start-up gate: a runtime that was ready stays ready while
            // pools this reload adds have their first health round.
            self.ready();
        }
        self.inner.pools.store(Arc::new(pools));
        self.inner.config.store(Arc::new(new));
        {
            let mut task = self.inner.admin.lock().expect("admin lock");
            admin_task::commit(&mut task, admin_plan, RuntimeControl::new(self.clone()));
        }
        let anycast = self.inner.config.load().anycast.clone();
        let weak = Arc::downgrade(&self.inner);
        anycast_task::reconcile(&self.inner.anycast, anycast.as_ref(), weak).await;
        Ok(summary)
    }

    /// The access logger for `wanted`, reopened only when its settings changed.
    async fn access_log(
        &self,
        wanted: &config::AccessLog,
    ) -> Result<switchyard_http::AccessLogger, RuntimeError> {
        {
            let current = self.inner.access_log.lock().expect("access log lock");
            if &current.0 == wanted {
                return Ok(current.1.clone());
            }
        }
        let logger = switchyard_http::AccessLogger::start(wanted)
            .await
            .map_err(|e| RuntimeError::Config(format!("access_log {:?}: {e}", wanted.target)))?;
        let old = std::mem::replace(
            &mut *self.inner.access_log.lock().expect("access log lock"),
            (wanted.clone(), logger.clone()),
        );
        self.inner
            .access_log_dropped_before
            .fetch_add(old.1.dropped(), Ordering::Relaxed);
        Ok(logger)
    }

    /// Access log lines dropped since start because the writer fell behind.
    pub(crate) fn access_log_dropped(&self) -> u64 {
        let now = self
            .inner
            .access_log
            .lock()
            .expect("access log lock")
            .1
            .dropped();
        now + self.inner.access_log_dropped_before.load(Ordering::Relaxed)
    }

    /// The pools of `new`: kept ones as they are (a changed one is only checked here;
    /// the caller updates it once nothing else can fail) and new ones started, which
    /// are also returned apart so a failing reload can stop them.
    fn next_pools(
        &self,
        new: &config::Config,
        summary: &ReloadSummary,
    ) -> Result<(PoolMap, Vec<Arc<PoolRuntime>>), RuntimeError> {
        let current = self.inner.pools.load();
        let mut next = HashMap::new();
        let mut started = Vec::new();
        let mut result = Ok(());
        for cfg in &new.pools {
            let pool = match current.get(&cfg.name) {
                Some(existing) => {
                    if summary.pools.changed.contains(&cfg.name) {
                        if let Err(e) = existing.check(cfg) {
                            result = Err(e);
                            break;
                        }
                    }
                    existing.clone()
                }
                None => match PoolRuntime::start(cfg, &self.inner.shutdown) {
                    Ok(pool) => {
                        started.push(pool.clone());
                        pool
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                },
            };
            next.insert(cfg.name.clone(), pool);
        }
        match result {
            Ok(()) => Ok((next, started)),
            Err(e) => {
                for pool in &started {
                    pool.stop();
                }
                Err(e)
            }
        }
    }

    /// Ready once every listener is bound and every pool has had its first health
    /// round, and from then on until shutdown: pools a reload adds later do not make a
    /// serving process unready while their first round runs. Never while shutting down.
    pub fn ready(&self) -> bool {
        if self.inner.stopping.load(Ordering::Relaxed) {
            return false;
        }
        if self.inner.been_ready.load(Ordering::Relaxed) {
            return true;
        }
        let ready = self
            .inner
            .pools
            .load()
            .values()
            .all(|p| p.first_round_done());
        if ready {
            self.inner.been_ready.store(true, Ordering::Relaxed);
        }
        ready
    }

    /// Graceful shutdown: readiness goes false, anycast prefixes are withdrawn (and
    /// `anycast.withdraw_delay` waited), listeners stop accepting, work in flight
    /// finishes for up to `global.shutdown_timeout`, then everything stops.
    pub async fn shutdown(&self) {
        self.shutdown_until(std::future::pending()).await
    }

    /// [`Runtime::shutdown`], but the wait for work in flight also ends as soon as
    /// `cut_short` completes (the signal handler passes a second SIGTERM/SIGINT).
    pub async fn shutdown_until(&self, cut_short: impl std::future::Future<Output = ()>) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        // A reload under way finishes first (its listeners then drain with the others);
        // later ones see `stopping` and are refused.
        drop(self.inner.reload_lock.lock().await);
        anycast_task::shutdown(&self.inner.anycast).await;
        let timeout = self.config().global.shutdown_timeout;
        tracing::info!(timeout = ?timeout, "shutting down: no new connections, waiting for work in flight");
        let drained = {
            let mut set = self.inner.listeners.lock().expect("listener lock");
            set.stop_accepting()
        };
        tokio::select! {
            finished = tokio::time::timeout(timeout, drained) => {
                if finished.is_err() {
                    tracing::warn!("shutdown_timeout passed with work still in flight; closing it");
                }
            }
            _ = cut_short => {
                tracing::warn!("asked again to stop: closing the work still in flight now");
            }
        }
        self.inner.shutdown.cancel();
    }

    /// Stops the admin API too (the last thing before the process exits).
    pub fn stop_admin(&self) {
        if let Some(task) = self.inner.admin.lock().expect("admin lock").take() {
            task.stop();
        }
    }

    /// Serves until SIGTERM or SIGINT, reloading on SIGHUP. `signals` were installed
    /// before the runtime started, so none sent during start-up is lost or fatal.
    pub async fn run_until_signalled(&self, signals: Signals) -> std::io::Result<()> {
        signals::run(self, signals).await
    }
}

/// The configuration file for a reload, read and validated (errors one per line). An
/// empty file is refused: it is what a reload reads while `cp` or an editor rewrites the
/// file in place, and applying it would stop every listener.
fn read_for_reload(path: &Path) -> Result<config::Config, Vec<String>> {
    let file = path.display().to_string();
    let source = config::read(path)
        .map_err(|errors| errors.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    if source.trim().is_empty() {
        return Err(vec![format!(
            "{file}: the file is empty, so the reload would stop every listener; if it is \
             being rewritten, write the new file beside it and rename it into place"
        )]);
    }
    config::parse(&source, &file).map_err(|errors| errors.0.iter().map(|e| e.to_string()).collect())
}
