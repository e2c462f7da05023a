//! Active health probes: the I/O half of health checking.
//!
//! A probe connects to one server and answers with a [`ProbeResult`] in operators' words
//! (`connection refused`, `status 503`, `timeout after 1s`). The decision of what a
//! result means (rise, fall, first check) belongs to the pure `switchyard-health` crate;
//! this module only talks to the network, always under the check's timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use switchyard_health::{decode_health_body, encode_frame, encode_health_request, ProbeResult};
use switchyard_health::{format_duration, StatusRanges};
use tokio::net::TcpStream;

/// The most of a health-check body we read when looking for `expect_body`.
const MAX_BODY: usize = 64 * 1024;

/// What to check, built once per pool configuration. Each carries the bytes sent first
/// on every check connection: a PROXY header when the pool's servers require one
/// (`Health::proxy_header`), else none.
#[derive(Clone)]
pub enum Probe {
    /// Connect (send the preamble) and close.
    Tcp(Preamble),
    /// One HTTP/1.1 request, judged by its status and optionally its body.
    Http(Arc<HttpProbe>),
    /// `grpc.health.v1.Health/Check` over HTTP/2, SERVING passes.
    Grpc(Arc<GrpcProbe>),
}

/// An HTTP check.
pub struct HttpProbe {
    pub method: http::Method,
    pub path: String,
    /// The `Host` header; the server's address when `None`.
    pub host: Option<String>,
    pub expect_status: StatusRanges,
    pub expect_body: Option<String>,
    /// Speak TLS to the server (certificates are not verified: a check asks "alive?").
    pub tls: Option<tokio_rustls::TlsConnector>,
    pub preamble: Preamble,
}

/// A gRPC health check.
pub struct GrpcProbe {
    /// The service name asked about; empty means the whole server.
    pub service: String,
    pub tls: Option<tokio_rustls::TlsConnector>,
    pub preamble: Preamble,
}

/// Bytes a check sends before anything else (empty: none).
pub type Preamble = Arc<[u8]>;

/// The PROXY header a check sends to servers that require one: it says "no proxied
/// client" (v1 `UNKNOWN`, v2 `LOCAL`), as HAProxy's `check-send-proxy` does.
pub fn proxy_preamble(version: switchyard_config::ProxyProtocol) -> Preamble {
    use switchyard_config::ProxyProtocol;
    match version {
        ProxyProtocol::Off => Arc::from(&[][..]),
        ProxyProtocol::V1 => Arc::from(&b"PROXY UNKNOWN\r\n"[..]),
        ProxyProtocol::V2 => {
            let mut h = switchyard_l4::proxy_proto::V2_SIGNATURE.to_vec();
            // Version 2, command LOCAL; family UNSPEC; no address bytes.
            h.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
            Arc::from(h)
        }
    }
}

/// Either a plain or a TLS stream to the server.
enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

// === impl Probe ===

impl Probe {
    /// The probe a pool's `[pool.health]` asks for (`none` has no probe: callers skip it).
    pub fn from_config(health: &switchyard_config::Health) -> Probe {
        use switchyard_config::CheckKind;
        let preamble = proxy_preamble(health.proxy_header);
        match health.check {
            CheckKind::Tcp | CheckKind::None => Probe::Tcp(preamble),
            CheckKind::Http => Probe::Http(Arc::new(HttpProbe {
                method: http::Method::from_bytes(health.method.as_bytes())
                    .unwrap_or(http::Method::GET),
                path: health.path.clone(),
                host: health.host.clone(),
                expect_status: health.expect_status.clone(),
                expect_body: health.expect_body.clone(),
                tls: health.tls.then(|| insecure_tls(&[b"http/1.1"])),
                preamble,
            })),
            CheckKind::Grpc => Probe::Grpc(Arc::new(GrpcProbe {
                service: health.service.clone(),
                tls: health.tls.then(|| insecure_tls(&[b"h2"])),
                preamble,
            })),
        }
    }

    /// Runs the probe against `addr`, never longer than `timeout`.
    pub async fn check(&self, addr: SocketAddr, timeout: Duration) -> ProbeResult {
        let start = Instant::now();
        let outcome = tokio::time::timeout(timeout, self.run(addr)).await;
        let latency = start.elapsed();
        match outcome {
            Err(_) => ProbeResult::failure(
                latency,
                format!("timeout after {}", format_duration(timeout)),
            ),
            Ok(Ok(detail)) => ProbeResult::success(latency, detail),
            Ok(Err(detail)) => ProbeResult::failure(latency, detail),
        }
    }

    async fn run(&self, addr: SocketAddr) -> Result<String, String> {
        match self {
            Probe::Tcp(preamble) => connect(addr, preamble)
                .await
                .map(|_| "connected".to_string()),
            Probe::Http(http) => http.run(addr).await,
            Probe::Grpc(grpc) => grpc.run(addr).await,
        }
    }
}

/// A client TLS configuration for checks: any certificate is accepted, since a health
/// check only asks whether the server answers, and servers are often addressed by IP.
pub fn insecure_tls(alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn connect(addr: SocketAddr, preamble: &[u8]) -> Result<TcpStream, String> {
    use tokio::io::AsyncWriteExt;
    let mut stream = TcpStream::connect(addr).await.map_err(|e| io_words(&e))?;
    let _ = stream.set_nodelay(true);
    if !preamble.is_empty() {
        stream
            .write_all(preamble)
            .await
            .map_err(|e| format!("sending the PROXY header failed: {}", io_words(&e)))?;
    }
    Ok(stream)
}

async fn open(
    addr: SocketAddr,
    tls: Option<&tokio_rustls::TlsConnector>,
    preamble: &[u8],
) -> Result<Conn, String> {
    let tcp = connect(addr, preamble).await?;
    let Some(connector) = tls else {
        return Ok(Conn::Plain(tcp));
    };
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    Ok(Conn::Tls(Box::new(stream)))
}

/// An I/O error as an operator reads it.
fn io_words(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset".into(),
        TimedOut => "connect timed out".into(),
        _ => e.to_string(),
    }
}

fn request_error(e: hyper::Error) -> String {
    if e.is_incomplete_message() {
        "connection closed before the answer".into()
    } else {
        format!("request failed: {e}")
    }
}

// === impl HttpProbe ===

impl HttpProbe {
    async fn run(&self, addr: SocketAddr) -> Result<String, String> {
        let conn = open(addr, self.tls.as_ref(), &self.preamble).await?;
        let host = self.host.clone().unwrap_or_else(|| addr.to_string());
        let request = http::Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .header(http::header::HOST, host)
            .header(
                http::header::USER_AGENT,
                concat!("switchyard-health/", env!("CARGO_PKG_VERSION")),
            )
            .header(http::header::CONNECTION, "close")
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("invalid health request: {e}"))?;
        let response = match conn {
            Conn::Plain(s) => send_http1(TokioIo::new(s), request).await?,
            Conn::Tls(s) => send_http1(TokioIo::new(*s), request).await?,
        };
        let status = response.status().as_u16();
        if !self.expect_status.matches(status) {
            return Err(format!("status {status}"));
        }
        if let Some(needle) = &self.expect_body {
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("reading the body failed: {e}"))?
                .to_bytes();
            if !contains(&body, needle.as_bytes()) {
                return Err(format!(
                    "status {status} but the body does not contain {needle:?}"
                ));
            }
        }
        Ok(format!("status {status}"))
    }
}

async fn send_http1<S>(
    io: TokioIo<S>,
    request: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(request_error)?;
    tokio::spawn(connection);
    sender.send_request(request).await.map_err(request_error)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

// === impl GrpcProbe ===

impl GrpcProbe {
    async fn run(&self, addr: SocketAddr) -> Result<String, String> {
        let conn = open(addr, self.tls.as_ref(), &self.preamble).await?;
        let body = Bytes::from(encode_frame(&encode_health_request(&self.service)));
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri(format!("{scheme}://{addr}/grpc.health.v1.Health/Check"))
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers")
            .body(Full::new(body))
            .map_err(|e| format!("invalid gRPC request: {e}"))?;
        let response = match conn {
            Conn::Plain(s) => send_h2(TokioIo::new(s), request).await,
            Conn::Tls(s) => send_h2(TokioIo::new(*s), request).await,
        }
        // Connected, but no HTTP/2 answer: most often a server that speaks HTTP/1 only.
        .map_err(|e| {
            format!("no gRPC answer ({e}); is this a gRPC server (it must speak HTTP/2)?")
        })?;
        if response.status() != http::StatusCode::OK {
            return Err(format!("HTTP status {}", response.status().as_u16()));
        }
        let head_status = grpc_status(response.headers());
        let collected = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("reading the gRPC answer failed: {e}"))?;
        let trailer_status = collected.trailers().and_then(grpc_status);
        match trailer_status.or(head_status) {
            Some(0) => {}
            Some(code) => return Err(grpc_status_detail(code, &self.service)),
            None => return Err("no grpc-status in the answer".into()),
        }
        let status = decode_health_body(&collected.to_bytes()).map_err(|e| e.to_string())?;
        use switchyard_health::ServingStatus::*;
        match status {
            Serving => Ok("SERVING".into()),
            Unknown => Err("UNKNOWN".into()),
            NotServing => Err("NOT_SERVING".into()),
            ServiceUnknown => Err("SERVICE_UNKNOWN".into()),
            Other(code) => Err(format!("serving status {code}")),
        }
    }
}

/// A failed call's `grpc-status` with its name, and what it means for a health check
/// where that is known: `grpc-status 12 UNIMPLEMENTED: the server does not offer
/// grpc.health.v1.Health`.
fn grpc_status_detail(code: u32, service: &str) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    let mut detail = format!("grpc-status {code}");
    if let Some(name) = NAMES.get(code as usize) {
        detail = format!("{detail} {name}");
    }
    match code {
        5 => format!("{detail}: the server has no health status for service {service:?}"),
        12 => format!("{detail}: the server does not offer grpc.health.v1.Health"),
        _ => detail,
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<u32> {
    headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

async fn send_h2<S>(
    io: TokioIo<S>,
    request: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .map_err(request_error)?;
    tokio::spawn(connection);
    sender.send_request(request).await.map_err(request_error)
}

// === impl AcceptAny ===

/// A certificate verifier that accepts every certificate but still checks signatures
/// with the provider's algorithms, for health checks only.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn http_server(answer: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(answer.as_bytes()).await;
                });
            }
        });
        addr
    }

    fn http_probe(expect_body: Option<&str>) -> Probe {
        Probe::Http(Arc::new(HttpProbe {
            method: http::Method::GET,
            path: "/health".into(),
            host: None,
            expect_status: "200-399".parse().unwrap(),
            expect_body: expect_body.map(str::to_string),
            tls: None,
            preamble: proxy_preamble(switchyard_config::ProxyProtocol::Off),
        }))
    }

    #[tokio::test]
    async fn tcp_probe_reports_connection_refused() {
        // Bound but not listening: refused, and no other test can take the port meanwhile.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        let result = Probe::Tcp(proxy_preamble(switchyard_config::ProxyProtocol::Off))
            .check(addr, Duration::from_secs(1))
            .await;
        assert!(!result.ok);
        assert_eq!(result.detail, "connection refused");
    }

    #[tokio::test]
    async fn http_probe_judges_status_and_body() {
        let ok = http_server("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
        let bad =
            http_server("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").await;
        let timeout = Duration::from_secs(2);
        assert!(http_probe(Some("ok")).check(ok, timeout).await.ok);
        let wrong_body = http_probe(Some("ready")).check(ok, timeout).await;
        assert!(!wrong_body.ok);
        assert!(
            wrong_body.detail.contains("does not contain"),
            "{}",
            wrong_body.detail
        );
        let failed = http_probe(None).check(bad, timeout).await;
        assert!(!failed.ok);
        assert_eq!(failed.detail, "status 503");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _keep = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let result = http_probe(None)
            .check(addr, Duration::from_millis(200))
            .await;
        assert!(!result.ok);
        assert_eq!(result.detail, "timeout after 200ms");
    }
}
