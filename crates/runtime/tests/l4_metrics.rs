//! The L4 side through the runtime: counters an operator reads on `/metrics`, and health
//! checks of servers behind `proxy_protocol`.

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

/// A server that requires a PROXY header (as nginx `listen ... proxy_protocol` or
/// HAProxy `accept-proxy`), answering HTTP after it: it closes connections that start
/// otherwise. Each connection's first bytes are sent to `seen`.
async fn proxy_requiring_http_server(
    seen: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 16];
                if s.read_exact(&mut head).await.is_err() {
                    return;
                }
                let _ = seen.send(head.to_vec());
                let signature = b"\r\n\r\n\0\r\nQUIT\n";
                if &head[..12] != signature {
                    return; // "broken header": closed
                }
                let len = u16::from_be_bytes([head[14], head[15]]) as usize;
                let mut rest = vec![0u8; len];
                if s.read_exact(&mut rest).await.is_err() {
                    return;
                }
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    addr
}

/// With `proxy_protocol = "v2"` toward servers that require the header, health checks
/// sent none: nginx logged `broken header` for every check, and an http check always
/// failed, so the pool was down and every client connection closed. Checks now start
/// with a PROXY v2 `LOCAL` header, as HAProxy's `check-send-proxy` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_send_a_proxy_header_to_servers_behind_proxy_protocol() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let server = proxy_requiring_http_server(tx.clone()).await;
    let server_t = proxy_requiring_http_server(tx).await;
    // A second server checked on a separate plain health port: no header there.
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = plain.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let answer: &[u8] = if buf[..n].starts_with(b"GET /health ") {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                } else {
                    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                };
                let _ = s.write_all(answer).await;
            });
        }
    });
    let port = free_port();
    let text = format!(
        "[[pool]]\nname = \"pp\"\n[pool.health]\ncheck = \"http\"\npath = \"/health\"\n\
         interval = \"200ms\"\ntimeout = \"100ms\"\nrise = 1\nfall = 1\n\
         [[pool.server]]\nname = \"s\"\naddress = \"{server}\"\n\
         [[pool.server]]\nname = \"t\"\naddress = \"{server_t}\"\ncheck_address = \"{plain_addr}\"\n\
         [[listener]]\nname = \"pp-out\"\nprotocol = \"tcp\"\nlisten = \"127.0.0.1:{port}\"\npool = \"pp\"\n\
         proxy_protocol = \"v2\"\n"
    );
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    let head = tokio::time::timeout(Duration::from_secs(3), rx.recv())
        .await
        .expect("a check within 3 s")
        .unwrap();
    assert_eq!(
        &head[..12],
        b"\r\n\r\n\0\r\nQUIT\n",
        "a PROXY v2 header first"
    );
    assert_eq!(head[12], 0x20, "version 2, command LOCAL");
    let up = wait_for(Duration::from_secs(3), || async {
        let state = |name| {
            runtime
                .pools()
                .get("pp")
                .and_then(|p| p.pool.state_of(name))
        };
        state("s") == Some(switchyard_balance::ServerState::Up)
            && state("t") == Some(switchyard_balance::ServerState::Up)
    })
    .await;
    assert!(
        up.is_some(),
        "the http check passes through the PROXY header"
    );
    runtime.shutdown().await;
}
