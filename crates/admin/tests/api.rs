//! Every admin API route against an in-memory control, through a real HTTP client.

mod common;

use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use switchyard_admin::ServerStatus;

async fn send(
    client: &Client,
    method: Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = client.request(method, url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    let value = if content_type.as_deref() == Some("application/json") {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON {text:?}: {e}"))
    } else {
        Value::String(text)
    };
    (status, value)
}

fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field in {body}"))
}

#[tokio::test]
async fn livez_answers_200_and_head_works() {
    let s = common::serve(None).await;
    let client = Client::new();
    let (status, body) = send(
        &client,
        Method::GET,
        format!("{}/livez", s.base),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "live");
    let head = client
        .head(format!("{}/livez", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
}

#[tokio::test]
async fn readyz_follows_the_control() {
    let s = common::serve(None).await;
    let client = Client::new();
    let url = format!("{}/readyz", s.base);
    assert_eq!(
        send(&client, Method::GET, url.clone(), None, None).await.0,
        200
    );
    s.control.set_ready(false);
    let (status, body) = send(&client, Method::GET, url.clone(), None, None).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "not ready");
    s.control.set_ready(true);
    assert_eq!(send(&client, Method::GET, url, None, None).await.0, 200);
}

#[tokio::test]
async fn state_serves_the_controls_document() {
    let s = common::serve(None).await;
    let (status, body) = send(
        &Client::new(),
        Method::GET,
        format!("{}/api/v1/state", s.base),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(!body["version"].as_str().unwrap().is_empty());
    assert!(body["generated_at"].as_u64().unwrap() > 0);
    assert_eq!(body["listeners"][0]["name"], "web");
    let app = &body["pools"][0];
    assert_eq!(app["name"], "app");
    assert_eq!(app["algorithm"], "round_robin");
    assert_eq!(app["servers"][0]["state"], "up");
    assert_eq!(app["servers"][3]["state"], "down");
    assert_eq!(
        app["servers"][3]["health"]["last"]["detail"],
        "connect refused"
    );
    assert!(app["servers"][0]["latency"]["p99_ms"].as_f64().is_some());
    assert_eq!(body["datacenters"][0]["up"], true);
    assert_eq!(body["anycast"][0]["bird_protocol"], "vip_web");
    let doc: switchyard_admin::StateDoc = serde_json::from_value(body).expect("state parses back");
    assert_eq!(doc.pools.len(), 2);
}

#[tokio::test]
async fn drain_enable_disable_change_the_server() {
    let s = common::serve(None).await;
    let client = Client::new();
    for (action, expect) in [
        ("drain", ServerStatus::Draining),
        ("disable", ServerStatus::Disabled),
        ("enable", ServerStatus::Up),
    ] {
        let url = format!("{}/api/v1/pools/app/servers/medium/{action}", s.base);
        let (status, body) = send(&client, Method::POST, url, None, None).await;
        assert_eq!(status, 200, "{action}: {body}");
        assert_eq!(
            body,
            json!({"pool": "app", "server": "medium", "action": action})
        );
        assert_eq!(s.control.server("app", "medium").state, expect);
        let (_, state) = send(
            &client,
            Method::GET,
            format!("{}/api/v1/state", s.base),
            None,
            None,
        )
        .await;
        assert_eq!(state["pools"][0]["servers"][1]["state"], expect.as_str());
    }
}

#[tokio::test]
async fn weight_is_set_and_validated() {
    let s = common::serve(None).await;
    let client = Client::new();
    let url = format!("{}/api/v1/pools/app/servers/slow/weight", s.base);
    let (status, body) = send(
        &client,
        Method::PUT,
        url.clone(),
        None,
        Some(json!({"weight": 250})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["weight"], 250);
    assert_eq!(s.control.server("app", "slow").weight, 250);
    for bad in [
        json!({"weight": 0}),
        json!({"weight": 1001}),
        json!({"weight": -3}),
        json!({"weight": "5"}),
        json!({}),
        json!({"weight": 5, "extra": 1}),
        json!([5]),
        json!({"weight": 1.5}),
    ] {
        let (status, body) = send(&client, Method::PUT, url.clone(), None, Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad} gave {body}");
        assert!(!error_of(&body).is_empty());
    }
    let raw = client
        .put(url.clone())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    // Errors say what the body should be, not serde's Rust type names.
    let (_, body) = send(
        &client,
        Method::PUT,
        url.clone(),
        None,
        Some(json!({"weight": "5"})),
    )
    .await;
    let error = error_of(&body);
    assert!(!error.contains("i64"), "{error}");
    assert!(error.contains(r#"expected e.g. {"weight": 5}"#), "{error}");
    let (status, body) = send(
        &client,
        Method::PUT,
        url.clone(),
        None,
        Some(json!({"weight": 1001})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(error_of(&body).contains("1000"), "{body}");
    assert_eq!(
        s.control.server("app", "slow").weight,
        250,
        "rejected bodies change nothing"
    );
    let (status, _) = send(
        &client,
        Method::PUT,
        url,
        None,
        Some(json!({"weight": 1000})),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn algorithm_is_switched_and_unknown_names_are_400() {
    let s = common::serve(None).await;
    let client = Client::new();
    let url = format!("{}/api/v1/pools/app/algorithm", s.base);
    let (status, body) = send(
        &client,
        Method::PUT,
        url.clone(),
        None,
        Some(json!({"algorithm": "maglev"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.control.algorithm("app"), "maglev");
    let (status, body) = send(
        &client,
        Method::PUT,
        url.clone(),
        None,
        Some(json!({"algorithm": "telepathy"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(error_of(&body).contains("telepathy"));
    assert_eq!(s.control.algorithm("app"), "maglev");
    let (status, _) = send(
        &client,
        Method::PUT,
        url,
        None,
        Some(json!({"algo": "maglev"})),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn unknown_pools_servers_and_paths_are_404_json() {
    let s = common::serve(None).await;
    let client = Client::new();
    let cases = [
        (Method::POST, "/api/v1/pools/nope/servers/fast/drain", None),
        (Method::POST, "/api/v1/pools/app/servers/nope/drain", None),
        (
            Method::PUT,
            "/api/v1/pools/app/servers/nope/weight",
            Some(json!({"weight": 2})),
        ),
        (
            Method::PUT,
            "/api/v1/pools/nope/algorithm",
            Some(json!({"algorithm": "maglev"})),
        ),
        (Method::GET, "/nope", None),
        (Method::GET, "/api/v1/state/", None),
        (Method::POST, "/api/v1/pools/app/servers/fast/explode", None),
        (Method::GET, "/assets/missing.js", None),
    ];
    for (method, path, body) in cases {
        let (status, resp) = send(
            &client,
            method.clone(),
            format!("{}{path}", s.base),
            None,
            body,
        )
        .await;
        assert_eq!(status, 404, "{method} {path}: {resp}");
        assert!(!error_of(&resp).is_empty());
    }
    let (_, resp) = send(
        &client,
        Method::POST,
        format!("{}/api/v1/pools/app/servers/nope/drain", s.base),
        None,
        None,
    )
    .await;
    assert_eq!(error_of(&resp), "pool app has no server nope");
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let s = common::serve(None).await;
    let client = Client::new();
    for (method, path, allow) in [
        (Method::POST, "/livez", "GET, HEAD"),
        (Method::DELETE, "/api/v1/state", "GET, HEAD"),
        (Method::GET, "/api/v1/pools/app/servers/fast/drain", "POST"),
        (Method::POST, "/api/v1/pools/app/servers/fast/weight", "PUT"),
        (Method::GET, "/api/v1/pools/app/algorithm", "PUT"),
        (Method::GET, "/api/v1/reload", "POST"),
    ] {
        let resp = client
            .request(method.clone(), format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method} {path}");
        assert_eq!(resp.headers()["allow"], allow);
        let body: Value = resp.json().await.unwrap();
        assert!(!error_of(&body).is_empty());
    }
    assert_eq!(s.control.server("app", "fast").state, ServerStatus::Up);
}

#[tokio::test]
async fn token_guards_every_mutating_call_but_no_read() {
    let s = common::serve(Some("s3cret")).await;
    let client = Client::new();
    let drain = format!("{}/api/v1/pools/app/servers/fast/drain", s.base);
    let weight = format!("{}/api/v1/pools/app/servers/fast/weight", s.base);
    let algorithm = format!("{}/api/v1/pools/app/algorithm", s.base);
    let reload = format!("{}/api/v1/reload", s.base);
    let calls = [
        (Method::POST, drain.clone(), None),
        (Method::PUT, weight, Some(json!({"weight": 7}))),
        (Method::PUT, algorithm, Some(json!({"algorithm": "maglev"}))),
        (Method::POST, reload, None),
    ];
    for (method, url, body) in &calls {
        for token in [None, Some("wrong"), Some("s3cre"), Some("s3cret2")] {
            let (status, resp) =
                send(&client, method.clone(), url.clone(), token, body.clone()).await;
            assert_eq!(status, 401, "{method} {url} with {token:?}");
            assert!(!error_of(&resp).is_empty());
        }
    }
    assert_eq!(s.control.server("app", "fast").state, ServerStatus::Up);
    assert_eq!(s.control.server("app", "fast").weight, 3);
    assert_eq!(s.control.algorithm("app"), "round_robin");
    assert_eq!(
        s.control.reloads.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    let resp = client.post(drain.clone()).send().await.unwrap();
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let resp = client
        .post(drain.clone())
        .header("authorization", "Basic czNjcmV0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    for (method, url, body) in calls {
        let (status, resp) = send(&client, method.clone(), url.clone(), Some("s3cret"), body).await;
        assert_eq!(status, 200, "{method} {url}: {resp}");
    }
    assert_eq!(
        s.control.server("app", "fast").state,
        ServerStatus::Draining
    );
    assert_eq!(s.control.server("app", "fast").weight, 7);
    let resp = client
        .post(drain)
        .header("authorization", "bearer s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the scheme is case-insensitive");

    for path in [
        "/livez",
        "/readyz",
        "/metrics",
        "/api/v1/state",
        "/",
        "/assets/dashboard.js",
    ] {
        let resp = client
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "GET {path} needs no token");
    }
}

#[tokio::test]
async fn cross_origin_mutations_are_refused() {
    let s = common::serve(None).await;
    let client = Client::new();
    let url = format!("{}/api/v1/pools/app/servers/fast/disable", s.base);
    let resp = client
        .post(url.clone())
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(s.control.server("app", "fast").state, ServerStatus::Up);
    let same = client
        .post(url)
        .header("origin", s.base.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
    assert_eq!(
        s.control.server("app", "fast").state,
        ServerStatus::Disabled
    );
}

#[tokio::test]
async fn reload_reports_summary_or_errors() {
    let s = common::serve(None).await;
    let client = Client::new();
    let url = format!("{}/api/v1/reload", s.base);
    let (status, body) = send(&client, Method::POST, url.clone(), None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], json!(["pool app"]));
    assert_eq!(body["unchanged"], 2);
    let errors = vec!["switchyard.toml:3:7: unknown algorithm \"fastest\"".to_owned()];
    s.control.fail_reloads_with(Some(errors.clone()));
    let (status, body) = send(&client, Method::POST, url, None, None).await;
    assert_eq!(status, 400);
    assert_eq!(body, json!({"errors": errors}));
    assert_eq!(
        s.control.reloads.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let s = common::serve(None).await;
    let body = format!("{{\"weight\": 5, \"pad\": \"{}\"}}", "x".repeat(70 * 1024));
    let resp = Client::new()
        .put(format!("{}/api/v1/pools/app/servers/fast/weight", s.base))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert!(error_of(&body).contains("64 KiB"));
}

#[tokio::test]
async fn dashboard_and_assets_are_served_from_the_binary() {
    let s = common::serve(None).await;
    let client = Client::new();
    let page = client.get(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("switchyard"));
    for (path, kind) in [
        ("/assets/dashboard.js", "text/javascript"),
        ("/assets/dashboard.css", "text/css"),
    ] {
        let resp = client
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
        assert!(html.contains(path), "the page links {path}");
    }
}

#[tokio::test]
async fn serve_returns_after_shutdown_and_stops_accepting() {
    let s = common::serve(None).await;
    let client = Client::new();
    assert_eq!(
        client
            .get(format!("{}/livez", s.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    s.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(7), s.task)
        .await
        .expect("serve returns")
        .unwrap();
    let fresh = Client::new();
    assert!(
        fresh.get(format!("{}/livez", s.base)).send().await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn shutdown_lets_a_reload_in_flight_finish() {
    let s = common::serve(None).await;
    s.control.set_reload_delay(Duration::from_millis(400));
    let url = format!("{}/api/v1/reload", s.base);
    let pending = tokio::spawn(async move { Client::new().post(url).send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.shutdown.cancel();
    let resp = pending
        .await
        .unwrap()
        .expect("the reload in flight is answered");
    assert_eq!(resp.status(), 200);
    tokio::time::timeout(Duration::from_secs(7), s.task)
        .await
        .expect("serve returns")
        .unwrap();
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_served() {
    let s = common::serve(None).await;
    let client = Client::builder().http2_prior_knowledge().build().unwrap();
    let resp = client
        .get(format!("{}/api/v1/state", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let resp = client
        .post(format!("{}/api/v1/pools/db/servers/nope/drain", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // Same-origin checks read the HTTP/2 :authority, which carries no Host header.
    let url = format!("{}/api/v1/pools/app/servers/fast/drain", s.base);
    let same = client
        .post(url.clone())
        .header("origin", s.base.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
    let other = client
        .post(url)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = common::serve(None).await;
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    stream
        .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(12), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection is still open after 12s");
    let waited = started.elapsed();
    assert!(
        waited >= switchyard_admin::server::HEADER_READ_TIMEOUT - Duration::from_millis(500),
        "closed early: {waited:?}"
    );
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
}

#[tokio::test]
async fn connections_page_defaults_and_rejects_bad_limits() {
    let s = common::serve(None).await;
    let client = Client::new();
    let ok = client
        .get(format!("{}/api/v1/connections", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let doc: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(
        (doc["offset"].as_u64(), doc["limit"].as_u64()),
        (Some(0), Some(100))
    );
    let paged: serde_json::Value = client
        .get(format!("{}/api/v1/connections?offset=5&limit=2", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (paged["offset"].as_u64(), paged["limit"].as_u64()),
        (Some(5), Some(2))
    );
    for bad in ["limit=0", "limit=5000", "offset=-1", "page=2"] {
        let resp = client
            .get(format!("{}/api/v1/connections?{bad}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(body["error"].is_string(), "{bad}");
    }
}

#[tokio::test]
async fn a_client_that_connects_and_sends_nothing_is_disconnected() {
    use tokio::io::AsyncReadExt;
    let s = common::serve(None).await;
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(12), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "a silent connection is still open after 12s");
    let waited = started.elapsed();
    assert!(
        waited >= switchyard_admin::server::HEADER_READ_TIMEOUT - Duration::from_millis(500),
        "closed early: {waited:?}"
    );
    // A client that sends the start of the HTTP/2 preface and stops is cut off too.
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"PRI * HTTP")
        .await
        .unwrap();
    let read = tokio::time::timeout(Duration::from_secs(12), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "a half-sent preface is still open after 12s");
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_refused_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = common::serve(None).await;
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    stream
        .write_all(
            b"PUT /api/v1/pools/app/servers/fast/weight HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{",
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    // One byte a second: never done within the deadline, never idle for long.
    let mut response = Vec::new();
    let mut answered = false;
    for _ in 0..15 {
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                response.extend_from_slice(&buf[..n]);
                answered = true;
                break;
            }
            Err(_) => {
                if stream.write_all(b" ").await.is_err() {
                    break;
                }
            }
        }
    }
    let waited = started.elapsed();
    let text = String::from_utf8_lossy(&response);
    assert!(
        answered && text.starts_with("HTTP/1.1 408"),
        "after {waited:?}: {text:?}"
    );
    assert!(text.contains("\"error\""), "{text}");
    assert!(waited < Duration::from_secs(12), "took {waited:?}");
    assert_eq!(s.control.server("app", "fast").weight, 3);
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_and_the_api_answers_again_once_they_leave() {
    use tokio::io::AsyncReadExt;
    let s = common::serve(None).await;
    let mut idle = Vec::new();
    for _ in 0..switchyard_admin::server::MAX_CONNECTIONS {
        idle.push(tokio::net::TcpStream::connect(s.addr).await.unwrap());
    }
    // Let the server accept them all.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "a connection over the limit is closed at once: {read:?}"
    );
    drop(idle);
    let client = Client::new();
    let mut ok = false;
    for _ in 0..40 {
        if let Ok(resp) = client.get(format!("{}/livez", s.base)).send().await {
            if resp.status() == 200 {
                ok = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "the API answers again once the idle connections left");
}

#[tokio::test]
async fn an_opaque_null_origin_is_refused_like_any_other_origin() {
    // A sandboxed iframe or a data: page of any site posts with `Origin: null`.
    let s = common::serve(None).await;
    let client = Client::new();
    for action in ["disable", "drain"] {
        let (status, body) = {
            let resp = client
                .post(format!("{}/api/v1/pools/app/servers/fast/{action}", s.base))
                .header("origin", "null")
                .send()
                .await
                .unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        };
        assert_eq!(status, 403, "{action}: {body}");
        assert!(!error_of(&body).is_empty());
    }
    let resp = client
        .put(format!("{}/api/v1/pools/app/algorithm", s.base))
        .header("origin", "null")
        .json(&json!({"algorithm": "maglev"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(s.control.server("app", "fast").state, ServerStatus::Up);
    assert_eq!(s.control.algorithm("app"), "round_robin");
}

/// DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 is, for
/// the browser, same-origin with the admin API (`Origin` and `Host` agree). Without a
/// token, only pages opened by address or `localhost` may change servers; with one, the
/// page must know it.
#[tokio::test]
async fn a_rebound_host_name_cannot_change_servers_without_a_token() {
    let s = common::serve(None).await;
    let client = Client::new();
    let port = s.addr.port();
    let drain = format!("{}/api/v1/pools/app/servers/fast/drain", s.base);
    for host in [
        format!("evil.example:{port}"),
        format!("rebind.127.0.0.1.nip.io:{port}"),
    ] {
        let resp = client
            .post(drain.clone())
            .header("host", host.clone())
            .header("origin", format!("http://{host}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{host}");
        let body: Value = resp.json().await.unwrap();
        assert!(error_of(&body).contains("admin.token"), "{body}");
    }
    assert_eq!(s.control.server("app", "fast").state, ServerStatus::Up);
    // Scripts send no Origin; pages opened by address or localhost are served.
    for (host, origin) in [
        (format!("evil.example:{port}"), None),
        (
            format!("localhost:{port}"),
            Some(format!("http://localhost:{port}")),
        ),
        (
            format!("[::1]:{port}"),
            Some(format!("http://[::1]:{port}")),
        ),
        (
            format!("127.0.0.1:{port}"),
            Some(format!("http://127.0.0.1:{port}")),
        ),
    ] {
        let mut req = client.post(drain.clone()).header("host", host.clone());
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        assert_eq!(req.send().await.unwrap().status(), 200, "{host}");
    }

    let s = common::serve(Some("s3cret")).await;
    let port = s.addr.port();
    let host = format!("lb1.mgmt.example:{port}");
    let resp = client
        .post(format!("{}/api/v1/pools/app/servers/fast/drain", s.base))
        .header("host", host.clone())
        .header("origin", format!("http://{host}"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "a dashboard opened by name works with the token"
    );
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_before_any_body_arrives() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = common::serve(None).await;
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    stream
        .write_all(
            b"PUT /api/v1/pools/app/servers/fast/weight HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
        .await
        .expect("no answer within 2 s")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}

/// A connection accepted just before the server stops (a reload that changes `[admin]`
/// replaces the server) whose request arrives a moment later is still answered.
#[tokio::test]
async fn a_connection_accepted_just_before_a_stop_is_still_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = common::serve(None).await;
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream
        .write_all(b"GET /livez HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    tokio::time::timeout(Duration::from_secs(7), s.task)
        .await
        .expect("serve returns")
        .unwrap();
}
