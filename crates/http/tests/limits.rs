//! Limits and timeouts: header size, connection cap, slow heads, idle connections; and
//! the access log.

mod common;

use std::time::{Duration, Instant};

use common::*;
use switchyard_config as config;
use switchyard_http::AccessLogger;
use switchyard_testkit::backends;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn oversize_headers_get_431() {
    let (be, h) = echo_behind_proxy().await;
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let reply = raw(h.addr, big.as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply:.100}");
    // The body says what went wrong (it said "bad gateway").
    assert!(
        reply.ends_with("\r\n\r\nrequest header fields too large\n"),
        "{reply}"
    );
    let fine = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "a".repeat(30 * 1024)
    );
    assert!(raw(h.addr, fine.as_bytes())
        .await
        .starts_with("HTTP/1.1 200"));
    assert_eq!(be.requests(), 1);
    h.stop().await;
}

/// A request line longer than the head limit is a URI too long (414, as nginx answers),
/// not header fields too large (431): the client learns which part to shorten.
#[tokio::test]
async fn an_oversize_request_line_gets_414() {
    let (be, h) = echo_behind_proxy().await;
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(70 * 1024));
    let reply = raw(h.addr, long.as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 414"), "{reply:.100}");
    assert!(
        reply.ends_with("\r\n\r\nrequest URI too long\n"),
        "{reply:.300}"
    );
    assert_eq!(be.requests(), 0);
    h.stop().await;
}

async fn one_request(s: &mut TcpStream) -> String {
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn max_connections_makes_new_connections_wait() {
    let be = backends::named("a").await;
    let mut l = listener(Some("app"), vec![]);
    l.max_connections = Some(1);
    let h = start(l, vec![pool("app", "round_robin", &[("a", be.addr)])]).await;
    let mut first = TcpStream::connect(h.addr).await.unwrap();
    assert!(one_request(&mut first).await.starts_with("HTTP/1.1 200"));
    let url = h.url("/");
    let waiting = tokio::spawn(async move { client().get(url).send().await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the second connection is not served while the first is open"
    );
    drop(first);
    let status = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.unwrap(), 200);
    h.stop().await;
}

#[tokio::test]
async fn a_slow_request_head_is_cut_off() {
    let be = backends::named("a").await;
    let mut l = listener(Some("app"), vec![]);
    l.timeouts.request_header = Duration::from_millis(300);
    let h = start(l, vec![pool("app", "round_robin", &[("a", be.addr)])]).await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").await.unwrap();
    let t0 = Instant::now();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the connection was closed");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(be.requests(), 0);
    h.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let be = backends::named("a").await;
    let mut l = listener(Some("app"), vec![]);
    l.timeouts.idle = Duration::from_millis(300);
    let h = start(l, vec![pool("app", "round_robin", &[("a", be.addr)])]).await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    assert!(one_request(&mut s).await.starts_with("HTTP/1.1 200"));
    let t0 = Instant::now();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the idle connection was closed");
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    h.stop().await;
}

#[tokio::test]
async fn the_access_log_has_one_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let log = AccessLogger::start(&config::AccessLog {
        target: config::LogTarget::File(path.clone()),
        format: config::LogFormat::Json,
    })
    .await
    .unwrap();
    let be = backends::echo().await;
    let h = start_logged(
        listener(Some("app"), vec![]),
        vec![pool("app", "round_robin", &[("srv1", be.addr)])],
        log,
    )
    .await;
    let c = client();
    c.get(h.url("/one"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    c.get(h.url("/bytes/1000"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    // An HTTP/2 request is logged with its path too (it was the full URL, unlike HTTP/1).
    h2c_client()
        .get(h.url("/two?x=1"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut lines = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        lines = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        if lines.len() == 3 {
            break;
        }
    }
    assert_eq!(lines.len(), 3, "{lines:?}");
    let h2: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
    assert_eq!(h2["uri"], "/two?x=1", "{h2}");
    let v: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(v["listener"], "web");
    assert_eq!(v["route"], "default");
    assert_eq!(v["pool"], "app");
    assert_eq!(v["server"], "srv1");
    assert_eq!(v["status"], 200);
    assert_eq!(v["uri"], "/bytes/1000");
    assert_eq!(v["bytes_out"], 1000);
    assert!(v["total_ms"].as_f64().unwrap() >= v["ttfb_ms"].as_f64().unwrap());
    h.stop().await;
}

/// A server that reads one request head and answers with `fields` extra header fields.
async fn many_fields_backend(fields: usize) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let mut out = String::from("HTTP/1.1 200 OK\r\n");
                for i in 0..fields {
                    out.push_str(&format!("x-r{i}: v\r\n"));
                }
                out.push_str("Content-Length: 2\r\nConnection: close\r\n\r\nok");
                let _ = s.write_all(out.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn both_engines_take_the_same_number_of_header_fields() {
    // hyper (which serves listeners that can reach an HTTP/2 pool) stopped at 100 fields
    // where the HTTP/1 engine takes 128: 110 fields got 431 on one listener, 200 on another.
    let be = many_fields_backend(110).await;
    let mut h2_pool = pool("grpc", "round_robin", &[("g", be)]);
    h2_pool.backend_protocol = config::BackendProtocol::Http2;
    let to_grpc = route(
        config::Matchers {
            path: Some(config::PathMatch::Prefix("/grpc".into())),
            ..Default::default()
        },
        forward("grpc"),
    );
    let fields: String = (0..110).map(|i| format!("x-q{i}: v\r\n")).collect();
    let req = format!("GET /x HTTP/1.1\r\nHost: a\r\n{fields}Connection: close\r\n\r\n");
    for with_h2_pool in [false, true] {
        let mut pools = vec![pool("app", "round_robin", &[("a", be)])];
        let mut routes = vec![];
        if with_h2_pool {
            pools.push(h2_pool.clone());
            routes.push(to_grpc.clone());
        }
        let h = start(listener(Some("app"), routes), pools).await;
        let reply = raw(h.addr, req.as_bytes()).await;
        assert!(
            reply.starts_with("HTTP/1.1 200"),
            "h2 pool {with_h2_pool}: {reply:.200}"
        );
        assert!(
            reply.contains("x-r109: v"),
            "h2 pool {with_h2_pool}: {reply:.200}"
        );
        h.stop().await;
    }
}
