//! UDP through real sockets: flow affinity, idle expiry and a full flow table.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use switchyard_balance::Algorithm;
use switchyard_config::ListenerKind;
use tokio::net::UdpSocket;

/// A UDP server that answers each datagram with `name:` + the datagram.
async fn named_udp(name: &'static str) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let mut out = format!("{name}:").into_bytes();
            out.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&out, from).await;
        }
    });
    addr
}

async fn ask(c: &UdpSocket, proxy: SocketAddr, msg: &[u8]) -> Option<Vec<u8>> {
    c.send_to(msg, proxy).await.unwrap();
    let mut buf = vec![0u8; 70000];
    match tokio::time::timeout(Duration::from_millis(1000), c.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

fn udp_kind(max_flows: usize) -> ListenerKind {
    ListenerKind::Udp { max_flows }
}

async fn three_servers(name: &str) -> std::sync::Arc<switchyard_balance::Pool> {
    let (a, b, c) = (
        named_udp("a").await,
        named_udp("b").await,
        named_udp("c").await,
    );
    pool(name, Algorithm::RoundRobin, &[("a", a), ("b", b), ("c", c)])
}

#[tokio::test]
async fn every_datagram_of_a_flow_reaches_the_same_server() {
    let p = three_servers("udp-aff").await;
    let proxy = start_udp(build(
        &listener("udp-aff", Some("udp-aff"), udp_kind(100)),
        &[&p],
    ))
    .await;
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    }
    let mut first = Vec::new();
    for c in &clients {
        let r = ask(c, proxy.addr, b"hi").await.expect("reply");
        first.push(r[..1].to_vec());
        assert_eq!(&r[1..], b":hi");
    }
    // Round robin spread the six clients over the three servers...
    let mut distinct = first.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3);
    // ...and each client keeps its server for every later datagram.
    for round in 0..5 {
        for (c, f) in clients.iter().zip(&first) {
            let r = ask(c, proxy.addr, format!("m{round}").as_bytes())
                .await
                .expect("reply");
            assert_eq!(&r[..1], &f[..], "flow affinity");
        }
    }
    let s = proxy.stats();
    assert_eq!(s.udp_flows_created, 6);
    assert_eq!(s.udp_flows_active, 6);
    assert_eq!(s.datagrams_in, 36);
    assert_eq!(s.datagrams_out, 36);
}

#[tokio::test]
async fn large_datagrams_pass_whole() {
    let p = three_servers("udp-big").await;
    let proxy = start_udp(build(
        &listener("udp-big", Some("udp-big"), udp_kind(10)),
        &[&p],
    ))
    .await;
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let big = vec![7u8; 60_000];
    let r = ask(&c, proxy.addr, &big).await.expect("reply");
    assert_eq!(r.len(), 62_000 - 2000 + 2);
    assert!(r[2..].iter().all(|&b| b == 7));
}

#[tokio::test]
async fn idle_flows_expire_and_the_client_gets_a_new_flow() {
    let p = three_servers("udp-exp").await;
    let mut l = listener("udp-exp", Some("udp-exp"), udp_kind(10));
    l.timeouts.idle = Duration::from_millis(1000);
    let proxy = start_udp(build(&l, &[&p])).await;
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // Traffic more often than the idle time keeps the flow.
    for _ in 0..6 {
        assert!(ask(&c, proxy.addr, b"x").await.is_some());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(proxy.stats().udp_flows_created, 1);
    eventually("flow expired", || proxy.stats().udp_flows_expired == 1).await;
    assert_eq!(proxy.stats().udp_flows_active, 0);
    assert!(ask(&c, proxy.addr, b"again").await.is_some());
    assert_eq!(proxy.stats().udp_flows_created, 2);
}

#[tokio::test]
async fn a_full_flow_table_drops_new_flows_and_counts_them() {
    let p = three_servers("udp-full").await;
    let proxy = start_udp(build(
        &listener("udp-full", Some("udp-full"), udp_kind(2)),
        &[&p],
    ))
    .await;
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    assert!(ask(&a, proxy.addr, b"1").await.is_some());
    assert!(ask(&b, proxy.addr, b"2").await.is_some());
    assert!(
        ask(&c, proxy.addr, b"3").await.is_none(),
        "third flow dropped"
    );
    assert!(ask(&c, proxy.addr, b"4").await.is_none());
    assert!(
        ask(&a, proxy.addr, b"5").await.is_some(),
        "existing flows still served"
    );
    let s = proxy.stats();
    assert_eq!(s.udp_flows_dropped, 2);
    assert_eq!(s.udp_flows_active, 2);
}

/// Datagrams dropped because the flow table was full used to be counted but never logged
/// (not even once): clients timed out and the log was silent. The first now warns,
/// naming `max_flows`; more are summed up at most every 5 s.
#[tokio::test]
async fn a_full_flow_table_is_logged_once_not_per_datagram() {
    let (logs, _guard) = switchyard_testkit::logs::capture();
    let p = three_servers("udp-full-log").await;
    let proxy = start_udp(build(
        &listener("udp-full-log", Some("udp-full-log"), udp_kind(1)),
        &[&p],
    ))
    .await;
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    assert!(ask(&a, proxy.addr, b"1").await.is_some());
    for i in 0..10u8 {
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.send_to(&[i], proxy.addr).await.unwrap();
    }
    eventually("every datagram dropped", || {
        proxy.stats().udp_flows_dropped == 10
    })
    .await;
    let text = logs.text();
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("max_flows (1)"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning for 10 drops:\n{text}");
    assert!(
        warnings[0].contains(
            "udp listener udp-full-log has max_flows (1) flows; datagram of a new flow dropped"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_flow_refused_by_its_server_picks_again() {
    let dead = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let live = named_udp("l").await;
    let p_dead = pool("udp-refused", Algorithm::RoundRobin, &[("dead", dead)]);
    let l = listener("udp-refused", Some("udp-refused"), udp_kind(10));
    let proxy = start_udp(build(&l, &[&p_dead])).await;
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    assert!(ask(&c, proxy.addr, b"1").await.is_none(), "nobody answers");
    // The operator fixes the pool; the flow's server refused, so the next datagram
    // leaves it and picks in the new pool.
    let p_live = pool("udp-refused", Algorithm::RoundRobin, &[("live", live)]);
    proxy
        .state
        .store(std::sync::Arc::new(build(&l, &[&p_live])));
    let r = ask(&c, proxy.addr, b"2")
        .await
        .expect("answered by the live server");
    assert_eq!(r, b"l:2");
    let s = proxy.stats();
    assert_eq!(
        (s.udp_flows_created, s.udp_flows_active, s.connect_failures),
        (2, 1, 1)
    );
}

/// A udp server that died (its port answers ICMP unreachable) was only counted: a
/// udp-only pool has no health checks by default, and the log said nothing at all. The
/// first failed flow now warns, naming the server; more are summed up every 5 s.
#[tokio::test]
async fn a_dead_udp_server_is_warned_about_once_not_per_flow() {
    let (logs, _guard) = switchyard_testkit::logs::capture();
    let dead = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let p = pool("udp-deadlog", Algorithm::RoundRobin, &[("gone", dead)]);
    let l = listener("udp-deadlog", Some("udp-deadlog"), udp_kind(10));
    let proxy = start_udp(build(&l, &[&p])).await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.send_to(b"1", proxy.addr).await.unwrap();
        clients.push(c);
    }
    eventually("every flow opened", || proxy.stats().udp_flows_created == 4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Each client's next datagram finds its flow refused and forgets it.
    for c in &clients {
        c.send_to(b"2", proxy.addr).await.unwrap();
    }
    eventually("every refusal counted", || {
        proxy.stats().connect_failures == 4
    })
    .await;
    let text = logs.text();
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("udp flow to server gone"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning for 4 failed flows:\n{text}");
    assert!(
        warnings[0].contains(&format!(
            "udp flow to server gone ({dead}) forgotten: it answered with an ICMP error"
        )),
        "{text}"
    );
}

/// A listener on a wildcard address (`0.0.0.0`, as the docs' own example) replied from
/// the address the routing table picked, not the one the client wrote to: a client that
/// sent to another local address (a VIP; here 127.0.0.9) got replies from 127.0.0.1 and
/// dropped them (dig timed out). Replies now leave from the address the client used.
#[tokio::test]
async fn a_wildcard_listener_replies_from_the_address_the_client_used() {
    let p = three_servers("udp-wild").await;
    let proxy = start_udp_on(
        build(&listener("udp-wild", Some("udp-wild"), udp_kind(10)), &[&p]),
        "0.0.0.0:0",
    )
    .await;
    let port = proxy.addr.port();
    for target in ["127.0.0.9", "127.0.0.1", "127.0.0.9"] {
        let vip: SocketAddr = format!("{target}:{port}").parse().unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.send_to(b"q", vip).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = tokio::time::timeout(Duration::from_secs(2), c.recv_from(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        assert!(n > 0);
        assert_eq!(
            from, vip,
            "the reply comes from the address the client wrote to"
        );
        // A connected socket (as dig and most resolvers use) takes only that source.
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.connect(vip).await.unwrap();
        c.send(b"q").await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(2), c.recv(&mut buf))
            .await
            .expect("a connected client gets its answer")
            .unwrap();
        assert!(n > 0);
    }
    // The IPv6 path: a `[::]` listener answers `::1` from `::1`.
    let v6 = three_servers("udp-wild6").await;
    let proxy = start_udp_on(
        build(
            &listener("udp-wild6", Some("udp-wild6"), udp_kind(10)),
            &[&v6],
        ),
        "[::]:0",
    )
    .await;
    let vip: SocketAddr = format!("[::1]:{}", proxy.addr.port()).parse().unwrap();
    let c = UdpSocket::bind("[::1]:0").await.unwrap();
    c.send_to(b"q", vip).await.unwrap();
    let mut buf = [0u8; 64];
    let (_, from) = tokio::time::timeout(Duration::from_secs(2), c.recv_from(&mut buf))
        .await
        .expect("answered over IPv6")
        .unwrap();
    assert_eq!(from, vip);
}

/// Datagrams of new clients while no flow can be opened (here: no server up; also a
/// process out of descriptors) are dropped. They used to log a warning each, so a flood of
/// datagrams from many ports (cheap, and spoofable) wrote a log line per datagram: 3,787
/// lines in 2 s from the binary. Now the first warns and the rest are summed up at most
/// every 5 s.
#[tokio::test]
async fn datagrams_that_open_no_flow_warn_once_not_each() {
    let (logs, _guard) = switchyard_testkit::logs::capture();
    let server = named_udp("s").await;
    let p = pool("udp-noserver", Algorithm::RoundRobin, &[("s", server)]);
    p.set_health("s", false, switchyard_balance::clock::now())
        .unwrap();
    let proxy = start_udp(build(
        &listener("udp-noserver", Some("udp-noserver"), udp_kind(100)),
        &[&p],
    ))
    .await;
    let mut clients = Vec::new();
    for i in 0..50u8 {
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.send_to(&[i], proxy.addr).await.unwrap();
        clients.push(c);
    }
    eventually("every datagram received", || {
        proxy.stats().datagrams_in == 50
    })
    .await;
    let c = &clients[0];
    assert!(
        ask(c, proxy.addr, b"x").await.is_none(),
        "no server: dropped"
    );
    let text = logs.text();
    let warnings = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("udp flow not opened"))
        .count();
    assert_eq!(warnings, 1, "one warning for 51 datagrams:\n{text}");
    assert_eq!(proxy.stats().udp_flows_created, 0);
    assert_eq!(
        proxy.stats().udp_flows_failed,
        51,
        "every dropped datagram is counted"
    );
    // The server is back: the next datagram opens a flow and is answered.
    p.set_health("s", true, switchyard_balance::clock::now())
        .unwrap();
    assert_eq!(ask(c, proxy.addr, b"y").await.as_deref(), Some(&b"s:y"[..]));
}

/// The Internet checksum of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP "host administratively prohibited" (type 3 code 10) about a UDP datagram from
/// `from` to `to` (both IPv4), as a firewall rejecting it sends (firewalld's default
/// REJECT). Linux reports it to a connected UDP socket as EHOSTUNREACH.
fn host_prohibited(from: SocketAddr, to: SocketAddr) -> Vec<u8> {
    let (SocketAddr::V4(f), SocketAddr::V4(t)) = (from, to) else {
        panic!("IPv4 only");
    };
    let mut inner = vec![0x45, 0, 0, 29, 0, 0, 0, 0, 64, 17, 0, 0];
    inner.extend_from_slice(&f.ip().octets());
    inner.extend_from_slice(&t.ip().octets());
    let sum = checksum(&inner);
    inner[10..12].copy_from_slice(&sum.to_be_bytes());
    inner.extend_from_slice(&f.port().to_be_bytes());
    inner.extend_from_slice(&t.port().to_be_bytes());
    inner.extend_from_slice(&[0, 9, 0, 0]);
    let mut icmp = vec![3, 10, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&inner);
    let sum = checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    icmp
}

/// An ICMP error other than "port unreachable" (a firewall's "host prohibited", say)
/// surfaced on the flow's reply task, which stopped without telling the
/// flow: the flow lived on, every later datagram of the client still reached the server,
/// and every reply was lost, for as long as the client kept sending. Now any failure of
/// the reply side makes the client's next datagram pick again, as a refusal does.
///
/// Sending the ICMP message takes a raw socket: the test needs root (CAP_NET_RAW) and
/// says so and passes without it.
#[tokio::test]
async fn a_flow_whose_replies_fail_with_any_icmp_error_picks_again() {
    let raw = match socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::RAW,
        Some(socket2::Protocol::ICMPV4),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipped: no raw socket ({e}); run as root to test ICMP errors");
            return;
        }
    };
    // The server tells which flow socket each datagram came from.
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server_addr = server.local_addr().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        while let Ok((n, from)) = server.recv_from(&mut buf).await {
            let _ = tx.send(from);
            let _ = server.send_to(&buf[..n], from).await;
        }
    });
    let p = pool("udp-icmp", Algorithm::RoundRobin, &[("s", server_addr)]);
    let proxy = start_udp(build(
        &listener("udp-icmp", Some("udp-icmp"), udp_kind(10)),
        &[&p],
    ))
    .await;
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    assert_eq!(ask(&c, proxy.addr, b"1").await.as_deref(), Some(&b"1"[..]));
    let flow_socket = rx.recv().await.unwrap();
    let icmp = host_prohibited(flow_socket, server_addr);
    let to: SocketAddr = "127.0.0.1:0".parse().unwrap();
    raw.send_to(&icmp, &to.into()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 0..3u8 {
        let msg = [b'a' + i];
        assert_eq!(
            ask(&c, proxy.addr, &msg).await.as_deref(),
            Some(&msg[..]),
            "answered after the ICMP error (datagram {i})"
        );
    }
    assert_eq!(
        proxy.stats().udp_flows_created,
        2,
        "the flow was opened again"
    );
}
