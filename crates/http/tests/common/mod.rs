//! Test harness: build a configuration model by hand, start the proxy on loopback.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use switchyard_balance as balance;
use switchyard_config as config;
use switchyard_http::{AccessLogger, Shared, State};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct Harness {
    pub addr: SocketAddr,
    pub state: Arc<ArcSwap<State>>,
    pub pools: HashMap<String, Arc<balance::Pool>>,
    pub shared: Shared,
    pub config: config::Config,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub fn pool(name: &str, algorithm: &str, servers: &[(&str, SocketAddr)]) -> config::Pool {
    config::Pool {
        name: name.into(),
        algorithm: config::Algorithm::from_str(algorithm).expect("algorithm"),
        hash_key: config::HashKey::SourceIp,
        params: config::AlgorithmParams::default(),
        slow_start: None,
        panic_threshold: 0,
        drain_timeout: None,
        backend_protocol: config::BackendProtocol::Http1,
        health: config::Health::default(),
        outlier: None,
        affinity: config::Affinity::None,
        servers: servers
            .iter()
            .map(|(n, a)| config::Server {
                name: n.to_string(),
                address: *a,
                weight: 1,
                backup: false,
                check_address: None,
            })
            .collect(),
    }
}

pub fn listener(pool: Option<&str>, routes: Vec<config::Route>) -> config::Listener {
    config::Listener {
        name: "web".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        pool: pool.map(str::to_string),
        max_connections: None,
        timeouts: config::Timeouts::default(),
        kind: config::ListenerKind::Http { routes },
    }
}

pub fn forward(pool: &str) -> config::RouteAction {
    config::RouteAction::Forward {
        pool: pool.into(),
        strip_prefix: false,
        set_headers: vec![],
        remove_headers: vec![],
    }
}

pub fn route(matchers: config::Matchers, action: config::RouteAction) -> config::Route {
    config::Route { matchers, action }
}

fn balance_pool(p: &config::Pool) -> balance::Pool {
    let spec = balance::PoolSpec {
        name: p.name.clone(),
        algorithm: balance::Algorithm::from_str(&format!("{:?}", p.algorithm).to_snake())
            .expect("balance algorithm"),
        params: balance::AlgorithmParams::default(),
        servers: p
            .servers
            .iter()
            .map(|s| balance::ServerSpec::new(s.name.clone(), s.address).with_weight(s.weight))
            .collect(),
        slow_start: None,
        panic_threshold: 0,
    };
    balance::Pool::new_all_up(spec, balance::clock::now()).expect("pool")
}

trait Snake {
    fn to_snake(&self) -> String;
}

impl Snake for String {
    fn to_snake(&self) -> String {
        let mut out = String::new();
        for (i, c) in self.chars().enumerate() {
            if c.is_uppercase() {
                if i > 0 {
                    out.push('_');
                }
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// An echo server behind a listener whose default pool `app` is just that server.
pub async fn echo_behind_proxy() -> (switchyard_testkit::backends::Backend, Harness) {
    let be = switchyard_testkit::backends::echo().await;
    let h = start(
        listener(Some("app"), vec![]),
        vec![pool("app", "round_robin", &[("a", be.addr)])],
    )
    .await;
    (be, h)
}

pub async fn start(listener: config::Listener, pools: Vec<config::Pool>) -> Harness {
    start_logged(listener, pools, AccessLogger::off()).await
}

pub async fn start_logged(
    listener: config::Listener,
    pools: Vec<config::Pool>,
    log: AccessLogger,
) -> Harness {
    let running: HashMap<String, Arc<balance::Pool>> = pools
        .iter()
        .map(|p| (p.name.clone(), Arc::new(balance_pool(p))))
        .collect();
    let config = config::Config {
        pools,
        listeners: vec![listener.clone()],
        ..Default::default()
    };
    let shared = Shared::new(log);
    let state = State::build(&listener, &config, &running, &shared).expect("build state");
    let state = Arc::new(ArcSwap::from_pointee(state));
    let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(switchyard_http::serve(
        socket,
        state.clone(),
        shutdown.clone(),
    ));
    Harness {
        addr,
        state,
        pools: running,
        shared,
        config,
        shutdown,
        task,
    }
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn pool(&self, name: &str) -> &balance::Pool {
        &self.pools[name]
    }

    /// Stop accepting; wait for in-flight work (bounded).
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub fn h2c_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Send raw bytes, read until the server closes (or 5 s), return what came back.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A server that answers the first request of each connection (keep-alive, with a length)
/// and closes the connection once the next request arrived, unanswered: what a server
/// whose keep-alive timeout runs out just as a reused connection is written does.
/// Returns its address and the number of connections it accepted.
pub async fn one_answer_per_connection() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                for answered in [false, true] {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.clear();
                    if answered {
                        return; // closes with the request unanswered
                    }
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if s.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}
