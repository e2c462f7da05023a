//! `[pool.affinity] kind = "source_ip"` on L4 listeners, from a parsed configuration.
//!
//! The key passed `switchyard check` (whose own hint recommends it for L4 traffic) and was
//! then ignored by tcp, tls and udp listeners: a round_robin pool sent one client's
//! connections to every server in turn.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use switchyard_balance::{Algorithm, Pool};
use switchyard_l4::State;
use tokio::net::UdpSocket;

/// The state of a `protocol` listener over a round_robin pool of `servers` with
/// `source_ip` affinity, built from a parsed configuration, and the live pool.
fn state_from(protocol: &str, servers: &[(&str, SocketAddr)]) -> (State, Arc<Pool>) {
    let mut text = "[[pool]]\nname = \"sticky\"\nalgorithm = \"round_robin\"\n[pool.affinity]\nkind = \"source_ip\"\n".to_string();
    for (name, addr) in servers {
        text += &format!("[[pool.server]]\nname = \"{name}\"\naddress = \"{addr}\"\n");
    }
    text += &format!(
        "[[listener]]\nname = \"sticky-{protocol}\"\nprotocol = \"{protocol}\"\nlisten = \"127.0.0.1:0\"\npool = \"sticky\"\n"
    );
    let config = switchyard_config::parse(&text, "affinity.toml").expect("valid config");
    let live = pool("sticky", Algorithm::RoundRobin, servers);
    let pools: HashMap<String, Arc<Pool>> = [("sticky".to_string(), live.clone())].into();
    let st = State::build(&config.listeners[0], &pools, &config.pools).expect("state builds");
    (st, live)
}

#[tokio::test]
async fn source_ip_affinity_keeps_a_tcp_client_on_one_server() {
    let servers = [
        ("a", named_echo("a").await),
        ("b", named_echo("b").await),
        ("c", named_echo("c").await),
    ];
    let (st, live) = state_from("tcp", &servers);
    let proxy = start_tcp(st).await;
    let mut seen = Vec::new();
    for _ in 0..6 {
        let (_s, name) = which_server(proxy.addr, 1).await;
        seen.push(name);
    }
    assert!(seen.iter().all(|n| *n == seen[0]), "one server: {seen:?}");
    // Its server down, the client is picked for as usual.
    live.set_health(&seen[0], false, switchyard_balance::clock::now())
        .unwrap();
    let (_s, other) = which_server(proxy.addr, 1).await;
    assert_ne!(other, seen[0]);
}

#[tokio::test]
async fn source_ip_affinity_keeps_every_udp_flow_of_a_client_ip_on_one_server() {
    let mut servers = Vec::new();
    for name in ["a", "b", "c"] {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = s.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok((_, from)) = s.recv_from(&mut buf).await {
                let _ = s.send_to(name.as_bytes(), from).await;
            }
        });
        servers.push((name, addr));
    }
    let (st, _live) = state_from("udp", &servers);
    let proxy = start_udp(st).await;
    let mut seen = Vec::new();
    // Each socket is a new flow (a new port): round_robin alone would rotate.
    for _ in 0..6 {
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.send_to(b"x", proxy.addr).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, _) = tokio::time::timeout(std::time::Duration::from_secs(2), c.recv_from(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(seen.iter().all(|n| *n == seen[0]), "one server: {seen:?}");
}
