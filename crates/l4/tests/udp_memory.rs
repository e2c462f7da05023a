//! Memory a UDP flow holds while it lives. A test binary of its own: it reads the
//! process's resident size, which other tests running alongside would disturb.

mod common;

use std::time::Duration;

use common::*;
use switchyard_balance::Algorithm;
use switchyard_config::ListenerKind;
use switchyard_testkit::process::rss_kib;
use tokio::net::UdpSocket;

/// Sends `msg` from a fresh client port and waits for the echo (one new flow). The
/// client is returned to be kept: a port freed could be handed to the next client.
async fn one_flow(proxy: std::net::SocketAddr, msg: &[u8], buf: &mut [u8]) -> UdpSocket {
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    c.send_to(msg, proxy).await.unwrap();
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), c.recv_from(buf))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(n, msg.len());
    c
}

/// Every flow used to own a 64 KiB reply buffer for its whole life: a server answering
/// large datagrams (or many clients over the default 65,536 flows) made switchyard hold
/// about 64 KiB of resident memory per flow, 4 GiB for a full table. Replies now go
/// through one buffer per worker thread.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn live_flows_do_not_each_hold_a_datagram_sized_buffer() {
    let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        while let Ok((n, from)) = echo.recv_from(&mut buf).await {
            let _ = echo.send_to(&buf[..n], from).await;
        }
    });
    let p = pool("udp-mem", Algorithm::RoundRobin, &[("echo", echo_addr)]);
    let proxy = start_udp(build(
        &listener(
            "udp-mem",
            Some("udp-mem"),
            ListenerKind::Udp { max_flows: 10_000 },
        ),
        &[&p],
    ))
    .await;
    const FLOWS: usize = 400;
    let msg = vec![0x5a_u8; 60_000];
    let mut buf = vec![0u8; 65_535];
    // Warm up: the first flows allocate what is made once (buffers, runtime structures).
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(one_flow(proxy.addr, &msg, &mut buf).await);
    }
    let before = rss_kib();
    for _ in 0..FLOWS {
        clients.push(one_flow(proxy.addr, &msg, &mut buf).await);
    }
    let after = rss_kib();
    eventually("every flow still lives", || {
        proxy.stats().udp_flows_active == FLOWS as u64 + 8
    })
    .await;
    let per_flow = (after.saturating_sub(before)) * 1024 / FLOWS as u64;
    eprintln!("{FLOWS} live flows: {per_flow} bytes of resident memory each");
    assert!(
        per_flow < 8 * 1024,
        "{FLOWS} live flows that each relayed a 60,000-byte reply grew the process by \
         {} KiB ({per_flow} bytes per flow)",
        after.saturating_sub(before)
    );
}
