//! A udp pool without `[pool.health]` serves: the default TCP connect check would find
//! a UDP-only server closed, mark it down and drop every datagram.

mod support;

use std::time::Duration;

use support::{config, wait_for};
use switchyard_balance::ServerState;
use switchyard_runtime::Runtime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udp_only_server_is_served_without_a_health_table() {
    // A UDP echo server; nothing listens on its port over TCP.
    let backend = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let backend_addr = backend.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = backend.recv_from(&mut buf).await {
            let _ = backend.send_to(&buf[..n], from).await;
        }
    });
    // A free UDP port for the listener.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = format!(
        "[[pool]]\nname = \"collectors\"\n[[pool.server]]\nname = \"c1\"\naddress = \"{backend_addr}\"\n\
         [[listener]]\nname = \"syslog\"\nprotocol = \"udp\"\nlisten = \"127.0.0.1:{port}\"\npool = \"collectors\"\n"
    );
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    // Past the first health round, which used to mark the server down at once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect(("127.0.0.1", port)).await.unwrap();
    let answered = wait_for(Duration::from_secs(5), || async {
        client.send(b"<13>hello").await.unwrap();
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_millis(200), client.recv(&mut buf)).await,
            Ok(Ok(n)) if &buf[..n] == b"<13>hello"
        )
    })
    .await;
    assert!(answered.is_some(), "the datagram was never echoed");
    let state = runtime.pools()["collectors"].pool.state_of("c1");
    assert_eq!(state, Some(ServerState::Up));
    // The state document says the pool has no active checks, so the dashboard says so
    // rather than "no checks yet" forever.
    let doc =
        switchyard_admin::Control::state(&switchyard_runtime::RuntimeControl::new(runtime.clone()));
    assert_eq!(doc.pools[0].check, "none");
    runtime.shutdown().await;
}
