//! Server choice, retries, limits, draining and the connection table, through real sockets.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use switchyard_balance::{AdminState, Algorithm};
use switchyard_l4::{ConnTable, HashSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_dead_server_is_skipped_by_connect_retry() {
    let (dead1, dead2) = (dead_addr().await, dead_addr().await);
    let live = named_echo("live").await;
    let p = pool(
        "retry",
        Algorithm::RoundRobin,
        &[("dead1", dead1), ("dead2", dead2), ("live", live)],
    );
    let proxy = start_tcp(build(&listener("retry", Some("retry"), tcp_kind()), &[&p])).await;
    for _ in 0..6 {
        let (_s, name) = which_server(proxy.addr, 4).await;
        assert_eq!(name, "live");
    }
    let s = proxy.stats();
    assert!(s.connect_failures >= 4, "{s:?}");
    assert!(s.retries >= 4, "{s:?}");
    assert_eq!(s.connections_failed, 0);
}

#[tokio::test]
async fn three_failed_connects_close_the_client() {
    let deads = [
        dead_addr().await,
        dead_addr().await,
        dead_addr().await,
        dead_addr().await,
    ];
    let servers: Vec<(&str, SocketAddr)> = ["a", "b", "c", "d"].into_iter().zip(deads).collect();
    let p = pool("allgone", Algorithm::RoundRobin, &servers);
    let proxy = start_tcp(build(
        &listener("allgone", Some("allgone"), tcp_kind()),
        &[&p],
    ))
    .await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "closed without data");
    let st = proxy.stats();
    assert_eq!(st.connect_failures, 3, "first try and two retries");
    assert_eq!(st.retries, 2);
    assert_eq!(st.connections_failed, 1);
}

/// With every server of a pool down or dead, each client connection used to write a
/// warning (and each failed connect another): a pool outage under load flooded the log
/// with one line per connection. Now each is warned about once, then summed up at most
/// every 5 s, as the HTTP proxy does.
#[tokio::test]
async fn a_pool_outage_is_warned_about_once_not_per_connection() {
    let (logs, _guard) = switchyard_testkit::logs::capture();
    let deads = [dead_addr().await, dead_addr().await, dead_addr().await];
    let servers: Vec<(&str, SocketAddr)> = ["a", "b", "c"].into_iter().zip(deads).collect();
    let p = pool("outage", Algorithm::RoundRobin, &servers);
    let proxy = start_tcp(build(
        &listener("outage", Some("outage"), tcp_kind()),
        &[&p],
    ))
    .await;
    for _ in 0..10 {
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(n, Ok(0) | Err(_)), "closed without data");
    }
    let st = proxy.stats();
    assert_eq!(st.connections_failed, 10, "every closed connection counted");
    assert_eq!(st.connect_failures, 30, "every failed connect counted");
    let text = logs.text();
    let warned = |what: &str| {
        text.lines()
            .filter(|l| l.contains("WARN") && l.contains(what))
            .count()
    };
    assert_eq!(warned("connect attempt(s) failed"), 1, "{text}");
    assert_eq!(warned("connect to server failed"), 1, "{text}");
}

#[tokio::test]
async fn max_connections_closes_new_connections_at_once() {
    let echo = named_echo("e").await;
    let p = pool("maxc", Algorithm::RoundRobin, &[("e", echo)]);
    let mut l = listener("maxc", Some("maxc"), tcp_kind());
    l.max_connections = Some(2);
    let proxy = start_tcp(build(&l, &[&p])).await;
    let (_a, _) = which_server(proxy.addr, 1).await;
    let (_b, _) = which_server(proxy.addr, 1).await;
    let mut c = TcpStream::connect(proxy.addr).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "third connection closed");
    let st = proxy.stats();
    assert_eq!(st.connections_rejected, 1);
    assert_eq!(st.connections_active, 2);
    drop((_a, _b));
    eventually("slots freed", || proxy.stats().connections_active == 0).await;
    let (_d, _) = which_server(proxy.addr, 1).await;
}

/// A connection closed by `max_connections` used to be logged only at debug level: the
/// operator saw clients fail and nothing in the log. The first now warns, naming the
/// limit, and a flood of them is summed up at most every 5 s.
#[tokio::test]
async fn max_connections_reached_is_logged_once_not_per_connection() {
    let (logs, _guard) = switchyard_testkit::logs::capture();
    let echo = named_echo("e").await;
    let p = pool("maxlog", Algorithm::RoundRobin, &[("e", echo)]);
    let mut l = listener("maxlog", Some("maxlog"), tcp_kind());
    l.max_connections = Some(1);
    let proxy = start_tcp(build(&l, &[&p])).await;
    let (_held, _) = which_server(proxy.addr, 1).await;
    for _ in 0..5 {
        let mut c = TcpStream::connect(proxy.addr).await.unwrap();
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(n, Ok(0) | Err(_)), "closed by max_connections");
    }
    eventually("every rejection counted", || {
        proxy.stats().connections_rejected == 5
    })
    .await;
    let text = logs.text();
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("max_connections (1)"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning for 5 rejections:\n{text}");
    assert!(
        warnings[0].contains("listener maxlog has max_connections (1) open; new connection closed"),
        "{text}"
    );
}

#[tokio::test]
async fn least_connections_counts_live_connections() {
    let (a, b) = (named_echo("a").await, named_echo("b").await);
    let p = pool("lc", Algorithm::LeastConnections, &[("a", a), ("b", b)]);
    let proxy = start_tcp(build(&listener("lc", Some("lc"), tcp_kind()), &[&p])).await;
    let (held, first) = which_server(proxy.addr, 1).await;
    // While the first connection lives, every new one goes to the other server.
    for _ in 0..4 {
        let (_s, name) = which_server(proxy.addr, 1).await;
        assert_ne!(name, first);
        drop(_s);
        let snap = p.snapshot();
        eventually("closed connection released its server", || {
            snap.servers()
                .iter()
                .map(|s| s.stats().in_flight())
                .sum::<u64>()
                == 1
        })
        .await;
    }
    drop(held);
}

#[tokio::test]
async fn source_ip_hashing_keeps_a_client_on_one_server() {
    let servers = [
        named_echo("a").await,
        named_echo("b").await,
        named_echo("c").await,
    ];
    let p = pool(
        "hash",
        Algorithm::Maglev,
        &[("a", servers[0]), ("b", servers[1]), ("c", servers[2])],
    );
    let proxy = start_tcp(build(&listener("hash", Some("hash"), tcp_kind()), &[&p])).await;
    assert_eq!(
        proxy.state.load().default_pool.as_ref().unwrap().hash,
        HashSource::SourceIp
    );
    let (_s, first) = which_server(proxy.addr, 1).await;
    for _ in 0..10 {
        let (_s, name) = which_server(proxy.addr, 1).await;
        assert_eq!(name, first, "same source IP, same server");
    }
}

#[test]
fn connection_hashing_uses_the_port_and_source_ip_does_not() {
    let a: SocketAddr = "192.0.2.1:1000".parse().unwrap();
    let b: SocketAddr = "192.0.2.1:2000".parse().unwrap();
    assert_eq!(
        HashSource::SourceIp.hash(a, None),
        HashSource::SourceIp.hash(b, None)
    );
    assert_ne!(
        HashSource::Connection.hash(a, None),
        HashSource::Connection.hash(b, None)
    );
    assert_ne!(
        HashSource::Sni.hash(a, Some("x.test")),
        HashSource::Sni.hash(a, None)
    );
}

#[tokio::test]
async fn a_draining_server_keeps_connections_until_drain_timeout() {
    let (a, b) = (named_echo("a").await, named_echo("b").await);
    let p = pool("drain", Algorithm::RoundRobin, &[("a", a), ("b", b)]);
    let mut st = build(&listener("drain", Some("drain"), tcp_kind()), &[&p]);
    st.default_pool.as_mut().unwrap().drain_timeout = Some(Duration::from_millis(2000));
    let proxy = start_tcp(st).await;
    let (mut held, name) = which_server(proxy.addr, 1).await;
    p.set_admin(&name, AdminState::Draining).unwrap();
    // New connections avoid the draining server; the old one still works for a while.
    for _ in 0..3 {
        let (_s, other) = which_server(proxy.addr, 1).await;
        assert_ne!(other, name);
    }
    held.write_all(b"still").await.unwrap();
    let mut buf = [0u8; 5];
    held.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"still");
    // Then drain_timeout passes and the proxy closes it.
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), held.read_to_end(&mut rest)).await;
    assert!(r.is_ok(), "closed after drain_timeout");
    assert_eq!(proxy.stats().connections_drain_closed, 1);
}

#[tokio::test]
async fn a_draining_server_without_drain_timeout_keeps_its_connections() {
    let a = named_echo("a").await;
    let p = pool("drain-none", Algorithm::RoundRobin, &[("a", a)]);
    let mut l = listener("drain-none", Some("drain-none"), tcp_kind());
    l.timeouts.idle = Duration::from_secs(30);
    let proxy = start_tcp(build(&l, &[&p])).await;
    let (mut held, _) = which_server(proxy.addr, 1).await;
    p.set_admin("a", AdminState::Draining).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    held.write_all(b"x").await.unwrap();
    let mut buf = [0u8; 1];
    held.read_exact(&mut buf).await.unwrap();
    assert_eq!(proxy.stats().connections_drain_closed, 0);
}

#[tokio::test]
async fn idle_connections_are_closed_after_timeouts_idle() {
    let a = named_echo("a").await;
    let p = pool("idle", Algorithm::RoundRobin, &[("a", a)]);
    let mut l = listener("idle", Some("idle"), tcp_kind());
    l.timeouts.idle = Duration::from_millis(1000);
    let proxy = start_tcp(build(&l, &[&p])).await;
    let (mut s, _) = which_server(proxy.addr, 1).await;
    // Activity keeps it open past the idle time...
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        s.write_all(b"k").await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
    }
    // ...silence closes it.
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(r.is_ok(), "closed when idle");
    assert_eq!(proxy.stats().connections_idle_closed, 1);
}

#[tokio::test]
async fn the_connection_table_lists_live_connections_with_their_bytes() {
    let a = named_echo("srv").await;
    let p = pool("table", Algorithm::RoundRobin, &[("srv", a)]);
    let proxy = start_tcp(build(&listener("table", Some("table"), tcp_kind()), &[&p])).await;
    let (mut s, _) = which_server(proxy.addr, 3).await;
    s.write_all(b"hello").await.unwrap();
    let mut b = [0u8; 5];
    s.read_exact(&mut b).await.unwrap();
    let local = s.local_addr().unwrap();
    let table = ConnTable::global();
    let find = || {
        table
            .list(0, usize::MAX)
            .into_iter()
            .find(|c| c.client == local)
    };
    eventually("bytes counted", || {
        find().is_some_and(|c| c.bytes_in == 5 && c.bytes_out == 8)
    })
    .await;
    let c = find().unwrap();
    assert_eq!(
        (c.listener.as_str(), c.pool.as_str(), c.server.as_str()),
        ("table", "table", "srv")
    );
    assert_eq!(c.server_addr, a);
    assert_eq!(table.count_listener("table"), 1);
    drop(s);
    eventually("removed on close", || find().is_none()).await;
}

#[tokio::test]
async fn shutdown_stops_accepting_and_waits_for_connections() {
    let a = named_echo("a").await;
    let p = pool("shut", Algorithm::RoundRobin, &[("a", a)]);
    let proxy = start_tcp(build(&listener("shut", Some("shut"), tcp_kind()), &[&p])).await;
    let (mut s, _) = which_server(proxy.addr, 1).await;
    proxy.cancel.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!proxy.task.is_finished(), "waits for the live connection");
    assert!(
        TcpStream::connect(proxy.addr).await.is_err(),
        "no longer accepting"
    );
    s.write_all(b"z").await.unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await.unwrap();
    drop(s);
    tokio::time::timeout(Duration::from_secs(5), proxy.task)
        .await
        .unwrap()
        .unwrap();
}

/// A listener whose accept queue is full: the kernel drops further SYNs, so a connect to
/// it hangs until the connect timeout.
fn blackhole() -> (std::net::TcpListener, Vec<std::net::TcpStream>, SocketAddr) {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.listen(0).unwrap();
    let l: std::net::TcpListener = sock.into();
    let addr = l.local_addr().unwrap();
    let mut fill = Vec::new();
    for _ in 0..2 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => fill.push(s),
            Err(_) => break,
        }
    }
    (l, fill, addr)
}

#[tokio::test]
async fn a_server_that_does_not_answer_times_out_and_is_retried_elsewhere() {
    let (_l, _fill, hole) = blackhole();
    if std::net::TcpStream::connect_timeout(&hole, Duration::from_millis(200)).is_ok() {
        eprintln!("SKIPPED: this kernel answers SYNs on a full accept queue");
        return;
    }
    let live = named_echo("live").await;
    let p = pool(
        "ctimeout",
        Algorithm::RoundRobin,
        &[("hole", hole), ("live", live)],
    );
    let mut l = listener("ctimeout", Some("ctimeout"), tcp_kind());
    l.timeouts.connect = Duration::from_millis(200);
    let proxy = start_tcp(build(&l, &[&p])).await;
    let started = std::time::Instant::now();
    for _ in 0..2 {
        let (_s, name) = which_server(proxy.addr, 4).await;
        assert_eq!(name, "live");
    }
    let s = proxy.stats();
    // Round robin sends each connection's first try to either server; every try at the
    // silent one times out and is retried on the live one.
    assert!(
        s.connect_failures >= 1 && s.connect_failures == s.retries,
        "{s:?}"
    );
    assert_eq!(s.connections_failed, 0);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A server that answers each connection with one byte, then resets it 50 ms later.
async fn writes_then_resets() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            s.write_all(b"r").await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(s);
        }
    });
    a
}

#[tokio::test]
async fn a_client_reset_is_not_held_against_the_server_but_a_server_reset_is() {
    let echo = named_echo("e").await;
    let resetter = writes_then_resets().await;
    let p = pool(
        "resets",
        Algorithm::RoundRobin,
        &[("e", echo), ("r", resetter)],
    );
    let proxy = start_tcp(build(
        &listener("resets", Some("resets"), tcp_kind()),
        &[&p],
    ))
    .await;
    for _ in 0..2 {
        let (s, name) = which_server(proxy.addr, 1).await;
        if name == "e" {
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(s);
        } else {
            let mut s = s;
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        }
    }
    eventually("both closed", || proxy.stats().connections_active == 0).await;
    let snap = p.snapshot();
    let failures = |n: &str| snap.server(n).unwrap().stats().failures_total();
    let requests = |n: &str| snap.server(n).unwrap().stats().requests_total();
    assert_eq!(
        (requests("e"), failures("e")),
        (1, 0),
        "client reset: not the server's fault"
    );
    assert_eq!(
        (requests("r"), failures("r")),
        (1, 1),
        "server reset counts as a failure"
    );
}

/// A server that accepts, names itself, and reports how each connection ended.
async fn reporting_server(
    name: &'static str,
) -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<std::io::ErrorKind>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = s.write_all(name.as_bytes()).await;
                let mut buf = [0u8; 64];
                let end = loop {
                    match s.read(&mut buf).await {
                        Ok(0) => break std::io::ErrorKind::UnexpectedEof,
                        Ok(_) => continue,
                        Err(e) => break e.kind(),
                    }
                };
                let _ = tx.send(end);
            });
        }
    });
    (a, rx)
}

async fn end_seen(
    ends: &mut tokio::sync::mpsc::UnboundedReceiver<std::io::ErrorKind>,
) -> std::io::ErrorKind {
    tokio::time::timeout(Duration::from_secs(5), ends.recv())
        .await
        .expect("the server saw the connection end in time")
        .expect("server running")
}

#[tokio::test]
async fn a_reset_is_passed_on_as_a_reset_and_a_close_as_a_close() {
    let (server, mut ends) = reporting_server("s").await;
    let p = pool("reset-pass", Algorithm::RoundRobin, &[("s", server)]);
    let proxy = start_tcp(build(
        &listener("reset-pass", Some("reset-pass"), tcp_kind()),
        &[&p],
    ))
    .await;
    // The client resets: the server's read fails with a reset too.
    let (s, _) = which_server(proxy.addr, 1).await;
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
    assert_eq!(
        end_seen(&mut ends).await,
        std::io::ErrorKind::ConnectionReset
    );
    // The client closes normally: the server reads EOF.
    let (s, _) = which_server(proxy.addr, 1).await;
    drop(s);
    assert_eq!(end_seen(&mut ends).await, std::io::ErrorKind::UnexpectedEof);
    eventually("both closed", || proxy.stats().connections_active == 0).await;
}

#[tokio::test]
async fn a_server_reset_reaches_the_client_as_a_reset() {
    let resetter = writes_then_resets().await;
    let p = pool("reset-back", Algorithm::RoundRobin, &[("r", resetter)]);
    let proxy = start_tcp(build(
        &listener("reset-back", Some("reset-back"), tcp_kind()),
        &[&p],
    ))
    .await;
    let (mut s, _) = which_server(proxy.addr, 1).await;
    let mut rest = Vec::new();
    let end = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .expect("the proxy closed the client in time");
    assert_eq!(
        end.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset)
    );
}

#[tokio::test]
async fn a_reload_applies_to_new_connections_and_keeps_old_ones() {
    let (a, b) = (named_echo("a").await, named_echo("b").await);
    let pa = pool("reload-a", Algorithm::RoundRobin, &[("a", a)]);
    let pb = pool("reload-b", Algorithm::RoundRobin, &[("b", b)]);
    let proxy = start_tcp(build(
        &listener("reload", Some("reload-a"), tcp_kind()),
        &[&pa],
    ))
    .await;
    let (mut old, name) = which_server(proxy.addr, 1).await;
    assert_eq!(name, "a");
    let accepted = proxy.stats().connections_accepted;
    proxy.state.store(std::sync::Arc::new(build(
        &listener("reload", Some("reload-b"), tcp_kind()),
        &[&pb],
    )));
    let (_new, name) = which_server(proxy.addr, 1).await;
    assert_eq!(name, "b");
    old.write_all(b"o").await.unwrap();
    let mut buf = [0u8; 1];
    old.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"o", "the old connection still reaches its server");
    assert_eq!(
        proxy.stats().connections_accepted,
        accepted + 1,
        "counters survive the reload"
    );
    assert_eq!(proxy.stats().connections_active, 2);
}
