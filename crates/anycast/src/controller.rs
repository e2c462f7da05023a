//! The controller task: keeps BIRD's protocols in step with the health of the pools.
//!
//! Every `tick` (100 ms) it asks the [`HealthSource`] how many servers each listed pool
//! has up, feeds [`Hysteresis`] per announcement, and sends `enable`/`disable` for each
//! BIRD protocol whose state differs from the decision. A protocol named by several
//! announcements is enabled only while all of them want it.
//!
//! BIRD's state is learned, never assumed: after every connect (start, BIRD restart,
//! broken socket) and every `reconcile_every` it reads `show protocols` and corrects what
//! differs. The idle socket is watched, so a BIRD restart is noticed at once; reconnects
//! back off from 100 ms to 5 s. A refused command (say, a `bird_protocol` that bird.conf
//! does not define) is retried with its own backoff and reported once per distinct error.
//!
//! Shutdown withdraws first: every protocol is disabled (connecting once more if need
//! be), then the task waits `withdraw_delay` so routers move traffic away while this
//! process still serves, then returns. Dropping the [`Controller`] without shutting it
//! down withdraws too, without the wait.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_balance::clock;
use switchyard_config as config;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::bird::Toggle;
use crate::client::{BirdClient, BirdError};
use crate::decide::{assess, Action, Hysteresis, Nanos, PoolCount};

/// Where the controller reads pool health: the number of servers up in a pool, `None`
/// when no pool has that name. The runtime answers with `pool.snapshot().up_count()`.
pub trait HealthSource: Send + Sync + 'static {
    fn up_count(&self, pool: &str) -> Option<usize>;
}

/// Timings of the controller (the defaults suit production; tests shorten them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// How often health is evaluated.
    pub tick: Duration,
    /// Bound on connecting and on each command.
    pub io_timeout: Duration,
    /// First reconnect / retry delay, doubled on each failure...
    pub backoff_min: Duration,
    /// ...up to this.
    pub backoff_max: Duration,
    /// How often BIRD's state is read back even when nothing changed.
    pub reconcile_every: Duration,
}

/// One announcement as admin state and metrics show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncementStatus {
    pub prefix: String,
    pub bird_protocol: String,
    /// BIRD confirmed the protocol enabled (false while BIRD is unreachable).
    pub announced: bool,
    /// The health decision: it should be announced.
    pub wanted: bool,
    /// Why, in operators' words; BIRD's error appended when there is one.
    pub reason: String,
    /// When the decision last changed (process clock, `switchyard_balance::clock`).
    pub since: Nanos,
}

/// Counters since the controller started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Protocols enabled (`0011 enabled`).
    pub announces: u64,
    /// Protocols disabled (`0009 disabled`).
    pub withdrawals: u64,
    /// Failed connects, refused commands, broken sockets.
    pub errors: u64,
    /// Connected to BIRD now.
    pub connected: bool,
}

/// Handle on the running controller task.
pub struct Controller {
    tx: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    /// Taken by the first [`Controller::shutdown`] or [`Controller::stop`].
    task: Mutex<Option<JoinHandle<()>>>,
}

enum Command {
    Update(config::Anycast),
    Shutdown {
        wait: bool,
        done: oneshot::Sender<()>,
    },
}

#[derive(Default)]
struct Shared {
    statuses: Mutex<Vec<AnnouncementStatus>>,
    announces: AtomicU64,
    withdrawals: AtomicU64,
    errors: AtomicU64,
    connected: AtomicBool,
}

/// One `[[anycast.announce]]` and its decision.
struct Announcement {
    cfg: config::Announce,
    prefix: String,
    hysteresis: Hysteresis,
}

/// What the task knows of one BIRD protocol.
struct Protocol {
    /// Enabled in BIRD, as last confirmed; `None` = unknown (not connected, or failed).
    enabled: Option<bool>,
    /// No announcement names it any more: disable it, then forget it.
    retired: bool,
    /// The last refused command, until one succeeds.
    error: Option<String>,
    retry_at: Instant,
    backoff: Duration,
}

struct Task {
    cfg: config::Anycast,
    tuning: Tuning,
    health: Arc<dyn HealthSource>,
    shared: Arc<Shared>,
    announcements: Vec<Announcement>,
    protocols: BTreeMap<String, Protocol>,
    conn: Option<BirdClient>,
    next_connect: Instant,
    connect_backoff: Duration,
    connect_error: Option<String>,
    next_reconcile: Instant,
}

// === impl HealthSource ===

impl<F> HealthSource for F
where
    F: Fn(&str) -> Option<usize> + Send + Sync + 'static,
{
    fn up_count(&self, pool: &str) -> Option<usize> {
        self(pool)
    }
}

// === impl Tuning ===

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            tick: Duration::from_millis(100),
            io_timeout: Duration::from_secs(2),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            reconcile_every: Duration::from_secs(30),
        }
    }
}

// === impl Controller ===

impl Controller {
    /// Starts the controller task on the current tokio runtime.
    pub fn start(cfg: &config::Anycast, health: Arc<dyn HealthSource>) -> Controller {
        Controller::start_with(cfg, health, Tuning::default())
    }

    /// [`Controller::start`] with other timings.
    pub fn start_with(
        cfg: &config::Anycast,
        health: Arc<dyn HealthSource>,
        tuning: Tuning,
    ) -> Controller {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let mut task = Task {
            cfg: cfg.clone(),
            tuning,
            health,
            shared: shared.clone(),
            announcements: Vec::new(),
            protocols: BTreeMap::new(),
            conn: None,
            next_connect: Instant::now(),
            connect_backoff: tuning.backoff_min,
            connect_error: None,
            next_reconcile: Instant::now(),
        };
        task.reconfigure(cfg.clone());
        task.publish();
        let task = tokio::spawn(task.run(rx));
        Controller {
            tx,
            shared,
            task: Mutex::new(Some(task)),
        }
    }

    /// Applies a reloaded `[anycast]`: announcements that kept their prefix and protocol
    /// keep their state; protocols no longer named are withdrawn.
    pub fn update(&self, cfg: &config::Anycast) {
        let _ = self.tx.send(Command::Update(cfg.clone()));
    }

    /// Every announcement, in configuration order.
    pub fn status(&self) -> Vec<AnnouncementStatus> {
        self.shared.statuses.lock().expect("status lock").clone()
    }

    /// Counters since start.
    pub fn counters(&self) -> Counters {
        Counters {
            announces: self.shared.announces.load(Ordering::Relaxed),
            withdrawals: self.shared.withdrawals.load(Ordering::Relaxed),
            errors: self.shared.errors.load(Ordering::Relaxed),
            connected: self.shared.connected.load(Ordering::Relaxed),
        }
    }

    /// Graceful shutdown: withdraws every prefix, waits `withdraw_delay`, returns. It
    /// takes `&self` so that [`Controller::status`] can still be read meanwhile: the
    /// announcements show as withdrawn, `shutting down`, rather than vanish.
    pub async fn shutdown(&self) {
        self.finish(true).await;
    }

    /// Withdraws every prefix and stops at once (`[anycast]` removed by a reload).
    pub async fn stop(&self) {
        self.finish(false).await;
    }

    async fn finish(&self, wait: bool) {
        let (done, finished) = oneshot::channel();
        if self.tx.send(Command::Shutdown { wait, done }).is_ok() {
            let _ = finished.await;
        }
        let task = self.task.lock().expect("task lock").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

// === impl Task ===

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        loop {
            if self.conn.is_none() && Instant::now() >= self.next_connect {
                self.connect().await;
            }
            if self.conn.is_some() && Instant::now() >= self.next_reconcile {
                self.reconcile().await;
            }
            self.evaluate(clock::now());
            self.apply().await;
            self.publish();
            let tick = tokio::time::sleep(self.tuning.tick);
            tokio::select! {
                _ = tick => {}
                command = rx.recv() => match command {
                    Some(Command::Update(cfg)) => self.reconfigure(cfg),
                    Some(Command::Shutdown { wait, done }) => {
                        let reason = if wait { SHUTTING_DOWN } else { REMOVED };
                        self.shut_down(wait, reason).await;
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        self.shut_down(false, SHUTTING_DOWN).await;
                        return;
                    }
                },
                err = wait_closed(&mut self.conn) => self.lost(err),
            }
        }
    }

    /// Takes in a new configuration (also the first one).
    fn reconfigure(&mut self, cfg: config::Anycast) {
        let now = clock::now();
        if !self.announcements.is_empty() && cfg.bird_socket != self.cfg.bird_socket {
            tracing::info!(bird_socket = %cfg.bird_socket.display(), "anycast: bird_socket changed; reconnecting");
            self.drop_connection();
            self.next_connect = Instant::now();
        }
        let mut old: Vec<Announcement> = std::mem::take(&mut self.announcements);
        for a in &cfg.announces {
            let kept = old
                .iter()
                .position(|o| o.cfg.prefix == a.prefix && o.cfg.bird_protocol == a.bird_protocol)
                .map(|i| old.swap_remove(i).hysteresis);
            self.announcements.push(Announcement {
                cfg: a.clone(),
                prefix: a.prefix.to_string(),
                hysteresis: kept.unwrap_or_else(|| Hysteresis::new(now)),
            });
        }
        for p in self.protocols.values_mut() {
            p.retired = true;
        }
        for a in &cfg.announces {
            let backoff = self.tuning.backoff_min;
            let entry = self
                .protocols
                .entry(a.bird_protocol.clone())
                .or_insert_with(|| Protocol {
                    enabled: None,
                    retired: false,
                    error: None,
                    retry_at: Instant::now(),
                    backoff,
                });
            entry.retired = false;
        }
        self.cfg = cfg;
    }

    async fn connect(&mut self) {
        let path = self.cfg.bird_socket.clone();
        match BirdClient::connect(&path, self.tuning.io_timeout).await {
            Ok(client) => {
                tracing::info!(bird_socket = %path.display(), version = client.version(), "anycast: connected to BIRD {} on {}", client.version(), path.display());
                self.conn = Some(client);
                self.shared.connected.store(true, Ordering::Relaxed);
                self.connect_backoff = self.tuning.backoff_min;
                self.connect_error = None;
                self.reconcile().await;
            }
            Err(err) => {
                self.shared.errors.fetch_add(1, Ordering::Relaxed);
                let message = err.to_string();
                if self.connect_error.as_deref() != Some(&message) {
                    tracing::warn!(bird_socket = %path.display(), error = %message, "anycast: {message}; retrying");
                }
                self.connect_error = Some(message);
                self.next_connect = Instant::now() + self.connect_backoff;
                self.connect_backoff = (self.connect_backoff * 2).min(self.tuning.backoff_max);
            }
        }
    }

    /// Reads every protocol's state back from BIRD.
    async fn reconcile(&mut self) {
        self.next_reconcile = Instant::now() + self.tuning.reconcile_every;
        let names: Vec<String> = self.protocols.keys().cloned().collect();
        for name in names {
            let Some(conn) = self.conn.as_mut() else {
                return;
            };
            let result = conn.protocol(&name).await;
            let want = self.wanted(&name);
            match result {
                Ok(status) => {
                    let enabled = status.enabled();
                    let p = self.protocols.get_mut(&name).expect("listed above");
                    if p.enabled != Some(enabled) && enabled != want {
                        if p.enabled.is_some() {
                            // Known to BIRD as switchyard left it, now otherwise: a hand edit.
                            tracing::warn!(bird_protocol = %name, state = %status.state, "anycast: protocol {name} was {} in BIRD, changed outside switchyard (birdc?); switchyard sets it back to {}",
                                word(enabled), word(want));
                        } else {
                            tracing::info!(bird_protocol = %name, state = %status.state, "anycast: BIRD has protocol {name} {} (state {}); it should be {}",
                                word(enabled), status.state, word(want));
                        }
                    }
                    p.enabled = Some(enabled);
                    p.error = None;
                }
                Err(err) if err.breaks_connection() => return self.lost(err),
                Err(err) => self.refused(&name, err),
            }
        }
    }

    /// Feeds each announcement's hysteresis with the pools' health now.
    fn evaluate(&mut self, now: Nanos) {
        for a in &mut self.announcements {
            let counts: Vec<PoolCount<'_>> = a
                .cfg
                .pools
                .iter()
                .map(|pool| PoolCount {
                    pool,
                    up: self.health.up_count(pool),
                })
                .collect();
            let health = assess(&counts, a.cfg.min_healthy);
            if let Some(t) = a.hysteresis.observe(&health, self.cfg.hold_down, now) {
                log_decision(a, t.action, &t.reason);
            }
        }
    }

    /// Whether BIRD protocol `name` should be enabled now.
    fn wanted(&self, name: &str) -> bool {
        let mut named = self
            .announcements
            .iter()
            .filter(|a| a.cfg.bird_protocol == name)
            .peekable();
        named.peek().is_some() && named.all(|a| a.hysteresis.announced())
    }

    /// Sends `enable`/`disable` where BIRD differs from the decision.
    async fn apply(&mut self) {
        let names: Vec<String> = self.protocols.keys().cloned().collect();
        for name in names {
            let want = self.wanted(&name);
            let p = &self.protocols[&name];
            if p.enabled == Some(want) || p.retry_at > Instant::now() {
                continue;
            }
            let Some(conn) = self.conn.as_mut() else {
                return;
            };
            let result = if want {
                conn.enable(&name).await
            } else {
                conn.disable(&name).await
            };
            match result {
                Ok(toggle) => self.applied(&name, want, toggle),
                Err(err) if err.breaks_connection() => return self.lost(err),
                Err(err) => self.refused(&name, err),
            }
        }
        self.protocols
            .retain(|_, p| !(p.retired && p.enabled == Some(false)));
    }

    fn applied(&mut self, name: &str, enabled: bool, toggle: Toggle) {
        let min = self.tuning.backoff_min;
        let p = self.protocols.get_mut(name).expect("known protocol");
        p.enabled = Some(enabled);
        p.error = None;
        p.backoff = min;
        let retired = p.retired;
        if toggle == Toggle::Already {
            return;
        }
        let counter = if enabled {
            &self.shared.announces
        } else {
            &self.shared.withdrawals
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let why: Vec<String> = self
            .announcements
            .iter()
            .filter(|a| a.cfg.bird_protocol == name)
            .map(|a| format!("{}: {}", a.prefix, a.hysteresis.reason()))
            .collect();
        let why = if retired {
            "no [[anycast.announce]] names it any more".to_owned()
        } else {
            why.join("; ")
        };
        let verb = if enabled { "enabled" } else { "disabled" };
        tracing::info!(bird_protocol = name, enabled, reason = %why, "anycast: BIRD protocol {name} {verb} ({why})");
    }

    fn refused(&mut self, name: &str, err: BirdError) {
        self.shared.errors.fetch_add(1, Ordering::Relaxed);
        let max = self.tuning.backoff_max;
        let p = self.protocols.get_mut(name).expect("known protocol");
        let message = err.to_string();
        if p.error.as_deref() != Some(&message) {
            tracing::warn!(bird_protocol = name, error = %message, "anycast: {message}");
        }
        p.enabled = None;
        p.error = Some(message);
        p.retry_at = Instant::now() + p.backoff;
        p.backoff = (p.backoff * 2).min(max);
    }

    /// The socket broke: forget BIRD's state and reconnect.
    fn lost(&mut self, err: BirdError) {
        self.shared.errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %err, "anycast: {err}; reconnecting");
        self.drop_connection();
        self.connect_error = Some(err.to_string());
        self.next_connect = Instant::now();
    }

    fn drop_connection(&mut self) {
        self.conn = None;
        self.shared.connected.store(false, Ordering::Relaxed);
        for p in self.protocols.values_mut() {
            p.enabled = None;
            p.retry_at = Instant::now();
        }
    }

    /// Withdraws everything; with `wait`, then waits `withdraw_delay`.
    async fn shut_down(&mut self, wait: bool, reason: &str) {
        let now = clock::now();
        for a in &mut self.announcements {
            if let Some(t) = a.hysteresis.shut_down(reason, now) {
                log_decision(a, t.action, &t.reason);
            }
        }
        for p in self.protocols.values_mut() {
            p.enabled = None;
            p.retry_at = Instant::now();
        }
        for _attempt in 0..2 {
            if self.conn.is_none() {
                self.connect().await;
            }
            self.apply().await;
            if self.conn.is_some() {
                break;
            }
        }
        self.publish();
        let withdrawn = self
            .protocols
            .values()
            .filter(|p| p.enabled == Some(false))
            .count();
        if wait && !self.cfg.withdraw_delay.is_zero() {
            tracing::info!(withdrawn, delay = ?self.cfg.withdraw_delay, "anycast: withdrawn; waiting withdraw_delay for routers to converge");
            tokio::time::sleep(self.cfg.withdraw_delay).await;
        }
    }

    /// Copies the state for [`Controller::status`].
    fn publish(&self) {
        let statuses = self
            .announcements
            .iter()
            .map(|a| {
                let p = self.protocols.get(&a.cfg.bird_protocol);
                let mut reason = a.hysteresis.reason().to_owned();
                let bird_error = p.and_then(|p| p.error.as_deref()).or(self
                    .conn
                    .is_none()
                    .then_some(())
                    .and(self.connect_error.as_deref()));
                if let Some(err) = bird_error {
                    reason = format!("{reason}; BIRD: {err}");
                }
                AnnouncementStatus {
                    prefix: a.prefix.clone(),
                    bird_protocol: a.cfg.bird_protocol.clone(),
                    announced: p.is_some_and(|p| p.enabled == Some(true)),
                    wanted: a.hysteresis.announced(),
                    reason,
                    since: a.hysteresis.since(),
                }
            })
            .collect();
        *self.shared.statuses.lock().expect("status lock") = statuses;
    }
}

/// Why every prefix is withdrawn on graceful shutdown (and when the handle is dropped).
const SHUTTING_DOWN: &str = "shutting down";
/// Why every prefix is withdrawn by [`Controller::stop`]: a reload removed `[anycast]`,
/// and the process goes on serving, so "shutting down" would mislead.
const REMOVED: &str = "[anycast] removed from the configuration";

/// Resolves when the connected socket breaks; never without a connection.
async fn wait_closed(conn: &mut Option<BirdClient>) -> BirdError {
    match conn {
        Some(c) => c.closed().await,
        None => std::future::pending().await,
    }
}

fn log_decision(a: &Announcement, action: Action, reason: &str) {
    let prefix = &a.prefix;
    let proto = &a.cfg.bird_protocol;
    match action {
        Action::Announce => {
            tracing::info!(prefix = %prefix, bird_protocol = %proto, reason, "anycast: announcing {prefix}: {reason}")
        }
        Action::Withdraw => {
            tracing::warn!(prefix = %prefix, bird_protocol = %proto, reason, "anycast: withdrawing {prefix}: {reason}")
        }
    }
}

fn word(enabled: bool) -> &'static str {
    if enabled {
        "enabled"
    } else {
        "disabled"
    }
}
