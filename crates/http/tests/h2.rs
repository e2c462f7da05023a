//! HTTP/2: h2c prior knowledge from clients, HTTP/2 to servers, trailers end to end.

mod common;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use switchyard_config as config;
use switchyard_testkit::backends;

#[tokio::test]
async fn h2c_clients_reach_http1_servers() {
    let (be, h) = echo_behind_proxy().await;
    let c = h2c_client();
    let res = c.post(h.url("/h2")).body("over h2").send().await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.text().await.unwrap(), "over h2");
    let seen = &be.seen()[0];
    assert_eq!(seen.version, http::Version::HTTP_11);
    assert_eq!(seen.headers["host"], h.addr.to_string());
    h.stop().await;
}

#[tokio::test]
async fn an_h2_host_field_naming_another_host_than_the_authority_is_refused() {
    let (be, h) = echo_behind_proxy().await;
    let c = h2c_client();
    // Routing reads :authority; a server behind would read Host. They must agree.
    let res = c
        .get(h.url("/x"))
        .header("host", "admin.internal")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(be.seen().is_empty(), "nothing reached the server");
    // The same host in both (any letter case) passes.
    let same = h.addr.to_string().to_uppercase();
    let res = c
        .get(h.url("/y"))
        .header("host", same)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(be.seen().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn trailers_from_an_h2_server_reach_an_h2_client() {
    let be = backends::trailers().await;
    let mut p = pool("grpc", "round_robin", &[("a", be.addr)]);
    p.backend_protocol = config::BackendProtocol::Http2;
    let h = start(listener(Some("grpc"), vec![]), vec![p]).await;

    let tcp = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::post(format!("http://{}/pkg.Service/Method", h.addr))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let res = send.send_request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/grpc");
    let collected = res.into_body().collect().await.unwrap();
    let trailers = collected
        .trailers()
        .cloned()
        .expect("trailers passed through");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "ok");
    assert_eq!(collected.to_bytes(), "hello");
    let seen = &be.seen()[0];
    assert_eq!(seen.version, http::Version::HTTP_2);
    assert_eq!(seen.headers["te"], "trailers");
    h.stop().await;
}

#[tokio::test]
async fn http2_backends_multiplex_many_requests_on_one_connection() {
    let be = backends::echo().await;
    let mut p = pool("app", "round_robin", &[("a", be.addr)]);
    p.backend_protocol = config::BackendProtocol::Http2;
    let h = start(listener(Some("app"), vec![]), vec![p]).await;
    let c = client();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (c, url) = (c.clone(), h.url(&format!("/{i}")));
        tasks.push(tokio::spawn(async move {
            c.get(url).send().await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(be.connections(), 1);
    assert!(be.seen().iter().all(|s| s.version == http::Version::HTTP_2));
    h.stop().await;
}

#[tokio::test]
async fn cookies_split_over_h2_fields_reach_an_http1_server_as_one_line() {
    // Browsers send each cookie in its own HTTP/2 field; many HTTP/1.1 servers read only
    // the first `Cookie` line, so the others were lost (RFC 9113 8.2.3: join with "; ").
    let (be, h) = echo_behind_proxy().await;
    let res = h2c_client()
        .get(h.url("/c"))
        .header("cookie", "a=1")
        .header("cookie", "session=s3cr3t")
        .header("cookie", "b=2")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = &be.seen()[0];
    let cookies: Vec<_> = seen.headers.get_all("cookie").iter().collect();
    assert_eq!(cookies, ["a=1; session=s3cr3t; b=2"]);
    h.stop().await;
}

#[tokio::test]
async fn a_kept_alive_server_connection_closed_as_it_was_reused_is_not_a_502() {
    // hyper's side: an HTTP/2 client's requests to an HTTP/1.1 server whose keep-alive
    // timeout ran out as the proxy reused a connection go again on a new connection.
    let (be, accepted) = one_answer_per_connection().await;
    let h = start(
        listener(Some("app"), vec![]),
        vec![pool("app", "round_robin", &[("a", be)])],
    )
    .await;
    let c = h2c_client();
    for i in 0..3 {
        let res = c.get(h.url(&format!("/{i}"))).send().await.unwrap();
        assert_eq!(res.status(), 200, "request {i}");
        assert_eq!(res.text().await.unwrap(), "ok");
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
    let snap = h.pool("app").snapshot();
    assert_eq!(snap.server("a").unwrap().stats().failures_total(), 0);
    h.stop().await;
}

/// Send one HTTP/2 request whose header block is `fields` (HPACK literals, no
/// `:authority`) over a raw connection; the response's `:status` (hpack static index).
async fn raw_h2_status(addr: std::net::SocketAddr, fields: &[(&str, &str)]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut block = Vec::new();
    for (n, v) in fields {
        block.push(0x00); // literal without indexing, new name
        block.push(n.len() as u8);
        block.extend_from_slice(n.as_bytes());
        block.push(v.len() as u8);
        block.extend_from_slice(v.as_bytes());
    }
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // SETTINGS
    let len = block.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[1, 0x05, 0, 0, 0, 1]); // HEADERS, END_STREAM|END_HEADERS, stream 1
    out.extend_from_slice(&block);
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(&out).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // Frames: 3 length, 1 type, 1 flags, 4 stream.
        let mut at = 0;
        while buf.len() >= at + 9 {
            let len = u32::from_be_bytes([0, buf[at], buf[at + 1], buf[at + 2]]) as usize;
            let (kind, stream) = (buf[at + 3], buf[at + 5..at + 9] == [0, 0, 0, 1]);
            if buf.len() < at + 9 + len {
                break;
            }
            if kind == 1 && stream {
                // The server's first field is :status, an indexed static entry.
                return match buf[at + 9] {
                    0x88 => 200,
                    0x8c => 400,
                    0x8d => 404,
                    other => panic!("unexpected :status encoding {other:#x}"),
                };
            }
            if kind == 3 && stream {
                return 0; // RST_STREAM: refused as malformed
            }
            at += 9 + len;
        }
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut chunk))
            .await
            .expect("answer in time")
            .unwrap();
        assert!(n > 0, "closed without an answer");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn an_h2_host_field_that_is_no_host_is_refused() {
    // Without :authority the `host` field names the host: `x/y.example.com` matched a
    // `*.example.com` route while a server read something else of it.
    let (be, h) = echo_behind_proxy().await;
    let fields = |host| {
        [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/x"),
            ("host", host),
        ]
    };
    assert_eq!(raw_h2_status(h.addr, &fields("x/y.example.com")).await, 400);
    assert_eq!(raw_h2_status(h.addr, &fields("a b")).await, 400);
    assert!(be.seen().is_empty(), "nothing reached the server");
    assert_eq!(
        raw_h2_status(h.addr, &fields("a.example.com:80")).await,
        200
    );
    assert_eq!(be.seen().len(), 1);
    h.stop().await;
}
