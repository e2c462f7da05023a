//! A minimal switchyard HTTP proxy: one `http` listener, one round-robin pool.
//!
//! For benchmarks and quick experiments without a configuration file:
//! `cargo run --release -p switchyard-http --example proxy -- 127.0.0.1:8080 127.0.0.1:9001 [...]`
//! (`switchyard run -c FILE` is the real entry point.) Worker threads: `WORKERS`
//! (default: one per core; `WORKERS=1` runs a current-thread runtime).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use switchyard_balance as balance;
use switchyard_config as config;
use switchyard_http::{AccessLogger, Shared, State};
use tokio_util::sync::CancellationToken;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: proxy LISTEN BACKEND [BACKEND...]");
        std::process::exit(2);
    }
    let workers: Option<usize> = std::env::var("WORKERS").ok().and_then(|w| w.parse().ok());
    let mut rt = match workers {
        // One worker: a current-thread runtime, like one nginx worker or HAProxy thread.
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    rt.enable_all().build()?.block_on(run(&args[0], &args[1..]))
}

async fn run(listen: &str, backends: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let servers: Vec<config::Server> = backends
        .iter()
        .enumerate()
        .map(|(i, a)| {
            Ok(config::Server {
                name: format!("s{i}"),
                address: a.parse()?,
                weight: 1,
                backup: false,
                check_address: None,
            })
        })
        .collect::<Result<_, std::net::AddrParseError>>()?;
    let pool = config::Pool {
        name: "app".into(),
        algorithm: config::Algorithm::RoundRobin,
        hash_key: config::HashKey::SourceIp,
        params: config::AlgorithmParams::default(),
        slow_start: None,
        panic_threshold: 0,
        drain_timeout: None,
        backend_protocol: config::BackendProtocol::Http1,
        health: config::Health::default(),
        outlier: None,
        affinity: config::Affinity::None,
        servers,
    };
    let listener = config::Listener {
        name: "bench".into(),
        listen: listen.parse()?,
        pool: Some("app".into()),
        max_connections: None,
        timeouts: config::Timeouts::default(),
        kind: config::ListenerKind::Http { routes: vec![] },
    };
    let spec = balance::PoolSpec {
        name: "app".into(),
        algorithm: balance::Algorithm::RoundRobin,
        params: balance::AlgorithmParams::default(),
        servers: pool
            .servers
            .iter()
            .map(|s| balance::ServerSpec::new(s.name.clone(), s.address))
            .collect(),
        slow_start: None,
        panic_threshold: 0,
    };
    let running = HashMap::from([(
        "app".to_string(),
        Arc::new(balance::Pool::new_all_up(spec, balance::clock::now())?),
    )]);
    let cfg = config::Config {
        pools: vec![pool],
        listeners: vec![listener.clone()],
        ..Default::default()
    };
    let shared = Shared::new(AccessLogger::off());
    let state = State::build(&listener, &cfg, &running, &shared)?;
    let socket = tokio::net::TcpListener::bind(listener.listen).await?;
    eprintln!("proxy: listening on {}", socket.local_addr()?);
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    switchyard_http::serve(socket, Arc::new(ArcSwap::from_pointee(state)), shutdown).await?;
    Ok(())
}
