//! Backends that misbehave on purpose: dead ports, resetting servers, and a WebSocket
//! echo server.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::backends::{Backend, Shared};

/// An address on loopback where nothing listens (connections are refused).
pub async fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr
}

/// A server that reads the start of each request, then resets the connection (RST).
pub async fn resetter() -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shared = Arc::new(Shared::default());
    let state = shared.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            state.connections.fetch_add(1, Ordering::SeqCst);
            let raw = state.raw.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                if let Ok(n) = tcp.read(&mut buf).await {
                    if let Ok(mut raw) = raw.lock() {
                        raw.extend_from_slice(&buf[..n]);
                    }
                }
                let _ = tcp.set_zero_linger();
                drop(tcp);
            });
        }
    });
    Backend { addr, shared, task }
}

/// A WebSocket server that echoes every text and binary message.
pub async fn websocket_echo() -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shared = Arc::new(Shared::default());
    let state = shared.clone();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            state.connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    Backend { addr, shared, task }
}
