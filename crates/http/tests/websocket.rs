//! WebSocket upgrades are tunnelled to the server.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use switchyard_testkit::special;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn websocket_messages_flow_both_ways_through_the_proxy() {
    let be = special::websocket_echo().await;
    let h = start(
        listener(Some("ws"), vec![]),
        vec![pool("ws", "round_robin", &[("a", be.addr)])],
    )
    .await;
    let (mut ws, res) = tokio_tungstenite::connect_async(format!("ws://{}/chat", h.addr))
        .await
        .expect("upgrade through the proxy");
    assert_eq!(res.status(), 101);
    for i in 0..5 {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        let back = ws.next().await.unwrap().unwrap();
        assert_eq!(back, Message::text(format!("hello {i}")));
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::binary(vec![0u8, 1, 2, 255])
    );
    ws.close(None).await.unwrap();
    assert_eq!(h.shared.stats.snapshot().upgrades, 1);
    h.stop().await;
}

/// A server that accepts `Upgrade: h2c` answers `101` and then whatever the client sends
/// reaches it directly, past the proxy's routes ("h2c smuggling"). The proxy must not
/// tunnel such a request: it goes to the server as a plain request without `Upgrade`,
/// and what the client sent after it never reaches the server.
#[tokio::test]
async fn an_h2c_upgrade_is_not_tunnelled_past_the_routes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let be = server.local_addr().unwrap();
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = server.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                seen.lock().unwrap().push(head.clone());
                if head.contains("upgrade: h2c") {
                    let _ = s
                        .write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
                        .await;
                    while let Ok(n) = s.read(&mut chunk).await {
                        if n == 0 || s.write_all(b"SECRET").await.is_err() {
                            return;
                        }
                    }
                } else {
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                        .await;
                }
            });
        }
    });
    let admin = switchyard_config::Matchers {
        path: Some(switchyard_config::PathMatch::Prefix("/admin".into())),
        ..Default::default()
    };
    let deny = switchyard_config::RouteAction::Respond {
        status: 403,
        body: "forbidden".into(),
    };
    let h = start(
        listener(Some("app"), vec![route(admin, deny)]),
        vec![pool("app", "round_robin", &[("a", be)])],
    )
    .await;
    for upgrade in ["h2c", "H2C, websocket"] {
        let req = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: {upgrade}\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        );
        let reply = raw(h.addr, req.as_bytes()).await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{upgrade}: {reply}");
        assert!(!reply.contains("SECRET"), "{upgrade}: {reply}");
    }
    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 2, "{heads:?}");
    for head in heads {
        assert!(!head.contains("upgrade"), "{head}");
        assert!(!head.contains("http2-settings"), "{head}");
        assert!(!head.contains("/admin"), "{head}");
    }
    h.stop().await;
}
