//! Listeners: bind sockets, run each protocol's data plane on them, and keep them across
//! reloads.
//!
//! A reload first binds every new socket (so a port in use fails the reload before
//! anything changed), then builds every listener's new state, and only then publishes:
//! kept listeners get their new state swapped in (their sockets and counters stay),
//! rebound ones start on the new socket while the old one drains, removed ones stop
//! accepting and let their work finish.
//!
//! A listener that takes over the address of one this reload moves, renames or changes
//! the protocol of is handed that listening socket (a duplicate of its descriptor)
//! instead of binding again: binding would fail while the old one still listens, and
//! closing first would refuse the clients in between.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use arc_swap::ArcSwap;
use switchyard_balance::Pool;
use switchyard_config as config;
use switchyard_dns as dns;
use switchyard_http as http;
use switchyard_l4 as l4;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::pools::PoolRuntime;
use crate::RuntimeError;

/// The listeners that run now.
#[derive(Default)]
pub(crate) struct ListenerSet {
    running: HashMap<String, Running>,
    /// Listeners told to stop whose data plane has not finished: the address, and the
    /// signal that it has. Until then it may still hold its sockets for a moment (DNS
    /// UDP threads notice the stop within 200 ms), so binding there again is retried.
    stopping: Vec<(SocketAddr, tokio::sync::watch::Receiver<bool>)>,
}

/// One listener at work.
pub(crate) struct Running {
    pub config: config::Listener,
    pub plane: Plane,
    cancel: CancellationToken,
    /// Turns true once the data plane's work in flight has finished after `cancel`.
    done: tokio::sync::watch::Receiver<bool>,
    /// Duplicates of the listening sockets, for a listener that takes this address over
    /// in a later reload; dropped when this one stops accepting.
    handover: Handover,
}

/// Duplicated descriptors of a listener's sockets (TCP listening socket, UDP socket).
#[derive(Default)]
struct Handover {
    tcp: Option<OwnedFd>,
    udp: Option<OwnedFd>,
}

impl Handover {
    fn of(sockets: &Sockets) -> Handover {
        let dup = |fd: std::os::fd::BorrowedFd<'_>| match fd.try_clone_to_owned() {
            Ok(fd) => Some(fd),
            Err(e) => {
                tracing::warn!(error = %e, "cannot keep a listening socket for a later reload");
                None
            }
        };
        match sockets {
            Sockets::Tcp(tcp) => Handover {
                tcp: dup(tcp.as_fd()),
                udp: None,
            },
            Sockets::Udp(udp) => Handover {
                tcp: None,
                udp: dup(udp.as_fd()),
            },
            Sockets::Dns(udp, tcp) => Handover {
                tcp: dup(tcp.as_fd()),
                udp: dup(udp.as_fd()),
            },
        }
    }

    /// Another duplicate of the same sockets.
    fn share(&self) -> Handover {
        let dup = |fd: &Option<OwnedFd>| fd.as_ref().and_then(|fd| fd.try_clone().ok());
        Handover {
            tcp: dup(&self.tcp),
            udp: dup(&self.udp),
        }
    }
}

/// A data plane's shared state and counters.
pub(crate) enum Plane {
    Http {
        state: Arc<ArcSwap<http::State>>,
        shared: http::Shared,
    },
    L4 {
        state: Arc<ArcSwap<l4::State>>,
    },
    Dns {
        state: Arc<ArcSwap<dns::DnsListenerState>>,
        stats: Arc<dns::DnsStats>,
    },
}

/// Sockets bound for the listeners a reload adds or moves.
pub(crate) struct Bound {
    sockets: Vec<(String, Sockets)>,
}

/// The sockets a protocol needs.
enum Sockets {
    Tcp(TcpListener),
    Udp(UdpSocket),
    Dns(UdpSocket, TcpListener),
}

impl Sockets {
    fn describe(&self) -> &'static str {
        match self {
            Sockets::Tcp(_) => "tcp",
            Sockets::Udp(_) => "udp",
            Sockets::Dns(..) => "udp+tcp",
        }
    }
}

/// Every listener's new state, built but not yet published.
pub(crate) struct Built {
    states: Vec<State>,
}

/// What to bind: listener name, protocol, address.
pub(crate) struct Plan {
    to_bind: Vec<ToBind>,
}

/// A listener that needs sockets.
struct ToBind {
    listener: config::Listener,
    /// The sockets of a running listener that gives up this address, if any.
    handover: Handover,
    /// Whether a listener stopped earlier may still hold the address for a moment.
    after_stopped: bool,
}

// === impl ListenerSet ===

impl ListenerSet {
    /// Decides which listeners need new sockets.
    /// A listener that needs a new socket where a running one this reload gives up
    /// listens now is handed that one's sockets.
    pub fn plan(&mut self, new: &config::Config) -> Plan {
        self.stopping.retain(|(_, done)| !*done.borrow());
        let keeps_socket = |l: &config::Listener| {
            self.running
                .get(&l.name)
                .is_some_and(|r| same_socket(&r.config, l))
        };
        let given_up: Vec<&Running> = self
            .running
            .values()
            .filter(|r| !new.listener(&r.config.name).is_some_and(keeps_socket))
            .collect();
        let to_bind = new
            .listeners
            .iter()
            .filter(|l| !keeps_socket(l))
            .map(|l| {
                let handover = given_up
                    .iter()
                    .find(|r| r.config.listen == l.listen)
                    .map(|r| r.handover.share())
                    .unwrap_or_default();
                ToBind {
                    listener: l.clone(),
                    handover,
                    after_stopped: self.stopping.iter().any(|(addr, _)| *addr == l.listen),
                }
            })
            .collect();
        Plan { to_bind }
    }

    /// Builds every listener's new state without publishing anything: a failure here
    /// leaves the running listeners as they are.
    pub fn build(
        &self,
        new: &config::Config,
        pools: &HashMap<String, Arc<PoolRuntime>>,
        access_log: &http::AccessLogger,
    ) -> Result<Built, RuntimeError> {
        let pools: HashMap<String, Arc<Pool>> = pools
            .iter()
            .map(|(name, p)| (name.clone(), p.pool.clone()))
            .collect();
        let mut states = Vec::new();
        for listener in &new.listeners {
            let shared = match self.running.get(&listener.name).map(|r| &r.plane) {
                Some(Plane::Http { shared, .. }) => http::Shared {
                    stats: shared.stats.clone(),
                    access_log: access_log.clone(),
                },
                _ => http::Shared::new(access_log.clone()),
            };
            states.push(State::build(listener, new, &pools, shared)?);
        }
        Ok(Built { states })
    }

    /// Publishes what [`ListenerSet::build`] built: kept listeners swap their state in,
    /// new and rebound ones start on their sockets, removed ones stop accepting.
    pub fn publish(
        &mut self,
        new: &config::Config,
        built: Built,
        mut bound: Bound,
        shutdown: &CancellationToken,
    ) -> Result<(), RuntimeError> {
        let built = new.listeners.iter().zip(built.states);
        for (listener, state) in built {
            match bound.take(&listener.name) {
                Some(sockets) => {
                    let dns_stats = match self.running.get(&listener.name).map(|r| &r.plane) {
                        Some(Plane::Dns { stats, .. }) => Some(stats.clone()),
                        _ => None,
                    };
                    let running =
                        start(listener, state, sockets, dns_stats, shutdown.child_token())?;
                    if let Some(old) = self.running.insert(listener.name.clone(), running) {
                        self.retire(old);
                    }
                }
                None => {
                    let running = self
                        .running
                        .get_mut(&listener.name)
                        .expect("planned as kept");
                    running.swap(state);
                    running.config = listener.clone();
                }
            }
        }
        let removed: Vec<String> = self
            .running
            .keys()
            .filter(|name| new.listener(name).is_none())
            .cloned()
            .collect();
        for name in removed {
            if let Some(old) = self.running.remove(&name) {
                tracing::info!(listener = %name, "listener removed: no longer accepting, letting work in flight finish");
                self.retire(old);
            }
        }
        Ok(())
    }

    /// Stops a listener this reload replaced or removed, remembering its address while
    /// its data plane winds down.
    fn retire(&mut self, old: Running) {
        self.stopping.push((old.config.listen, old.done.clone()));
        old.stop();
    }

    /// Stops accepting everywhere; the future completes when every listener's work in
    /// flight has finished.
    pub fn stop_accepting(&mut self) -> impl std::future::Future<Output = ()> + use<> {
        let mut tasks = Vec::new();
        for running in self.running.values_mut() {
            running.cancel.cancel();
            running.handover = Handover::default();
        }
        for running in self.running.values() {
            tasks.push(finished(running.done.clone()));
        }
        // Listeners removed or replaced by earlier reloads may still finish requests.
        for (_, done) in &self.stopping {
            tasks.push(finished(done.clone()));
        }
        async move {
            for task in tasks {
                task.await;
            }
        }
    }

    /// The running listeners, for the admin API and metrics.
    pub fn iter(&self) -> impl Iterator<Item = &Running> {
        self.running.values()
    }
}

/// Whether a kept listener can keep its socket.
fn same_socket(old: &config::Listener, new: &config::Listener) -> bool {
    old.listen == new.listen && protocol(old) == protocol(new)
}

/// The protocol name of a listener, as configured.
pub(crate) fn protocol(listener: &config::Listener) -> &'static str {
    match listener.kind {
        config::ListenerKind::Http { .. } => "http",
        config::ListenerKind::Https { .. } => "https",
        config::ListenerKind::Tcp { .. } => "tcp",
        config::ListenerKind::Udp { .. } => "udp",
        config::ListenerKind::Tls { .. } => "tls",
        config::ListenerKind::Dns { .. } => "dns",
    }
}

// === impl Bound ===

impl Bound {
    fn take(&mut self, name: &str) -> Option<Sockets> {
        let at = self.sockets.iter().position(|(n, _)| n == name)?;
        Some(self.sockets.swap_remove(at).1)
    }
}

/// Binds every socket of `plan`; the first failure fails the reload.
pub(crate) async fn bind_all(plan: Plan) -> Result<Bound, RuntimeError> {
    let mut sockets = Vec::new();
    for ToBind {
        listener,
        handover: Handover { tcp, udp },
        after_stopped,
    } in plan.to_bind
    {
        let bind_error = |error| RuntimeError::Bind {
            name: listener.name.clone(),
            addr: listener.listen,
            error,
        };
        let addr = listener.listen;
        let tcp = async {
            match tcp {
                Some(fd) => TcpListener::from_std(std::net::TcpListener::from(fd)),
                None => bind_retrying(after_stopped, || bind_tcp(addr)).await,
            }
        };
        let udp = async {
            match udp {
                Some(fd) => UdpSocket::from_std(std::net::UdpSocket::from(fd)),
                None => bind_retrying(after_stopped, || bind_udp(addr)).await,
            }
        };
        let socket = match listener.kind {
            config::ListenerKind::Udp { .. } => Sockets::Udp(udp.await.map_err(bind_error)?),
            config::ListenerKind::Dns { .. } => {
                let udp = udp.await.map_err(bind_error)?;
                let tcp = tcp.await.map_err(bind_error)?;
                Sockets::Dns(udp, tcp)
            }
            _ => Sockets::Tcp(tcp.await.map_err(bind_error)?),
        };
        sockets.push((listener.name.clone(), socket));
    }
    Ok(Bound { sockets })
}

/// `bind()`, retried for up to a second while the address is in use when a listener of
/// ours that just stopped may still hold it (`retry`).
async fn bind_retrying<T>(
    retry: bool,
    mut bind: impl FnMut() -> std::io::Result<T>,
) -> std::io::Result<T> {
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match bind() {
            Err(e)
                if retry
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() < until =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// A listening TCP socket with `SO_REUSEADDR` (restarts do not wait for TIME_WAIT) and a
/// deep accept backlog.
pub(crate) fn bind_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    TcpListener::from_std(socket.into())
}

pub(crate) fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        None,
    )?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

// === impl Running ===

/// A freshly built data-plane state, not yet published.
enum State {
    Http(http::State, http::Shared),
    L4(l4::State),
    Dns(dns::DnsListenerState),
}

impl State {
    fn build(
        listener: &config::Listener,
        config: &config::Config,
        pools: &HashMap<String, Arc<Pool>>,
        shared: http::Shared,
    ) -> Result<State, RuntimeError> {
        let fail = |e: &dyn std::fmt::Display| {
            RuntimeError::Listener(listener.name.clone(), e.to_string())
        };
        match &listener.kind {
            config::ListenerKind::Http { .. } | config::ListenerKind::Https { .. } => {
                let state =
                    http::State::build(listener, config, pools, &shared).map_err(|e| fail(&e))?;
                Ok(State::Http(state, shared))
            }
            config::ListenerKind::Tcp { .. }
            | config::ListenerKind::Udp { .. }
            | config::ListenerKind::Tls { .. } => Ok(State::L4(
                // The one access logger of the process, shared with HTTP listeners.
                l4::State::build(listener, pools, &config.pools)
                    .map_err(|e| fail(&e))?
                    .with_access_log(shared.access_log),
            )),
            config::ListenerKind::Dns { .. } => Ok(State::Dns(
                dns::DnsListenerState::build(listener, config, pools).map_err(|e| fail(&e))?,
            )),
        }
    }
}

/// Starts a data plane on its sockets.
fn start(
    listener: &config::Listener,
    state: State,
    sockets: Sockets,
    dns_stats: Option<Arc<dns::DnsStats>>,
    cancel: CancellationToken,
) -> Result<Running, RuntimeError> {
    let name = listener.name.clone();
    let handover = Handover::of(&sockets);
    let (plane, task) = match (state, sockets) {
        (State::Http(state, shared), Sockets::Tcp(tcp)) => {
            let state = Arc::new(ArcSwap::from_pointee(state));
            let (s, c, n) = (state.clone(), cancel.clone(), name.clone());
            let task = tokio::spawn(async move {
                if let Err(e) = http::serve(tcp, s, c).await {
                    tracing::error!(listener = %n, error = %e, "listener stopped");
                }
            });
            (Plane::Http { state, shared }, task)
        }
        (State::L4(state), Sockets::Tcp(tcp)) => {
            let state = Arc::new(ArcSwap::from_pointee(state));
            let task = tokio::spawn(l4::serve_tcp(tcp, state.clone(), cancel.clone()));
            (Plane::L4 { state }, task)
        }
        (State::L4(state), Sockets::Udp(udp)) => {
            let state = Arc::new(ArcSwap::from_pointee(state));
            let task = tokio::spawn(l4::serve_udp(udp, state.clone(), cancel.clone()));
            (Plane::L4 { state }, task)
        }
        (State::Dns(state), Sockets::Dns(udp, tcp)) => {
            let state = Arc::new(ArcSwap::from_pointee(state));
            let stats = dns_stats.unwrap_or_default();
            let task = tokio::spawn(dns::serve(
                udp,
                tcp,
                state.clone(),
                stats.clone(),
                cancel.clone(),
            ));
            (Plane::Dns { state, stats }, task)
        }
        (_, sockets) => {
            return Err(RuntimeError::Listener(
                name,
                format!("a {} socket does not fit this protocol", sockets.describe()),
            ))
        }
    };
    tracing::info!(listener = %listener.name, protocol = protocol(listener), listen = %listener.listen, "listening");
    let (finished, done) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = task.await;
        let _ = finished.send(true);
    });
    Ok(Running {
        config: listener.clone(),
        plane,
        cancel,
        done,
        handover,
    })
}

impl Running {
    /// Publishes a new state; work in flight keeps the one it started with.
    fn swap(&mut self, state: State) {
        match (&mut self.plane, state) {
            (
                Plane::Http {
                    state: current,
                    shared,
                },
                State::Http(new, new_shared),
            ) => {
                current.store(Arc::new(new));
                *shared = new_shared;
            }
            (Plane::L4 { state: current }, State::L4(new)) => current.store(Arc::new(new)),
            (Plane::Dns { state: current, .. }, State::Dns(new)) => current.store(Arc::new(new)),
            _ => {
                tracing::error!(listener = %self.config.name, "a kept listener changed protocol; not swapped")
            }
        }
    }

    /// Stops accepting; work in flight finishes in the background.
    fn stop(self) {
        self.cancel.cancel();
    }
}

/// Completes once a data plane's `done` signal says it has finished.
async fn finished(mut done: tokio::sync::watch::Receiver<bool>) {
    // An error means the watcher ended without saying so: nothing left to wait for.
    let _ = done.wait_for(|finished| *finished).await;
}
