//! The gRPC health probe against a real tonic `grpc.health.v1` server.

use std::sync::Arc;
use std::time::Duration;

use switchyard_runtime::probe::{GrpcProbe, Probe};
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::ServingStatus;

fn probe(service: &str) -> Probe {
    Probe::Grpc(Arc::new(GrpcProbe {
        service: service.into(),
        tls: None,
        preamble: switchyard_runtime::probe::proxy_preamble(switchyard_config::ProxyProtocol::Off),
    }))
}

#[tokio::test]
async fn the_grpc_probe_follows_a_tonic_health_server() {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    reporter
        .set_service_status("app.Orders", ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let timeout = Duration::from_secs(2);

    let whole = probe("").check(addr, timeout).await;
    assert!(whole.ok, "{}", whole.detail);
    assert_eq!(whole.detail, "SERVING");
    assert!(probe("app.Orders").check(addr, timeout).await.ok);

    reporter
        .set_service_status("app.Orders", ServingStatus::NotServing)
        .await;
    let down = probe("app.Orders").check(addr, timeout).await;
    assert!(!down.ok);
    assert_eq!(down.detail, "NOT_SERVING");

    // A service the server does not know is answered with gRPC status NOT_FOUND (5).
    let unknown = probe("app.Missing").check(addr, timeout).await;
    assert!(!unknown.ok);
    assert_eq!(
        unknown.detail,
        "grpc-status 5 NOT_FOUND: the server has no health status for service \"app.Missing\""
    );
}

#[tokio::test]
async fn the_grpc_probe_fails_against_a_plain_http1_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let result = probe("").check(addr, Duration::from_secs(2)).await;
    assert!(!result.ok, "{}", result.detail);
    // The operator is told why: the server answered, but not over HTTP/2.
    assert!(
        result.detail.starts_with("no gRPC answer (")
            && result
                .detail
                .ends_with("is this a gRPC server (it must speak HTTP/2)?"),
        "{}",
        result.detail
    );
}

#[tokio::test]
async fn a_server_without_the_health_service_is_named_as_such() {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                // A trailers-only answer, as a gRPC server gives for a method it lacks.
                let service = service_fn(|_req: hyper::Request<hyper::body::Incoming>| async {
                    hyper::Response::builder()
                        .header("content-type", "application/grpc")
                        .header("grpc-status", "12")
                        .body(http_body_util::Empty::<bytes::Bytes>::new())
                });
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(s), service)
                        .await;
            });
        }
    });
    let result = probe("").check(addr, Duration::from_secs(2)).await;
    assert!(!result.ok);
    assert_eq!(
        result.detail,
        "grpc-status 12 UNIMPLEMENTED: the server does not offer grpc.health.v1.Health"
    );
}
