//! Shared test harness: pools over loopback servers, listener configs, a running proxy.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use switchyard_balance::{clock, Algorithm, AlgorithmParams, Pool, PoolSpec, ServerSpec};
use switchyard_config::{Listener, ListenerKind, Timeouts};
use switchyard_l4::State;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running L4 listener.
pub struct Proxy {
    pub addr: SocketAddr,
    pub state: Arc<ArcSwap<State>>,
    pub cancel: CancellationToken,
    pub task: JoinHandle<()>,
}

impl Proxy {
    pub fn stats(&self) -> switchyard_l4::StatsSnapshot {
        self.state.load().stats.snapshot()
    }
}

/// A pool named `name` over `servers` (name, address), every server up.
pub fn pool(name: &str, algorithm: Algorithm, servers: &[(&str, SocketAddr)]) -> Arc<Pool> {
    let spec = PoolSpec {
        name: name.to_string(),
        algorithm,
        params: AlgorithmParams::default(),
        servers: servers
            .iter()
            .map(|(n, a)| ServerSpec {
                name: n.to_string(),
                address: *a,
                weight: 1,
                backup: false,
            })
            .collect(),
        slow_start: None,
        panic_threshold: 0,
    };
    Arc::new(Pool::new_all_up(spec, clock::now()).expect("valid pool"))
}

/// A listener config with a unique name and default timeouts.
pub fn listener(name: &str, pool: Option<&str>, kind: ListenerKind) -> Listener {
    Listener {
        name: name.to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        pool: pool.map(str::to_string),
        max_connections: None,
        timeouts: Timeouts::default(),
        kind,
    }
}

pub fn tcp_kind() -> ListenerKind {
    ListenerKind::Tcp {
        proxy_protocol: Default::default(),
        accept_proxy_protocol: false,
        splice: true,
    }
}

pub fn build(l: &Listener, pools: &[&Arc<Pool>]) -> State {
    let map: HashMap<String, Arc<Pool>> = pools.iter().map(|p| (p.name(), Arc::clone(p))).collect();
    State::build(l, &map, &[]).expect("state builds")
}

/// Starts serving `state` on a fresh loopback port.
pub async fn start_tcp(state: State) -> Proxy {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let state = Arc::new(ArcSwap::from_pointee(state));
    let cancel = CancellationToken::new();
    let task = tokio::spawn(switchyard_l4::serve_tcp(l, state.clone(), cancel.clone()));
    Proxy {
        addr,
        state,
        cancel,
        task,
    }
}

pub async fn start_udp(state: State) -> Proxy {
    start_udp_on(state, "127.0.0.1:0").await
}

/// Serves `state` on a udp socket bound to `bind` (e.g. a wildcard address).
pub async fn start_udp_on(state: State, bind: &str) -> Proxy {
    let s = UdpSocket::bind(bind).await.unwrap();
    let addr = s.local_addr().unwrap();
    let state = Arc::new(ArcSwap::from_pointee(state));
    let cancel = CancellationToken::new();
    let task = tokio::spawn(switchyard_l4::serve_udp(s, state.clone(), cancel.clone()));
    Proxy {
        addr,
        state,
        cancel,
        task,
    }
}

/// A TCP server that answers every connection with its `name` then echoes until EOF.
pub async fn named_echo(name: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                if s.write_all(name.as_bytes()).await.is_err() {
                    return;
                }
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

/// Connects to the proxy and reads the server's name (`len` bytes).
pub async fn which_server(proxy: SocketAddr, len: usize) -> (TcpStream, String) {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    let mut name = vec![0u8; len];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut name))
        .await
        .expect("server named itself in time")
        .expect("read server name");
    (s, String::from_utf8(name).unwrap())
}

/// An address nothing listens on: bound without listening (a SYN gets a reset) and kept
/// bound for the rest of the process, so no later `bind(0)` of a test backend can be
/// handed the same port (as a port merely freed can be).
pub async fn dead_addr() -> SocketAddr {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let a = socket.local_addr().unwrap();
    std::mem::forget(socket);
    a
}

/// Waits up to 5 s for `cond`.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}
