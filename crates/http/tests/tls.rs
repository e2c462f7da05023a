//! TLS termination: SNI picks the certificate, ALPN picks the protocol, versions are
//! bounded, and backends can be re-encrypted and verified.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use rustls::pki_types::{CertificateDer, ServerName};
use switchyard_config as config;
use switchyard_testkit::{backends, certs, Issued, KeyAlg, TestCa};

fn cert_key(i: &Issued) -> config::CertKey {
    config::CertKey {
        cert_path: PathBuf::from("test.pem"),
        key_path: PathBuf::from("test.key"),
        chain: vec![i.cert.clone()],
        key: i.key_der(),
    }
}

fn https(
    pool: &str,
    certs: &[&Issued],
    min: config::TlsVersion,
    backend: Option<config::BackendTls>,
) -> config::Listener {
    let mut l = listener(Some(pool), vec![]);
    l.kind = config::ListenerKind::Https {
        routes: vec![],
        tls: config::TlsTerm {
            certificates: certs.iter().map(|c| cert_key(c)).collect(),
            alpn: config::TlsTerm::default_alpn(),
            min_version: min,
            backend_tls: backend,
        },
    };
    l
}

/// Handshake with `sni` and return the certificate the server presented.
async fn presented(
    addr: SocketAddr,
    ca: &TestCa,
    sni: ServerName<'static>,
) -> CertificateDer<'static> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(ca.client_config(&[b"http/1.1"])));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector.connect(sni, tcp).await.expect("handshake");
    tls.get_ref().1.peer_certificates().unwrap()[0].clone()
}

#[tokio::test]
async fn sni_chooses_exact_then_wildcard_else_the_first_certificate() {
    let ca = TestCa::new();
    let default = ca.issue(&["default.test", "127.0.0.1"], KeyAlg::Ecdsa);
    let a = ca.issue(&["a.test"], KeyAlg::Rsa);
    let wild = ca.issue(&["*.b.test"], KeyAlg::Ecdsa);
    let exact_b = ca.issue(&["x.b.test"], KeyAlg::Ecdsa);
    let be = backends::named("app").await;
    let h = start(
        https(
            "app",
            &[&default, &a, &wild, &exact_b],
            config::TlsVersion::Tls12,
            None,
        ),
        vec![pool("app", "round_robin", &[("a", be.addr)])],
    )
    .await;
    let name = |s: &str| ServerName::try_from(s.to_string()).unwrap();
    assert_eq!(presented(h.addr, &ca, name("a.test")).await, a.cert);
    assert_eq!(presented(h.addr, &ca, name("A.TEST")).await, a.cert);
    assert_eq!(presented(h.addr, &ca, name("foo.b.test")).await, wild.cert);
    assert_eq!(presented(h.addr, &ca, name("x.b.test")).await, exact_b.cert);
    assert_eq!(
        presented(h.addr, &ca, name("default.test")).await,
        default.cert
    );
    let no_sni = ServerName::IpAddress(h.addr.ip().into());
    assert_eq!(presented(h.addr, &ca, no_sni).await, default.cert);
    h.stop().await;
}

fn tls_client(ca: &TestCa, alpn: &[&[u8]], addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .use_preconfigured_tls(ca.client_config(alpn))
        .resolve("a.test", addr)
        .build()
        .unwrap()
}

#[tokio::test]
async fn https_speaks_h2_and_http1_by_alpn_and_says_https_upstream() {
    let ca = TestCa::new();
    let leaf = ca.issue(&["a.test"], KeyAlg::Ecdsa);
    let be = backends::echo().await;
    let h = start(
        https("app", &[&leaf], config::TlsVersion::Tls12, None),
        vec![pool("app", "round_robin", &[("a", be.addr)])],
    )
    .await;
    let url = format!("https://a.test:{}/x", h.addr.port());
    let res = tls_client(&ca, &[b"h2", b"http/1.1"], h.addr)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.status(), 200);
    let res = tls_client(&ca, &[b"http/1.1"], h.addr)
        .post(&url)
        .body("b")
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_11);
    assert_eq!(res.text().await.unwrap(), "b");
    let seen = be.seen();
    assert!(seen
        .iter()
        .all(|s| s.headers["x-forwarded-proto"] == "https"));
    assert!(seen[0].headers["forwarded"]
        .to_str()
        .unwrap()
        .contains("proto=https"));
    h.stop().await;
}

#[tokio::test]
async fn min_version_13_refuses_tls12_clients() {
    let ca = TestCa::new();
    let leaf = ca.issue(&["a.test"], KeyAlg::Ecdsa);
    let be = backends::named("app").await;
    let h = start(
        https("app", &[&leaf], config::TlsVersion::Tls13, None),
        vec![pool("app", "round_robin", &[("a", be.addr)])],
    )
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(certs::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    assert!(connector
        .connect(ServerName::try_from("a.test").unwrap(), tcp)
        .await
        .is_err());
    assert_eq!(
        presented(h.addr, &ca, ServerName::try_from("a.test").unwrap()).await,
        leaf.cert
    );
    h.stop().await;
}

#[tokio::test]
async fn backends_are_re_encrypted_and_verified_against_the_ca() {
    let ca = TestCa::new();
    let front = ca.issue(&["a.test"], KeyAlg::Ecdsa);
    let backend_ca = TestCa::new();
    let back = backend_ca.issue(&["backend.internal", "127.0.0.1"], KeyAlg::Rsa);
    let be = backends::echo_tls(back.server_config(&[b"http/1.1"])).await;
    let verified = config::BackendTls {
        ca_path: "ca.pem".into(),
        roots: vec![backend_ca.cert_der()],
        server_name: Some("backend.internal".into()),
    };
    let h = start(
        https("app", &[&front], config::TlsVersion::Tls12, Some(verified)),
        vec![pool("app", "round_robin", &[("a", be.addr)])],
    )
    .await;
    let url = format!("https://a.test:{}/x", h.addr.port());
    let c = tls_client(&ca, &[b"http/1.1"], h.addr);
    let res = c.post(&url).body("secret").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "secret");
    h.stop().await;

    // By IP (no server_name): the backend's certificate lists 127.0.0.1.
    let by_ip = config::BackendTls {
        ca_path: "ca.pem".into(),
        roots: vec![backend_ca.cert_der()],
        server_name: None,
    };
    let h = start(
        https("app", &[&front], config::TlsVersion::Tls12, Some(by_ip)),
        vec![pool("app", "round_robin", &[("a", be.addr)])],
    )
    .await;
    assert_eq!(
        c.get(format!("https://a.test:{}/", h.addr.port()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    h.stop().await;

    // A backend the CA did not sign is refused: 502, not a silent plaintext fallback.
    let wrong = config::BackendTls {
        ca_path: "other.pem".into(),
        roots: vec![ca.cert_der()],
        server_name: Some("backend.internal".into()),
    };
    let h = start(
        https("app", &[&front], config::TlsVersion::Tls12, Some(wrong)),
        vec![pool("app", "round_robin", &[("a", be.addr)])],
    )
    .await;
    assert_eq!(
        c.get(format!("https://a.test:{}/", h.addr.port()))
            .send()
            .await
            .unwrap()
            .status(),
        502
    );
    h.stop().await;
}

#[tokio::test]
async fn the_first_connection_after_a_reload_gets_the_new_certificate() {
    let ca = TestCa::new();
    let old = ca.issue(&["a.test"], KeyAlg::Ecdsa);
    let new = ca.issue(&["a.test"], KeyAlg::Ecdsa);
    let be = backends::named("app").await;
    let pools = vec![pool("app", "round_robin", &[("a", be.addr)])];
    let h = start(
        https("app", &[&old], config::TlsVersion::Tls12, None),
        pools,
    )
    .await;
    let name = ServerName::try_from("a.test".to_string()).unwrap();
    assert_eq!(presented(h.addr, &ca, name.clone()).await, old.cert);
    // The accept loop now waits for the next client; a reload (a renewed certificate)
    // swaps the listener's state meanwhile.
    let renewed = https("app", &[&new], config::TlsVersion::Tls12, None);
    let mut config = h.config.clone();
    config.listeners = vec![renewed.clone()];
    let state = switchyard_http::State::build(&renewed, &config, &h.pools, &h.shared).unwrap();
    h.state.store(Arc::new(state));
    assert_eq!(
        presented(h.addr, &ca, name).await,
        new.cert,
        "the first handshake after the reload presents the renewed certificate"
    );
    h.stop().await;
}
