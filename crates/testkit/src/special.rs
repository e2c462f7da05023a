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
///
/// The port stays bound, without listening, for the rest of the process: a port that was
/// merely freed can be handed to the next `bind(0)` (another backend of the same test),
/// and then the "dead" server answers. Without `SO_REUSEADDR` the bound socket keeps
/// every other socket off the port, and a SYN to a socket that does not listen is
/// refused with a reset.
pub async fn dead_addr() -> SocketAddr {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    std::mem::forget(socket); // one descriptor per call, held until the test process ends
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dead_address_refuses_and_is_never_handed_out_again() {
        let dead = dead_addr().await;
        let err = tokio::net::TcpStream::connect(dead).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        // tokio's listeners set SO_REUSEADDR, which may share a port with a socket that
        // was only freed, but not with one still bound without it.
        let mut listeners = Vec::new();
        for _ in 0..500 {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            assert_ne!(l.local_addr().unwrap(), dead);
            listeners.push(l);
        }
        assert!(
            TcpListener::bind(dead).await.is_err(),
            "the port stays taken"
        );
    }
}
