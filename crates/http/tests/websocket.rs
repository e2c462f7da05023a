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
