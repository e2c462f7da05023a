//! The access log of L4 listeners through real sockets: one line per TCP/TLS connection
//! when it closes and one per UDP flow when it expires, written to a file by the
//! process's access logger (the one HTTP listeners share).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::Value;
use switchyard_balance::Algorithm;
use switchyard_config::{AccessLog, ListenerKind, LogFormat, LogTarget, ProxyProtocol};
use switchyard_l4::access_log::AccessLogger;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

async fn file_log(path: &Path, format: LogFormat) -> AccessLogger {
    AccessLogger::start(&AccessLog {
        target: LogTarget::File(path.to_path_buf()),
        format,
    })
    .await
    .expect("log file opens")
}

/// The file's lines once it has at least `n` (waits up to 5 s).
async fn lines(path: &Path, n: usize) -> Vec<String> {
    for _ in 0..500 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let got: Vec<String> = text.lines().map(str::to_string).collect();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the access log never had {n} lines");
}

/// The JSON line whose `field` is `value`.
fn find(lines: &[String], field: &str, value: &str) -> Value {
    lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("each line is JSON"))
        .find(|v| v[field] == value)
        .unwrap_or_else(|| panic!("no line with {field} = {value} in {lines:?}"))
}

/// Talks to the `alpha` echo server through `proxy`: reads its name, echoes `hello`.
async fn talk(proxy: SocketAddr) -> SocketAddr {
    let (mut s, name) = which_server(proxy, 5).await;
    assert_eq!(name, "alpha");
    s.write_all(b"hello").await.unwrap();
    s.shutdown().await.unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, b"hello");
    s.local_addr().unwrap()
}

#[tokio::test]
async fn tcp_connections_are_logged_when_they_close_with_how_they_ended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let log = file_log(&path, LogFormat::Json).await;
    let alpha = named_echo("alpha").await;
    let up = pool("log-up", Algorithm::RoundRobin, &[("a", alpha)]);
    let down = pool("log-down", Algorithm::RoundRobin, &[("d", alpha)]);
    down.set_health("d", false, switchyard_balance::clock::now())
        .unwrap();
    let ok = listener("log-tcp", Some("log-up"), tcp_kind());
    let ok = start_tcp(build(&ok, &[&up]).with_access_log(log.clone())).await;
    let none = listener("log-none", Some("log-down"), tcp_kind());
    let none = start_tcp(build(&none, &[&down]).with_access_log(log.clone())).await;
    let mut full = listener("log-full", Some("log-up"), tcp_kind());
    full.max_connections = Some(0);
    let full = start_tcp(build(&full, &[&up]).with_access_log(log.clone())).await;
    let proxied = listener(
        "log-proxied",
        Some("log-up"),
        ListenerKind::Tcp {
            proxy_protocol: ProxyProtocol::Off,
            accept_proxy_protocol: true,
            splice: true,
        },
    );
    let proxied = start_tcp(build(&proxied, &[&up]).with_access_log(log.clone())).await;

    let client = talk(ok.addr).await;
    for addr in [none.addr, full.addr] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
        assert!(buf.is_empty(), "no server answered");
    }
    let mut s = TcpStream::connect(proxied.addr).await.unwrap();
    s.write_all(b"PROXY TCP4 192.0.2.7 127.0.0.1 5000 80\r\n")
        .await
        .unwrap();
    let mut name = [0u8; 5];
    s.read_exact(&mut name).await.unwrap();
    drop(s);

    let got = lines(&path, 4).await;
    let v = find(&got, "listener", "log-tcp");
    assert_eq!(v["protocol"], "tcp");
    assert_eq!(v["client"], client.to_string());
    assert_eq!(v["pool"], "log-up");
    assert_eq!(v["server"], "a");
    assert_eq!(v["server_address"], alpha.to_string());
    assert_eq!(v["sni"], Value::Null);
    assert_eq!(v["bytes_in"], 5);
    assert_eq!(v["bytes_out"], 10, "alpha + hello");
    assert_eq!(v["ended"], "done");
    assert!(v["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(v["time"].as_f64().unwrap() > 1.7e9);

    let v = find(&got, "listener", "log-none");
    assert_eq!(v["ended"], "no server up");
    assert_eq!(v["pool"], "log-down");
    assert_eq!(v["server"], Value::Null);
    assert_eq!(v["server_address"], Value::Null);
    assert_eq!(v["bytes_out"], 0);

    let v = find(&got, "listener", "log-full");
    assert_eq!(v["ended"], "refused: max_connections");
    assert_eq!(v["server"], Value::Null);

    // The real client the PROXY header named; the client closed first (a reset or done).
    let got = lines(&path, 4).await;
    let v = find(&got, "listener", "log-proxied");
    assert_eq!(v["client"], "192.0.2.7:5000");
    assert_eq!(v["server"], "a");
}

#[tokio::test]
async fn a_failed_connect_names_the_server_tried_and_a_bad_proxy_header_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let log = file_log(&path, LogFormat::Json).await;
    let dead = dead_addr().await;
    let p = pool("log-dead", Algorithm::RoundRobin, &[("x", dead)]);
    let l = listener("log-dead", Some("log-dead"), tcp_kind());
    let proxy = start_tcp(build(&l, &[&p]).with_access_log(log.clone())).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;

    let l = listener(
        "log-badproxy",
        Some("log-dead"),
        ListenerKind::Tcp {
            proxy_protocol: ProxyProtocol::Off,
            accept_proxy_protocol: true,
            splice: true,
        },
    );
    let bad = start_tcp(build(&l, &[&p]).with_access_log(log.clone())).await;
    let mut s = TcpStream::connect(bad.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;

    let got = lines(&path, 2).await;
    let v = find(&got, "listener", "log-dead");
    assert_eq!(v["ended"], "connect failed");
    assert_eq!(v["server"], "x");
    assert_eq!(v["server_address"], dead.to_string());
    let v = find(&got, "listener", "log-badproxy");
    assert_eq!(v["ended"], "bad PROXY header");
    assert_eq!(v["pool"], Value::Null);
}

#[tokio::test]
async fn the_combined_format_is_one_tcplog_like_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let log = file_log(&path, LogFormat::Combined).await;
    let alpha = named_echo("alpha").await;
    let up = pool("log-comb", Algorithm::RoundRobin, &[("a", alpha)]);
    let l = listener("log-comb", Some("log-comb"), tcp_kind());
    let proxy = start_tcp(build(&l, &[&up]).with_access_log(log)).await;
    let client = talk(proxy.addr).await;
    let got = lines(&path, 1).await;
    let line = &got[0];
    assert!(line.starts_with(&format!("{client} [")), "{line}");
    let after = line.split_once("] ").expect("time in brackets").1;
    let expected = format!("log-comb tcp log-comb/a {alpha} - 5 10 - ");
    assert!(after.starts_with(&expected), "{line}");
    assert!(line.ends_with(" \"done\""), "{line}");
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS backend for `name` that writes `ok` once the handshake is done, then closes.
async fn tls_backend(name: &str) -> (SocketAddr, CertificateDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let cert = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(s).await {
                    let _ = tls.write_all(b"ok").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (addr, cert)
}

#[tokio::test]
async fn a_tls_passthrough_connection_is_logged_with_its_sni() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let log = file_log(&path, LogFormat::Json).await;
    let (backend, cert) = tls_backend("db.example.com").await;
    let p = pool("log-tls", Algorithm::RoundRobin, &[("t", backend)]);
    let kind = ListenerKind::Tls {
        sni_routes: Vec::new(),
        proxy_protocol: ProxyProtocol::Off,
        accept_proxy_protocol: false,
        splice: true,
    };
    let l = listener("log-tls", Some("log-tls"), kind);
    let proxy = start_tcp(build(&l, &[&p]).with_access_log(log)).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let client = tcp.local_addr().unwrap();
    let name = ServerName::try_from("db.example.com").unwrap();
    let mut tls = tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("handshake through the proxy");
    let mut got = Vec::new();
    let _ = tls.read_to_end(&mut got).await;
    assert_eq!(got, b"ok");
    let _ = tls.shutdown().await;
    drop(tls);

    let got = lines(&path, 1).await;
    let v = find(&got, "listener", "log-tls");
    assert_eq!(v["protocol"], "tls");
    assert_eq!(v["sni"], "db.example.com");
    assert_eq!(v["client"], client.to_string());
    assert_eq!(v["server"], "t");
    assert_eq!(v["server_address"], backend.to_string());
    assert!(
        v["bytes_in"].as_u64().unwrap() > 100,
        "the ClientHello at least"
    );
    assert!(
        v["bytes_out"].as_u64().unwrap() > 100,
        "the server's handshake"
    );
}

#[tokio::test]
async fn a_udp_flow_is_logged_when_it_expires_with_datagrams_each_way() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let log = file_log(&path, LogFormat::Json).await;
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server_addr = server.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, from)) = server.recv_from(&mut buf).await {
            let mut reply = b"re:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = server.send_to(&reply, from).await;
        }
    });
    let p = pool("log-udp", Algorithm::RoundRobin, &[("u", server_addr)]);
    let mut l = listener(
        "log-udp",
        Some("log-udp"),
        ListenerKind::Udp { max_flows: 16 },
    );
    l.timeouts.idle = Duration::from_millis(300);
    let proxy = start_udp(build(&l, &[&p]).with_access_log(log)).await;
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 64];
    for msg in [&b"one"[..], b"two", b"three"] {
        c.send_to(msg, proxy.addr).await.unwrap();
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), c.recv_from(&mut buf))
            .await
            .expect("reply in time")
            .unwrap();
        assert_eq!(&buf[..3], b"re:");
        assert_eq!(n, msg.len() + 3);
    }
    assert!(
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .is_empty(),
        "a live flow is not logged yet"
    );

    let got = lines(&path, 1).await;
    let v = find(&got, "listener", "log-udp");
    assert_eq!(v["protocol"], "udp");
    assert_eq!(v["client"], c.local_addr().unwrap().to_string());
    assert_eq!(v["pool"], "log-udp");
    assert_eq!(v["server"], "u");
    assert_eq!(v["server_address"], server_addr.to_string());
    assert_eq!(v["ended"], "idle timeout");
    assert_eq!(v["datagrams_in"], 3);
    assert_eq!(v["datagrams_out"], 3);
    assert_eq!(v["bytes_in"], 11);
    assert_eq!(v["bytes_out"], 20);
    assert!(v["duration_ms"].as_f64().unwrap() >= 300.0, "{v}");
}
