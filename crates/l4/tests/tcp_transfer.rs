//! Bulk transfer integrity and half-close, through the TCP proxy, with splice and with the
//! userspace copy.

mod common;

use std::time::{Duration, Instant};

use common::*;
use switchyard_balance::Algorithm;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BLOCK: usize = 1 << 20;

/// A server that reads everything, then answers with the CRC32 and byte count and closes.
async fn crc_sink() -> std::net::SocketAddr {
    crc_sink_pacing(4 * BLOCK, Duration::ZERO).await
}

/// [`crc_sink`] reading at most `chunk` bytes at a time with a `pause` after each read: a
/// slow server, so the proxy's writes block while the client still sends.
async fn crc_sink_pacing(chunk: usize, pause: Duration) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut h = crc32fast::Hasher::new();
                let mut buf = vec![0u8; chunk];
                let mut total = 0u64;
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                    h.update(&buf[..n]);
                    total += n as u64;
                }
                let mut out = h.finalize().to_be_bytes().to_vec();
                out.extend_from_slice(&total.to_be_bytes());
                s.write_all(&out).await.unwrap();
            });
        }
    });
    addr
}

/// Sends `blocks` MiB of numbered pseudo-random blocks; returns (crc, bytes) sent and
/// what the server reported.
async fn send_through(proxy: std::net::SocketAddr, blocks: u64) -> ((u32, u64), (u32, u64)) {
    let mut block = vec![0u8; BLOCK];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for chunk in block.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    let mut s = TcpStream::connect(proxy).await.unwrap();
    let mut h = crc32fast::Hasher::new();
    for i in 0..blocks {
        block[..8].copy_from_slice(&i.to_le_bytes());
        h.update(&block);
        s.write_all(&block).await.unwrap();
    }
    s.shutdown().await.unwrap();
    let mut answer = [0u8; 12];
    s.read_exact(&mut answer).await.unwrap();
    let crc = u32::from_be_bytes(answer[..4].try_into().unwrap());
    let n = u64::from_be_bytes(answer[4..].try_into().unwrap());
    ((h.finalize(), blocks * BLOCK as u64), (crc, n))
}

async fn transfer(name: &str, splice: bool, blocks: u64) -> Duration {
    transfer_to(name, splice, blocks, crc_sink().await).await
}

async fn transfer_to(
    name: &str,
    splice: bool,
    blocks: u64,
    sink: std::net::SocketAddr,
) -> Duration {
    let p = pool(name, Algorithm::RoundRobin, &[("sink", sink)]);
    let mut st = build(&listener(name, Some(name), tcp_kind()), &[&p]);
    st.splice = splice;
    let proxy = start_tcp(st).await;
    let start = Instant::now();
    let (sent, got) =
        tokio::time::timeout(Duration::from_secs(120), send_through(proxy.addr, blocks))
            .await
            .expect("transfer finished in time");
    let took = start.elapsed();
    assert_eq!(sent, got, "server received exactly what the client sent");
    eventually("connection closed", || {
        proxy.stats().connections_active == 0
    })
    .await;
    assert_eq!(proxy.stats().bytes_in, blocks * BLOCK as u64);
    assert_eq!(proxy.stats().bytes_out, 12);
    let spliced = proxy.stats().spliced_directions;
    assert_eq!(
        spliced,
        u64::from(splice),
        "the bulk direction is spliced iff enabled"
    );
    eprintln!(
        "{name}: {blocks} MiB in {took:?} ({:.0} MiB/s, splice={splice})",
        blocks as f64 / took.as_secs_f64()
    );
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_through_the_proxy_arrives_intact_with_splice() {
    transfer("xfer-splice", true, 1024).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_through_the_proxy_arrives_intact_with_userspace_copy() {
    transfer("xfer-user", false, 1024).await;
}

/// A server slower than the client: the proxy holds bytes it cannot write yet while more
/// arrive, and the client's EOF comes while bytes are still held. All of them must arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_gets_every_byte_with_splice() {
    let sink = crc_sink_pacing(64 * 1024, Duration::from_millis(1)).await;
    transfer_to("slow-splice", true, 32, sink).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_gets_every_byte_with_userspace_copy() {
    let sink = crc_sink_pacing(64 * 1024, Duration::from_millis(1)).await;
    transfer_to("slow-user", false, 32, sink).await;
}

async fn half_close(name: &str, splice: bool) {
    let echo = named_echo("e").await;
    let p = pool(name, Algorithm::RoundRobin, &[("echo", echo)]);
    let mut st = build(&listener(name, Some(name), tcp_kind()), &[&p]);
    st.splice = splice;
    let proxy = start_tcp(st).await;

    // Client closes its write side first: the server sees EOF, still answers, then closes.
    // 1 MiB each way, so bulk directions switch to splice before the half-close.
    let (s, _) = which_server(proxy.addr, 1).await;
    let payload: Vec<u8> = (0..BLOCK as u32).map(|i| (i % 253) as u8).collect();
    let (mut r, mut w) = s.into_split();
    let sent = payload.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.unwrap();
        w.shutdown().await.unwrap();
        w
    });
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), r.read_to_end(&mut rest))
        .await
        .expect("server closed after client half-close")
        .unwrap();
    assert!(rest == payload, "echo intact after half-close");
    drop(writer.await.unwrap());
    assert_eq!(proxy.stats().spliced_directions, if splice { 2 } else { 0 });

    // Server closes its write side first: the client sees EOF and can still send.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let srv = l.local_addr().unwrap();
    let p2 = pool(&format!("{name}-2"), Algorithm::RoundRobin, &[("s", srv)]);
    let mut st2 = build(
        &listener(&format!("{name}-2"), Some(&p2.name()), tcp_kind()),
        &[&p2],
    );
    st2.splice = splice;
    let proxy2 = start_tcp(st2).await;
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"bye").await.unwrap();
        s.shutdown().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got
    });
    let mut c = TcpStream::connect(proxy2.addr).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut got))
        .await
        .expect("client saw the server's EOF")
        .unwrap();
    assert_eq!(got, b"bye");
    c.write_all(b"after eof").await.unwrap();
    c.shutdown().await.unwrap();
    let at_server = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(at_server, b"after eof");
    eventually("both connections closed", || {
        proxy.stats().connections_active == 0 && proxy2.stats().connections_active == 0
    })
    .await;
}

#[tokio::test]
async fn half_close_propagates_both_ways_with_splice() {
    half_close("hc-splice", true).await;
}

#[tokio::test]
async fn half_close_propagates_both_ways_with_userspace_copy() {
    half_close("hc-user", false).await;
}
