//! A standalone DNS server for benchmarks and manual tests: serves every `dns` listener
//! of a configuration file whose records are static (no pools, no geo), on its `listen`
//! address, until Ctrl-C.
//!
//! `cargo run --release -p switchyard-dns --example dns_server -- bench/dns/switchyard.toml`

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use switchyard_config::ListenerKind;
use switchyard_dns::{DnsListenerState, DnsStats};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: dns_server CONFIG.toml")?;
    let config = switchyard_config::load(&path).map_err(|e| e.to_string())?;
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    let mut all_stats = Vec::new();
    for l in &config.listeners {
        if !matches!(l.kind, ListenerKind::Dns { .. }) {
            continue;
        }
        let state = DnsListenerState::build(l, &config, &HashMap::new())?;
        let udp = UdpSocket::bind(l.listen).await?;
        let tcp = TcpListener::bind(l.listen).await?;
        eprintln!("dns listener {} on {}", l.name, l.listen);
        let stats = Arc::new(DnsStats::default());
        all_stats.push((l.name.clone(), Arc::clone(&stats)));
        tasks.push(tokio::spawn(switchyard_dns::serve(
            udp,
            tcp,
            Arc::new(ArcSwap::from_pointee(state)),
            stats,
            shutdown.clone(),
        )));
    }
    tokio::signal::ctrl_c().await?;
    shutdown.cancel();
    for t in tasks {
        t.await?;
    }
    for (name, stats) in all_stats {
        eprintln!("{name}: {:?}", stats.snapshot());
    }
    Ok(())
}
