//! The HTTP/1 engine's own behaviour: connection reuse, HTTP/1.0 clients, servers that
//! close idle connections or answer before reading a body, `CONNECT`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use switchyard_testkit::backends;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A bare backend: for each connection, read one request head, write `answer`, close.
async fn one_shot_backend(answer: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = s.write_all(answer).await;
                // Dropped: closed without having said `Connection: close`.
            });
        }
    });
    addr
}

/// Read one response with a `content-length` body from `s`.
async fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                return String::from_utf8_lossy(&buf[..end + 4 + len]).into_owned();
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
            .await
            .expect("response in time")
            .unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn keep_alive_requests_reuse_one_server_connection() {
    let (be, h) = echo_behind_proxy().await;
    let c = client();
    for i in 0..20 {
        let res = c.get(h.url(&format!("/n/{i}"))).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();
    }
    assert_eq!(be.requests(), 20);
    // One client connection, and one server connection behind it.
    assert_eq!(h.shared.stats.snapshot().connections_total, 1);
    assert!(
        be.connections() <= 2,
        "backend connections: {}",
        be.connections()
    );
    assert_eq!(
        be.connections(),
        1,
        "sequential requests share a connection"
    );
    h.stop().await;
}

#[tokio::test]
async fn http_10_clients_get_unchunked_answers_and_keep_alive_only_when_asked() {
    let (_be, h) = echo_behind_proxy().await;
    // A streamed body to an HTTP/1.0 client: no chunks, ended by closing.
    let reply = raw(h.addr, b"GET /bytes/5 HTTP/1.0\r\nHost: a\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(!reply.to_ascii_lowercase().contains("chunked"), "{reply}");
    assert!(reply.ends_with("\0\0\0\0\0"), "{reply:?}");

    // Two keep-alive requests on one connection, then one that closes it.
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    for _ in 0..2 {
        s.write_all(b"GET /status/204 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")
            .await
            .unwrap();
        let r = read_response(&mut s).await;
        assert!(r.starts_with("HTTP/1.1 204"), "{r}");
        assert!(
            r.to_ascii_lowercase().contains("connection: keep-alive"),
            "{r}"
        );
    }
    s.write_all(b"GET /status/204 HTTP/1.0\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .expect("closed after an HTTP/1.0 request without keep-alive")
        .unwrap();
    assert!(String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 204"));
    h.stop().await;
}

#[tokio::test]
async fn a_server_that_closes_after_each_answer_costs_no_failed_request() {
    let addr = one_shot_backend(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
    let h = start(
        listener(Some("app"), vec![]),
        vec![pool("app", "round_robin", &[("a", addr)])],
    )
    .await;
    let c = client();
    for _ in 0..10 {
        let res = c.get(h.url("/")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "ok");
        // Let the server's close reach the pooled connection (or not: either way works).
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let s = h.shared.stats.snapshot();
    assert_eq!(s.bad_gateway, 0, "{s:?}");
    h.stop().await;
}

#[tokio::test]
async fn an_answer_before_the_body_is_relayed_and_the_connection_closed() {
    let addr = one_shot_backend(
        b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig!",
    )
    .await;
    let h = start(
        listener(Some("app"), vec![]),
        vec![pool("app", "round_robin", &[("a", addr)])],
    )
    .await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\nfirst bytes")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("answered and closed without waiting for the body")
        .unwrap();
    let reply = String::from_utf8_lossy(&out);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("connection: close"),
        "{reply}"
    );
    assert!(reply.ends_with("big!"), "{reply}");
    h.stop().await;
}

#[tokio::test]
async fn connect_is_refused_and_a_response_too_large_is_a_bad_gateway() {
    let huge: &'static [u8] = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 0\r\n\r\n",
            "a".repeat(70 * 1024)
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    let addr = one_shot_backend(huge).await;
    let h = start(
        listener(Some("app"), vec![]),
        vec![pool("app", "round_robin", &[("a", addr)])],
    )
    .await;
    let reply = raw(
        h.addr,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 405"), "{reply}");
    let res = client().get(h.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 502);
    h.stop().await;
}

#[tokio::test]
async fn an_exchange_longer_than_the_idle_timeout_keeps_the_connection() {
    let be = backends::slow("s", Duration::from_millis(600)).await;
    let mut l = listener(Some("app"), vec![]);
    l.timeouts.idle = Duration::from_millis(300);
    let h = start(l, vec![pool("app", "round_robin", &[("s", be.addr)])]).await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    for i in 0..2 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let r = read_response(&mut s).await;
        assert!(r.starts_with("HTTP/1.1 200"), "request {i}: {r}");
    }
    // And an idle connection is still closed after the idle timeout.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "closed once idle");
    h.stop().await;
}

#[tokio::test]
async fn a_reload_to_an_http2_pool_hands_open_connections_to_hyper() {
    let (_be, h) = echo_behind_proxy().await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let r = read_response(&mut s).await.to_ascii_lowercase();
    assert!(r.contains("x-echo-version: http/1.1"), "{r}");

    // The same pool now speaks HTTP/2 to its server.
    let mut config = h.config.clone();
    config.pools[0].backend_protocol = switchyard_config::BackendProtocol::Http2;
    let l = config.listeners[0].clone();
    let next = switchyard_http::State::build(&l, &config, &h.pools, &h.shared).unwrap();
    h.state.store(std::sync::Arc::new(next));

    s.write_all(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let r = read_response(&mut s).await.to_ascii_lowercase();
    assert!(r.starts_with("http/1.1 200"), "{r}");
    assert!(r.contains("x-echo-version: http/2.0"), "{r}");
    h.stop().await;
}

#[tokio::test]
async fn a_local_answer_skips_a_body_already_read_and_keeps_the_connection() {
    use switchyard_config::{Matchers, PathMatch, RouteAction};
    let be = backends::echo().await;
    let routes = vec![route(
        Matchers {
            path: Some(PathMatch::Prefix("/local".into())),
            ..Default::default()
        },
        RouteAction::Respond {
            status: 202,
            body: "taken".into(),
        },
    )];
    let h = start(
        listener(Some("app"), routes),
        vec![pool("app", "round_robin", &[("a", be.addr)])],
    )
    .await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(b"POST /local HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let r = read_response(&mut s).await;
    assert!(r.starts_with("HTTP/1.1 202") && r.ends_with("taken"), "{r}");
    assert!(!r.to_ascii_lowercase().contains("connection: close"), "{r}");
    let r = read_response(&mut s).await.to_ascii_lowercase();
    assert!(
        r.contains("x-echo-uri: /after"),
        "the body was not read as a request: {r}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_local_204_or_304_has_no_content_length() {
    // A 304 with `Content-Length: 0` tells a cache the stored representation is empty;
    // neither status may carry the field (RFC 9110 8.6). hyper already left it out.
    use switchyard_config::{Matchers, PathMatch, RouteAction};
    let answer = |path: &str, status: u16| {
        route(
            Matchers {
                path: Some(PathMatch::Exact(path.into())),
                ..Default::default()
            },
            RouteAction::Respond {
                status,
                body: String::new(),
            },
        )
    };
    let h = start(
        listener(None, vec![answer("/a", 204), answer("/b", 304)]),
        vec![],
    )
    .await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    for (path, status) in [("/a", "204"), ("/b", "304")] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let r = read_response(&mut s).await.to_ascii_lowercase();
        assert!(r.starts_with(&format!("http/1.1 {status}")), "{r}");
        assert!(!r.contains("content-length"), "{r}");
    }
    h.stop().await;
}

#[tokio::test]
async fn a_kept_alive_connection_the_server_closed_as_it_was_reused_is_not_a_502() {
    // The server's keep-alive timeout ran out just as the proxy reused the connection:
    // the request goes again on a new connection to the same server (it got 502 from a
    // one-server pool, and counted as the server's failure).
    let (be, accepted) = one_answer_per_connection().await;
    let h = start(
        listener(Some("app"), vec![]),
        vec![pool("app", "round_robin", &[("a", be)])],
    )
    .await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    for i in 0..3 {
        let req = format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let r = read_response(&mut s).await;
        assert!(r.starts_with("HTTP/1.1 200"), "request {i}: {r}");
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
    let snap = h.pool("app").snapshot();
    assert_eq!(snap.server("a").unwrap().stats().failures_total(), 0);
    h.stop().await;
}
