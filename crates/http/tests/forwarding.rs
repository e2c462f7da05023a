//! Forwarding headers are added, hop-by-hop headers never cross the proxy.

mod common;

use common::*;

#[tokio::test]
async fn forwarding_headers_are_added_and_appended() {
    let (be, h) = echo_behind_proxy().await;
    client()
        .get(h.url("/"))
        .header("host", "shop.test:8080")
        .header("x-forwarded-for", "203.0.113.9")
        .header("forwarded", "for=203.0.113.9")
        .send()
        .await
        .unwrap();
    let seen = &be.seen()[0];
    assert_eq!(seen.headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(seen.headers["x-forwarded-host"], "shop.test");
    let fwd = seen.headers["forwarded"].to_str().unwrap();
    assert!(
        fwd.starts_with("for=203.0.113.9, for=\"127.0.0.1:"),
        "{fwd}"
    );
    assert!(fwd.ends_with(";proto=http;host=\"shop.test\""), "{fwd}");
    assert_eq!(seen.headers["host"], "shop.test:8080");
    h.stop().await;
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_both_ways() {
    let (be, h) = echo_behind_proxy().await;
    let reply = raw(
        h.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x-secret, close\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers, deflate\r\nTrailer: x-t\r\nUpgrade: h2c\r\nX-Keep: yes\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let seen = &be.seen()[0];
    for gone in [
        "x-secret",
        "keep-alive",
        "proxy-connection",
        "trailer",
        "upgrade",
        "transfer-encoding",
    ] {
        assert!(
            !seen.headers.contains_key(gone),
            "{gone} reached the backend"
        );
    }
    assert_eq!(seen.headers["te"], "trailers");
    assert_eq!(seen.headers["x-keep"], "yes");
    h.stop().await;
}
