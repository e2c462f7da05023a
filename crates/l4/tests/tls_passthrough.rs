//! TLS passthrough through real sockets: rustls clients, rustls servers as backends with
//! rcgen certificates; the proxy routes on SNI and never touches the bytes.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use switchyard_balance::Algorithm;
use switchyard_config::{HostMatch, ListenerKind, ProxyProtocol, SniRoute};
use switchyard_l4::proxy_proto::{self, Header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS backend for `names` that writes its `label` then echoes.
async fn tls_backend(label: &'static str, names: &[&str]) -> (SocketAddr, CertificateDer<'static>) {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else {
                    return;
                };
                if tls.write_all(label.as_bytes()).await.is_err() {
                    return;
                }
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tls.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, cert)
}

fn connector(roots: &[CertificateDer<'static>]) -> TlsConnector {
    let mut store = rustls::RootCertStore::empty();
    for c in roots {
        store.add(c.clone()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(cfg))
}

fn tls_kind(routes: Vec<SniRoute>, send: ProxyProtocol) -> ListenerKind {
    ListenerKind::Tls {
        sni_routes: routes,
        proxy_protocol: send,
        accept_proxy_protocol: false,
        splice: true,
    }
}

fn route(sni: &str, pool: &str) -> SniRoute {
    SniRoute {
        sni: HostMatch::parse(sni).unwrap(),
        pool: pool.to_string(),
    }
}

/// Handshakes through the proxy as `name`, reads the backend's label, echoes 1 MiB.
async fn talk(proxy: SocketAddr, tls: &TlsConnector, name: ServerName<'static>) -> String {
    let tcp = TcpStream::connect(proxy).await.unwrap();
    let mut s = tokio::time::timeout(Duration::from_secs(5), tls.connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("handshake verified the backend's certificate");
    let mut label = [0u8; 4];
    s.read_exact(&mut label).await.unwrap();
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let (mut r, mut w) = tokio::io::split(s);
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.unwrap();
        data
    });
    let mut back = vec![0u8; 1 << 20];
    r.read_exact(&mut back).await.unwrap();
    assert_eq!(back, writer.await.unwrap(), "payload echoed intact");
    String::from_utf8(label.to_vec()).unwrap()
}

#[tokio::test]
async fn sni_routes_real_tls_handshakes_and_passes_bytes_untouched() {
    let (shop, shop_cert) = tls_backend("shop", &["a.shop.example.com"]).await;
    let (def, def_cert) = tls_backend("dflt", &["other.test", "127.0.0.1"]).await;
    let (exact, exact_cert) = tls_backend("xact", &["api.example.com"]).await;
    let shop_pool = pool("sni-shop", Algorithm::RoundRobin, &[("shop", shop)]);
    let def_pool = pool("sni-default", Algorithm::RoundRobin, &[("dflt", def)]);
    let exact_pool = pool("sni-exact", Algorithm::RoundRobin, &[("xact", exact)]);
    let kind = tls_kind(
        vec![
            route("api.example.com", "sni-exact"),
            route("*.shop.example.com", "sni-shop"),
        ],
        ProxyProtocol::Off,
    );
    let l = listener("sni", Some("sni-default"), kind);
    let proxy = start_tcp(build(&l, &[&shop_pool, &def_pool, &exact_pool])).await;
    let tls = connector(&[shop_cert, def_cert, exact_cert]);

    let n = |s: &str| ServerName::try_from(s.to_string()).unwrap();
    assert_eq!(
        talk(proxy.addr, &tls, n("a.shop.example.com")).await,
        "shop"
    );
    assert_eq!(talk(proxy.addr, &tls, n("api.example.com")).await, "xact");
    assert_eq!(
        talk(proxy.addr, &tls, n("other.test")).await,
        "dflt",
        "no match: default pool"
    );
    // An IP address as server name: rustls sends no SNI, so the default pool answers.
    let ip = ServerName::IpAddress("127.0.0.1".parse::<std::net::IpAddr>().unwrap().into());
    assert_eq!(
        talk(proxy.addr, &tls, ip).await,
        "dflt",
        "no SNI: default pool"
    );
    eventually("connections closed", || {
        proxy.stats().connections_active == 0
    })
    .await;
    assert_eq!(proxy.stats().connections_failed, 0);
}

/// A plain TCP server that parses a PROXY header and reports every byte after it.
async fn recorder() -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<(Header, Vec<u8>)>,
) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut all = Vec::new();
            s.read_to_end(&mut all).await.unwrap();
            let (h, used) = proxy_proto::parse(&all).unwrap().unwrap();
            tx.send((h, all[used..].to_vec())).unwrap();
        }
    });
    (addr, rx)
}

/// A ClientHello for `sni` (TLS 1.2 shaped, enough for the proxy) as one handshake message.
fn client_hello(sni: &str) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[9; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0xc0, 0x2f, 1, 0]);
    let n = sni.len() as u16;
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&(n + 5).to_be_bytes());
    ext.extend_from_slice(&(n + 3).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&n.to_be_bytes());
    ext.extend_from_slice(sni.as_bytes());
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut msg = vec![1, 0];
    msg.extend_from_slice(&(body.len() as u16).to_be_bytes());
    msg.extend_from_slice(&body);
    msg
}

#[tokio::test]
async fn a_client_hello_split_across_records_and_segments_is_forwarded_byte_for_byte() {
    let (shop, mut shop_rx) = recorder().await;
    let (def, _def_rx) = recorder().await;
    let shop_pool = pool("split-shop", Algorithm::RoundRobin, &[("shop", shop)]);
    let def_pool = pool("split-default", Algorithm::RoundRobin, &[("dflt", def)]);
    let kind = tls_kind(
        vec![route("*.shop.example.com", "split-shop")],
        ProxyProtocol::V1,
    );
    let proxy = start_tcp(build(
        &listener("split", Some("split-default"), kind),
        &[&shop_pool, &def_pool],
    ))
    .await;

    let msg = client_hello("WWW.Shop.Example.COM");
    let mut wire = Vec::new();
    for part in msg.chunks(20) {
        wire.extend_from_slice(&[0x16, 3, 1]);
        wire.extend_from_slice(&(part.len() as u16).to_be_bytes());
        wire.extend_from_slice(part);
    }
    wire.extend_from_slice(b"\x17\x03\x03\x00\x05after");
    let mut c = TcpStream::connect(proxy.addr).await.unwrap();
    c.set_nodelay(true).unwrap();
    for piece in wire.chunks(7) {
        c.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    c.shutdown().await.unwrap();
    let (h, got) = tokio::time::timeout(Duration::from_secs(5), shop_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        h,
        Header::Proxied {
            source: c.local_addr().unwrap(),
            destination: proxy.addr
        },
        "PROXY header sent on tls listeners too"
    );
    assert_eq!(got, wire, "the server saw exactly the client's bytes");
}

#[tokio::test]
async fn non_tls_and_slow_clients_are_closed() {
    let (def, _rx) = recorder().await;
    let def_pool = pool("tls-bad", Algorithm::RoundRobin, &[("dflt", def)]);
    let mut l = listener(
        "tls-bad",
        Some("tls-bad"),
        tls_kind(vec![], ProxyProtocol::Off),
    );
    l.timeouts.handshake = Duration::from_millis(300);
    let proxy = start_tcp(build(&l, &[&def_pool])).await;
    for bytes in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0x16, 3, 1, 0x50, 0],
        &[0x16, 3, 1],
    ] {
        let mut c = TcpStream::connect(proxy.addr).await.unwrap();
        c.write_all(bytes).await.unwrap();
        let mut b = [0u8; 1];
        let r = tokio::time::timeout(Duration::from_secs(5), c.read(&mut b)).await;
        assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "closed for {bytes:?}");
    }
    assert_eq!(proxy.stats().connections_failed, 3);
}

/// Connections closed before their ClientHello were each logged at INFO: an upstream
/// balancer's TCP health checks (connect, close) wrote a line every few seconds per
/// checker, and a client sending garbage a line per connection. A connection that sent
/// nothing is now logged at debug only (HAProxy's `option dontlognull`); the others at
/// most once per 5 s with the count. Every one is still counted.
#[tokio::test]
async fn checks_that_send_nothing_are_not_logged_and_garbage_is_logged_once() {
    let (logs, _guard) = switchyard_testkit::logs::capture();
    let (def, _rx) = recorder().await;
    let def_pool = pool("tls-quiet", Algorithm::RoundRobin, &[("dflt", def)]);
    let l = listener(
        "tls-quiet",
        Some("tls-quiet"),
        tls_kind(vec![], ProxyProtocol::Off),
    );
    let proxy = start_tcp(build(&l, &[&def_pool])).await;
    for _ in 0..5 {
        drop(TcpStream::connect(proxy.addr).await.unwrap());
    }
    eventually("every empty connection counted", || {
        proxy.stats().connections_failed == 5
    })
    .await;
    assert!(
        !logs.text().contains("connection closed"),
        "empty connections are not logged:\n{}",
        logs.text()
    );
    for _ in 0..5 {
        let mut c = TcpStream::connect(proxy.addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut b = [0u8; 1];
        let r = tokio::time::timeout(Duration::from_secs(5), c.read(&mut b)).await;
        assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "closed");
    }
    eventually("every garbage connection counted", || {
        proxy.stats().connections_failed == 10
    })
    .await;
    let text = logs.text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("connection closed"))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one line for 5 garbage connections:\n{text}"
    );
    assert!(
        lines[0].contains("connection closed: invalid TLS ClientHello: not a TLS handshake"),
        "{text}"
    );
}

/// A server name with an empty label is not a DNS name: `a..shop.example.com` was routed
/// by the `*.shop.example.com` route and `.` was taken as an empty name (hashed as such
/// with `hash_key = "host"`). Such a ClientHello is malformed and closed, like one whose
/// name holds a space; one trailing dot is still accepted.
#[tokio::test]
async fn server_names_with_empty_labels_are_malformed() {
    let (shop, mut shop_rx) = recorder().await;
    let (def, mut def_rx) = recorder().await;
    let shop_pool = pool("empty-label-shop", Algorithm::RoundRobin, &[("shop", shop)]);
    let def_pool = pool("empty-label-dflt", Algorithm::RoundRobin, &[("dflt", def)]);
    let kind = tls_kind(
        vec![route("*.shop.example.com", "empty-label-shop")],
        ProxyProtocol::V1,
    );
    let proxy = start_tcp(build(
        &listener("empty-label", Some("empty-label-dflt"), kind),
        &[&shop_pool, &def_pool],
    ))
    .await;
    let send = |sni: &'static str| async move {
        let mut wire = vec![0x16, 3, 1];
        let msg = client_hello(sni);
        wire.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        wire.extend_from_slice(&msg);
        let mut c = TcpStream::connect(proxy.addr).await.unwrap();
        c.write_all(&wire).await.unwrap();
        c.shutdown().await.unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut rest)).await;
    };
    for bad in [
        "a..shop.example.com",
        ".shop.example.com",
        ".",
        "..",
        "shop.example.com..",
    ] {
        send(bad).await;
    }
    assert_eq!(proxy.stats().connections_failed, 5, "every one refused");
    // One trailing dot is tolerated and routed as the name without it.
    send("www.shop.example.com.").await;
    tokio::time::timeout(Duration::from_secs(5), shop_rx.recv())
        .await
        .expect("routed by the wildcard")
        .unwrap();
    assert!(shop_rx.try_recv().is_err() && def_rx.try_recv().is_err());
    assert_eq!(proxy.stats().connections_failed, 5);
}
