//! PROXY protocol through real sockets: headers sent to servers (read back by a test
//! server with the crate's parser) and headers accepted from an upstream balancer.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use switchyard_balance::Algorithm;
use switchyard_config::{ListenerKind, ProxyProtocol};
use switchyard_l4::proxy_proto::{self, Header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A server that parses a PROXY header, reports it and the payload after it, and echoes.
async fn header_reader() -> (SocketAddr, mpsc::UnboundedReceiver<(Header, Vec<u8>)>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 512];
                loop {
                    let n = s.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "EOF before a whole PROXY header");
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some((h, used)) = proxy_proto::parse(&buf).expect("valid PROXY header") {
                        while buf.len() < used + 5 {
                            let n = s.read(&mut chunk).await.unwrap();
                            assert!(n > 0);
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        tx.send((h, buf[used..].to_vec())).unwrap();
                        s.write_all(b"ok").await.unwrap();
                        return;
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn kind(send: ProxyProtocol, accept: bool) -> ListenerKind {
    ListenerKind::Tcp {
        proxy_protocol: send,
        accept_proxy_protocol: accept,
        splice: true,
    }
}

async fn sent_header(name: &str, send: ProxyProtocol) {
    let (srv, mut rx) = header_reader().await;
    let p = pool(name, Algorithm::RoundRobin, &[("s", srv)]);
    let proxy = start_tcp(build(&listener(name, Some(name), kind(send, false)), &[&p])).await;
    let mut c = TcpStream::connect(proxy.addr).await.unwrap();
    c.write_all(b"hello").await.unwrap();
    let (h, rest) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        h,
        Header::Proxied {
            source: c.local_addr().unwrap(),
            destination: proxy.addr,
        }
    );
    assert_eq!(rest, b"hello");
    eventually("client bytes counted, the header not", || {
        proxy.stats().bytes_in == 5
    })
    .await;
}

#[tokio::test]
async fn proxy_protocol_v1_tells_the_server_the_client_address() {
    sent_header("pp-v1", ProxyProtocol::V1).await;
}

#[tokio::test]
async fn proxy_protocol_v2_tells_the_server_the_client_address() {
    sent_header("pp-v2", ProxyProtocol::V2).await;
}

#[tokio::test]
async fn an_accepted_header_replaces_the_client_address_end_to_end() {
    let (srv, mut rx) = header_reader().await;
    let p = pool("pp-accept", Algorithm::RoundRobin, &[("s", srv)]);
    let l = listener(
        "pp-accept",
        Some("pp-accept"),
        kind(ProxyProtocol::V2, true),
    );
    let proxy = start_tcp(build(&l, &[&p])).await;
    let real: SocketAddr = "203.0.113.7:40000".parse().unwrap();
    let vip: SocketAddr = "198.51.100.1:443".parse().unwrap();
    for header in [
        proxy_proto::encode_v1(real, vip),
        proxy_proto::encode_v2(real, vip),
    ] {
        let mut c = TcpStream::connect(proxy.addr).await.unwrap();
        // Split the header across writes: the proxy must reassemble it.
        let (a, b) = header.split_at(header.len() / 2);
        c.write_all(a).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut rest = b.to_vec();
        rest.extend_from_slice(b"hello");
        c.write_all(&rest).await.unwrap();
        let (h, data) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            h,
            Header::Proxied {
                source: real,
                destination: vip
            }
        );
        assert_eq!(data, b"hello");
    }
}

async fn refused(proxy: SocketAddr, bytes: &[u8]) {
    let mut c = TcpStream::connect(proxy).await.unwrap();
    let _ = c.write_all(bytes).await;
    let mut buf = [0u8; 8];
    let r = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await;
    assert!(
        matches!(r, Ok(Ok(0)) | Ok(Err(_))),
        "closed without forwarding for {:?}",
        String::from_utf8_lossy(bytes)
    );
}

#[tokio::test]
async fn accept_proxy_protocol_is_strict() {
    let echo = named_echo("e").await;
    let p = pool("pp-strict", Algorithm::RoundRobin, &[("e", echo)]);
    let mut l = listener(
        "pp-strict",
        Some("pp-strict"),
        kind(ProxyProtocol::Off, true),
    );
    l.timeouts.handshake = Duration::from_millis(300);
    let proxy = start_tcp(build(&l, &[&p])).await;
    refused(proxy.addr, b"GET / HTTP/1.1\r\n\r\n").await;
    refused(proxy.addr, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n").await;
    refused(proxy.addr, b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n").await;
    refused(proxy.addr, &[b'P'; 200]).await;
    let mut bad_v2 =
        proxy_proto::encode_v2("1.2.3.4:1".parse().unwrap(), "5.6.7.8:2".parse().unwrap());
    bad_v2[12] = 0x31;
    refused(proxy.addr, &bad_v2).await;
    // An incomplete header times out after timeouts.handshake.
    refused(proxy.addr, b"PROXY TCP4 1.2.").await;
    assert_eq!(proxy.stats().connections_failed, 6);
    // A LOCAL v2 header (an upstream health check) is accepted and the socket's address kept.
    let mut local = proxy_proto::V2_SIGNATURE.to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    let mut c = TcpStream::connect(proxy.addr).await.unwrap();
    c.write_all(&local).await.unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"e");
}

#[tokio::test]
async fn a_wildcard_listener_sends_the_address_the_client_reached() {
    let (srv, mut rx) = header_reader().await;
    let p = pool("pp-any", Algorithm::RoundRobin, &[("s", srv)]);
    let st = build(
        &listener("pp-any", Some("pp-any"), kind(ProxyProtocol::V1, false)),
        &[&p],
    );
    let l = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let state = std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(st));
    let cancel = tokio_util::sync::CancellationToken::new();
    tokio::spawn(switchyard_l4::serve_tcp(l, state, cancel));
    let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    c.write_all(b"hello").await.unwrap();
    let (h, _) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let want = Header::Proxied {
        source: c.local_addr().unwrap(),
        destination: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    assert_eq!(h, want, "destination is 127.0.0.1, not 0.0.0.0");
}
