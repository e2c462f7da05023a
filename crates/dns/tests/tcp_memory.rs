//! Memory a DNS TCP connection holds while its client sends nothing more than a length
//! prefix. A test binary of its own: it reads the process's resident size, which other
//! tests running alongside would disturb.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use hickory_proto::rr::RecordType as T;
use switchyard_config::{RData, RecordType};
use switchyard_testkit::process::rss_kib;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A client that sent the length prefix 65535 and nothing else made the server allocate
/// and zero a 64 KiB frame buffer at once: 2 bytes from the client held 64 KiB of the
/// server's memory until `timeouts.idle`, 64 MiB for the default 1,024 connections
/// (measured on the binary: 1,000 such clients grew it by 60 MB, which stayed resident
/// after they left). The frame now grows with the bytes that arrive.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_length_prefix_alone_does_not_reserve_the_frame() {
    let cfg = config(vec![zone(
        "example.com",
        vec![static_record(
            "example.com",
            "www",
            RecordType::A,
            vec![RData::A("192.0.2.1".parse().unwrap())],
        )],
    )]);
    let s = start_with(
        &cfg,
        &HashMap::new(),
        listener(None, 1024, Duration::from_secs(30)),
    )
    .await;
    // Warm up: one full exchange, so what is made once is made.
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    tcp_exchange(&mut c, &query("www.example.com.", T::A)).await;
    const CLIENTS: u64 = 300;
    let before = rss_kib();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(&[0xff, 0xff]).await.unwrap();
        clients.push(c);
    }
    // Every connection has been accepted and has read its prefix.
    tcp_exchange(&mut c, &query("www.example.com.", T::A)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while s.stats.snapshot().tcp_connections < CLIENTS + 1 {
        assert!(tokio::time::Instant::now() < deadline, "accepted in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let grown = rss_kib().saturating_sub(before);
    let per_client = grown * 1024 / CLIENTS;
    eprintln!("{CLIENTS} prefix-only clients: {per_client} bytes of resident memory each");
    assert!(
        per_client < 24 * 1024,
        "{CLIENTS} clients that sent only a length prefix grew the process by {grown} KiB \
         ({per_client} bytes each)"
    );
    // A frame that arrives in pieces is still read whole and answered.
    let q = query("www.example.com.", T::A).to_vec().unwrap();
    let mut split = TcpStream::connect(s.addr).await.unwrap();
    split.set_nodelay(true).unwrap();
    split
        .write_all(&(q.len() as u16).to_be_bytes())
        .await
        .unwrap();
    split.write_all(&q[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    split.write_all(&q[5..]).await.unwrap();
    let mut len = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(2), split.read_exact(&mut len))
        .await
        .expect("answer in time")
        .unwrap();
    let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
    split.read_exact(&mut answer).await.unwrap();
    let m = hickory_proto::op::Message::from_vec(&answer).unwrap();
    assert_eq!(m.answers.len(), 1);
    drop(clients);
}
