//! The L4 counters an operator reads on `/metrics`, moved by real connections.

mod support;

use std::time::Duration;

use support::{client, config, free_port, get, wait_for};
use switchyard_runtime::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn metric(body: &str, prefix: &str) -> Option<u64> {
    body.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// Connections closed before forwarding (here: a client that sent no PROXY header to a
/// listener that expects one) were counted but never exported under their own name: the
/// operator saw only `switchyard_listener_errors_total`, mixed with `max_connections`
/// rejections, whose help text claimed to count "no server" closes too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_closed_before_forwarding_have_their_own_counter() {
    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server_addr = server.local_addr().unwrap();
    tokio::spawn(async move { while server.accept().await.is_ok() {} });
    let (port, admin) = (free_port(), free_port());
    let text = format!(
        "[admin]\nlisten = \"127.0.0.1:{admin}\"\n[[pool]]\nname = \"db\"\n[pool.health]\ncheck = \"none\"\n\
         [[pool.server]]\nname = \"s\"\naddress = \"{server_addr}\"\n\
         [[listener]]\nname = \"pp\"\nprotocol = \"tcp\"\nlisten = \"127.0.0.1:{port}\"\npool = \"db\"\n\
         accept_proxy_protocol = true\n"
    );
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    for _ in 0..2 {
        let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(n, Ok(0) | Err(_)), "closed: no PROXY header");
    }
    let http = client();
    let url = format!("http://127.0.0.1:{admin}/metrics");
    let last = std::sync::Mutex::new(String::new());
    let counted = wait_for(Duration::from_secs(3), || async {
        let (_, body) = get(&http, &url).await.unwrap();
        let failed = metric(
            &body,
            "switchyard_l4_connections_failed_total{listener=\"pp\"} ",
        );
        *last.lock().unwrap() = body;
        failed == Some(2)
    })
    .await;
    let body = last.lock().unwrap().clone();
    assert!(
        counted.is_some(),
        "two failed connections expected:\n{body}"
    );
    assert_eq!(
        metric(
            &body,
            "switchyard_l4_connections_rejected_total{listener=\"pp\"} "
        ),
        Some(0),
        "{body}"
    );
    assert!(
        body.contains("# HELP switchyard_l4_connections_rejected_total Connections closed at once because max_connections were open."),
        "{body}"
    );
    runtime.shutdown().await;
    runtime.stop_admin();
}
