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
    let mut lines = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        lines = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        if lines.len() == 2 {
            break;
        }
    }
    assert_eq!(lines.len(), 2, "{lines:?}");
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
