//! The runtime end to end: real backends, real sockets, real health checks.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{client, config, free_port, get, wait_for, Flip};
use switchyard_balance::ServerState;
use switchyard_runtime::Runtime;

const INTERVAL_MS: u64 = 200;
const TIMEOUT_MS: u64 = 100;
const RISE: u64 = 2;
const FALL: u64 = 2;

fn pool_toml(name: &str, servers: &[&Flip], extra: &str) -> String {
    let mut s = format!(
        "[[pool]]\nname = \"{name}\"\nalgorithm = \"round_robin\"\n{extra}\n\
         [pool.health]\ncheck = \"http\"\npath = \"/health\"\ninterval = \"{INTERVAL_MS}ms\"\n\
         timeout = \"{TIMEOUT_MS}ms\"\nrise = {RISE}\nfall = {FALL}\n"
    );
    for server in servers {
        s += &format!(
            "[[pool.server]]\nname = \"{}\"\naddress = \"{}\"\n",
            server.name, server.addr
        );
    }
    s
}

fn http_listener(port: u16, pool: &str) -> String {
    format!("[[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:{port}\"\npool = \"{pool}\"\n")
}

async fn ready(runtime: &Runtime) {
    assert!(
        wait_for(Duration::from_secs(5), || async { runtime.ready() })
            .await
            .is_some(),
        "never ready"
    );
}

fn state(runtime: &Runtime, pool: &str, server: &str) -> Option<ServerState> {
    runtime.pools().get(pool)?.pool.state_of(server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_reaches_every_healthy_server() {
    let (a, b, c) = (
        Flip::start("a").await,
        Flip::start("b").await,
        Flip::start("c").await,
    );
    let port = free_port();
    let text = pool_toml("app", &[&a, &b, &c], "") + &http_listener(port, "app");
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    ready(&runtime).await;
    let http = client();
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..9 {
        let (status, body) = get(&http, &format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap();
        assert_eq!(status, 200);
        names.insert(body);
    }
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["a", "b", "c"]);
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_server_is_down_within_fall_intervals_plus_timeout_and_back_within_rise_intervals() {
    let (a, mut b) = (Flip::start("a").await, Flip::start("b").await);
    let port = free_port();
    let text = pool_toml("app", &[&a, &b], "") + &http_listener(port, "app");
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    ready(&runtime).await;
    assert_eq!(state(&runtime, "app", "b"), Some(ServerState::Up));

    b.kill();
    let killed = Instant::now();
    let down = wait_for(Duration::from_secs(5), || async {
        state(&runtime, "app", "b") == Some(ServerState::Down)
    })
    .await
    .expect("b never marked down");
    // F x I + T, plus 10% jitter on each interval and a little scheduling slack.
    let bound = Duration::from_millis(FALL * INTERVAL_MS * 11 / 10 + TIMEOUT_MS + 100);
    assert!(down <= bound, "down after {down:?}, bound {bound:?}");

    // Meanwhile every request still succeeds: the dead server's refusals are retried.
    let http = client();
    for _ in 0..10 {
        let (status, body) = get(&http, &format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap();
        assert_eq!((status, body.as_str()), (200, "a"));
    }

    b.revive().await;
    let up = wait_for(Duration::from_secs(5), || async {
        state(&runtime, "app", "b") == Some(ServerState::Up)
    })
    .await
    .expect("b never came back");
    let bound = Duration::from_millis(RISE * INTERVAL_MS * 11 / 10 + 150);
    assert!(up <= bound, "up after {up:?}, bound {bound:?}");
    let _ = killed;
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_health_endpoint_takes_a_live_server_out() {
    let (a, b) = (Flip::start("a").await, Flip::start("b").await);
    let port = free_port();
    let text = pool_toml("app", &[&a, &b], "") + &http_listener(port, "app");
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    ready(&runtime).await;
    b.set_healthy(false);
    wait_for(Duration::from_secs(3), || async {
        state(&runtime, "app", "b") == Some(ServerState::Down)
    })
    .await
    .expect("b never marked down");
    let before = b.hits.load(Ordering::SeqCst);
    let http = client();
    for _ in 0..10 {
        assert_eq!(
            get(&http, &format!("http://127.0.0.1:{port}/"))
                .await
                .unwrap()
                .1,
            "a"
        );
    }
    assert_eq!(
        b.hits.load(Ordering::SeqCst),
        before,
        "a down server got traffic"
    );
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_fail_no_request() {
    let servers: Vec<Flip> = futures_join(["s0", "s1", "s2", "s3"]).await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let write = |n: usize| {
        let chosen: Vec<&Flip> = servers.iter().take(n).collect();
        std::fs::write(
            &path,
            pool_toml("app", &chosen, "") + &http_listener(port, "app"),
        )
        .unwrap();
    };
    write(2);
    let runtime = Runtime::start(switchyard_config::load(&path).unwrap(), Some(path.clone()))
        .await
        .unwrap();
    ready(&runtime).await;

    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (failures, done) = (failures.clone(), done.clone());
        load.push(tokio::spawn(async move {
            let http = client();
            let deadline = Instant::now() + Duration::from_secs(4);
            let mut n = 0;
            while Instant::now() < deadline && n < 5_000 {
                match get(&http, &format!("http://127.0.0.1:{port}/")).await {
                    Ok((200, _)) => {}
                    other => {
                        eprintln!("failed request: {other:?}");
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
                done.fetch_add(1, Ordering::SeqCst);
                n += 1;
            }
        }));
    }
    // Ten reloads that add and remove servers while the load runs.
    for i in 0..10 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        write(if i % 2 == 0 { 4 } else { 1 });
        runtime
            .reload_from_file()
            .await
            .unwrap_or_else(|e| panic!("reload {i} failed: {e:?}"));
    }
    for task in load {
        task.await.unwrap();
    }
    assert!(
        done.load(Ordering::SeqCst) > 100,
        "too little load: {}",
        done.load(Ordering::SeqCst)
    );
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "requests failed during reloads"
    );
    assert_eq!(runtime.reload_counts(), (10, 0));
    runtime.shutdown().await;
}

async fn futures_join<const N: usize>(names: [&str; N]) -> Vec<Flip> {
    let mut out = Vec::new();
    for name in names {
        out.push(Flip::start(name).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_reload_changes_nothing() {
    let a = Flip::start("a").await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let good = pool_toml("app", &[&a], "") + &http_listener(port, "app");
    std::fs::write(&path, &good).unwrap();
    let runtime = Runtime::start(switchyard_config::load(&path).unwrap(), Some(path.clone()))
        .await
        .unwrap();
    ready(&runtime).await;
    let before = runtime.config();

    std::fs::write(&path, good.replace("round_robin", "fastest")).unwrap();
    let errors = runtime
        .reload_from_file()
        .await
        .expect_err("an invalid file must not load");
    assert!(errors.iter().any(|e| e.contains("fastest")), "{errors:?}");
    assert_eq!(*runtime.config(), *before);
    assert_eq!(runtime.reload_counts(), (0, 1));
    let (status, body) = get(&client(), &format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "a"));
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_request_in_flight_finish_and_refuses_new_ones() {
    let slow = Flip::start_with_delay("slow", Duration::from_millis(600)).await;
    let port = free_port();
    let text = "[global]\nshutdown_timeout = \"5s\"\n".to_string()
        + &pool_toml("app", &[&slow], "")
        + &http_listener(port, "app");
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    ready(&runtime).await;
    let in_flight =
        tokio::spawn(async move { get(&client(), &format!("http://127.0.0.1:{port}/")).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = Instant::now();
    runtime.shutdown().await;
    assert!(!runtime.ready(), "ready while shut down");
    let (status, body) = in_flight.await.unwrap().unwrap();
    assert_eq!((status, body.as_str()), (200, "slow"));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "shutdown did not wait for the request"
    );
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(
        refused.is_err(),
        "the listener still accepts after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_the_first_health_round() {
    let a = Flip::start_with_delay("a", Duration::ZERO).await;
    let port = free_port();
    let text = pool_toml("app", &[&a], "").replace(
        &format!("interval = \"{INTERVAL_MS}ms\""),
        "interval = \"2s\"",
    ) + &http_listener(port, "app");
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    // The first round runs at once, so readiness comes long before the 2 s interval.
    let took = wait_for(Duration::from_secs(1), || async { runtime.ready() })
        .await
        .expect("not ready");
    assert!(took < Duration::from_millis(900));
    runtime.shutdown().await;
    assert!(!runtime.ready());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_drains_a_server_and_metrics_move() {
    let (a, b) = (Flip::start("a").await, Flip::start("b").await);
    let (port, admin) = (free_port(), free_port());
    let text = format!("[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken = \"s3cret\"\n")
        + &pool_toml("app", &[&a, &b], "")
        + &http_listener(port, "app");
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    ready(&runtime).await;
    let http = client();
    for _ in 0..4 {
        get(&http, &format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap();
    }
    let base = format!("http://127.0.0.1:{admin}");
    let (status, body) = get(&http, &format!("{base}/readyz")).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let (_, doc) = get(&http, &format!("{base}/api/v1/state")).await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["pools"][0]["name"], "app");
    assert_eq!(doc["pools"][0]["servers"][1]["state"], "up");
    assert_eq!(doc["listeners"][0]["name"], "web");

    let drain = |token: &'static str| {
        let http = http.clone();
        let url = format!("{base}/api/v1/pools/app/servers/b/drain");
        async move {
            let req = hyper::Request::post(url)
                .header("authorization", format!("Bearer {token}"))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap();
            http.request(req).await.unwrap().status().as_u16()
        }
    };
    assert_eq!(drain("wrong").await, 401);
    assert_eq!(state(&runtime, "app", "b"), Some(ServerState::Up));
    assert_eq!(drain("s3cret").await, 200);
    assert_eq!(state(&runtime, "app", "b"), Some(ServerState::Draining));
    let before = b.hits.load(Ordering::SeqCst);
    for _ in 0..6 {
        assert_eq!(
            get(&http, &format!("http://127.0.0.1:{port}/"))
                .await
                .unwrap()
                .1,
            "a"
        );
    }
    assert_eq!(
        b.hits.load(Ordering::SeqCst),
        before,
        "a draining server got new traffic"
    );

    let (_, metrics) = get(&http, &format!("{base}/metrics")).await.unwrap();
    assert!(metrics.contains("switchyard_build_info"), "{metrics}");
    assert!(
        metrics.contains("switchyard_health_checks_total"),
        "{metrics}"
    );
    let served: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("switchyard_server_requests_total") && l.contains("server=\"a\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(
        served >= 6,
        "server a's request counter did not move:\n{metrics}"
    );
    let latency_count: u64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("switchyard_server_request_duration_seconds_count")
                && l.contains("server=\"a\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(
        latency_count >= 6,
        "server a's latency histogram did not move:\n{metrics}"
    );
    runtime.shutdown().await;
    let (status, _) = get(&http, &format!("{base}/readyz")).await.unwrap();
    assert_eq!(status, 503, "readiness must fail while shutting down");
    runtime.stop_admin();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_appear_in_the_connection_table_while_open() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = echo.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let (port, admin) = (free_port(), free_port());
    let text = format!(
        "[admin]\nlisten = \"127.0.0.1:{admin}\"\n[[pool]]\nname = \"db\"\n[pool.health]\ncheck = \"tcp\"\n\
         interval = \"200ms\"\ntimeout = \"100ms\"\n[[pool.server]]\nname = \"echo\"\naddress = \"{echo_addr}\"\n\
         [[listener]]\nname = \"pg\"\nprotocol = \"tcp\"\nlisten = \"127.0.0.1:{port}\"\npool = \"db\"\n"
    );
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    ready(&runtime).await;
    let mut open = Vec::new();
    for i in 0..3u8 {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        conn.write_all(&[i; 10]).await.unwrap();
        let mut back = [0u8; 10];
        conn.read_exact(&mut back).await.unwrap();
        assert_eq!(back, [i; 10]);
        open.push(conn);
    }
    let http = client();
    let url = format!("http://127.0.0.1:{admin}/api/v1/connections?limit=1000");
    // Byte counters move as the copy loops report progress: poll briefly.
    let last = std::sync::Mutex::new(String::new());
    let counted = wait_for(Duration::from_secs(2), || async {
        let (status, body) = get(&http, &url).await.unwrap();
        assert_eq!(status, 200, "{body}");
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        let ours: Vec<serde_json::Value> = doc["connections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["listener"] == "pg")
            .cloned()
            .collect();
        *last.lock().unwrap() = body;
        ours.len() == 3
            && ours.iter().all(|c| {
                c["server"] == "echo" && c["received_bytes"] == 10 && c["sent_bytes"] == 10
            })
    })
    .await;
    assert!(
        counted.is_some(),
        "three connections of 10 bytes each way expected:\n{}",
        last.lock().unwrap()
    );
    // A bulk transfer (past the 256 KiB copy threshold) switches its directions to
    // splice(2) on Linux, and the metrics endpoint counts them.
    let (mut r, mut w) = open[0].split();
    let bulk = vec![7u8; 1 << 20];
    let mut back = vec![0u8; bulk.len()];
    let (wrote, read) = tokio::join!(w.write_all(&bulk), r.read_exact(&mut back));
    wrote.unwrap();
    read.unwrap();
    assert_eq!(back, bulk);
    let metrics = format!("http://127.0.0.1:{admin}/metrics");
    let (_, body) = get(&http, &metrics).await.unwrap();
    let spliced: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("switchyard_l4_spliced_directions_total{listener=\"pg\"} "))
        .unwrap_or_else(|| panic!("no spliced metric for pg:\n{body}"))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(spliced >= 1, cfg!(target_os = "linux"), "{spliced}");
    drop(open);
    let gone = wait_for(Duration::from_secs(3), || {
        let http = http.clone();
        async move {
            let (_, body) = get(
                &http,
                &format!("http://127.0.0.1:{admin}/api/v1/connections?limit=1000"),
            )
            .await
            .unwrap();
            !body.contains("\"listener\":\"pg\"")
        }
    })
    .await;
    assert!(gone.is_some(), "closed connections stayed in the table");
    runtime.shutdown().await;
    runtime.stop_admin();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlier_ejection_takes_out_a_server_that_fails_real_traffic() {
    // "bad" passes its health checks but answers every real request with a 500.
    let good = Flip::start("good").await;
    let bad = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bad_addr = bad.local_addr().unwrap();
    let bad_hits = Arc::new(AtomicUsize::new(0));
    let hits = bad_hits.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = bad.accept().await {
            let hits = hits.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]);
                    let answer: &[u8] = if text.starts_with("GET /health") {
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                    } else {
                        hits.fetch_add(1, Ordering::SeqCst);
                        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\nfail"
                    };
                    if s.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let port = free_port();
    let mut text = pool_toml("app", &[&good], "panic_threshold = 0");
    text += &format!("[[pool.server]]\nname = \"bad\"\naddress = \"{bad_addr}\"\n");
    text += "[pool.outlier]\nconsecutive_failures = 3\nbase_ejection = \"30s\"\n";
    text += &http_listener(port, "app");
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    ready(&runtime).await;
    let http = client();
    let mut errors = 0;
    for _ in 0..12 {
        let (status, _) = get(&http, &format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap();
        if status == 500 {
            errors += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(errors >= 3, "bad never reached: {errors}");
    wait_for(Duration::from_secs(2), || async {
        state(&runtime, "app", "bad") == Some(ServerState::Down)
    })
    .await
    .expect("bad was never ejected");
    let before = bad_hits.load(Ordering::SeqCst);
    for _ in 0..10 {
        let (status, body) = get(&http, &format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap();
        assert_eq!((status, body.as_str()), (200, "good"));
    }
    assert_eq!(
        bad_hits.load(Ordering::SeqCst),
        before,
        "an ejected server got traffic"
    );
    let doc =
        switchyard_admin::Control::state(&switchyard_runtime::RuntimeControl::new(runtime.clone()));
    let bad_doc = doc.pools[0]
        .servers
        .iter()
        .find(|s| s.name == "bad")
        .unwrap();
    assert_eq!(bad_doc.ejections, 1);
    // The state document says when the ejected server comes back (30 s after it went
    // out), so an operator can tell an ejection from failed health checks.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let until = bad_doc
        .ejected_until
        .expect("ejected_until of an ejected server");
    assert!(
        (now_ms + 25_000..=now_ms + 30_500).contains(&until),
        "ejected_until {until} is not about 30 s after {now_ms}"
    );
    let good_doc = doc.pools[0]
        .servers
        .iter()
        .find(|s| s.name == "good")
        .unwrap();
    assert_eq!(good_doc.ejected_until, None);
    runtime.shutdown().await;
}

/// GET with an optional Cookie header: (status, body, Set-Cookie value).
async fn get_with_cookie(port: u16, cookie: Option<&str>) -> (u16, String, Option<String>) {
    use http_body_util::BodyExt;
    let mut req = hyper::Request::get(format!("http://127.0.0.1:{port}/"));
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    let resp = client()
        .request(
            req.body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let set_cookie = resp
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8_lossy(&body).into_owned(),
        set_cookie,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_keeps_sticky_users_and_sends_new_users_elsewhere() {
    let (a, b, c) = (
        Flip::start("a").await,
        Flip::start("b").await,
        Flip::start("c").await,
    );
    let port = free_port();
    let text = pool_toml(
        "app",
        &[&a, &b, &c],
        "[pool.affinity]\nkind = \"cookie\"\ncookie = \"SYD_SRV\"\n",
    ) + &http_listener(port, "app");
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    ready(&runtime).await;

    // A user is pinned by the cookie of their first answer.
    let (status, pinned, set_cookie) = get_with_cookie(port, None).await;
    assert_eq!(status, 200);
    let set_cookie = set_cookie.expect("the first answer sets the affinity cookie");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("SYD_SRV="), "{set_cookie}");
    for server in [&a, &b, &c] {
        assert!(
            !cookie.contains(&server.addr.port().to_string()),
            "the cookie names a port: {cookie}"
        );
    }
    for _ in 0..5 {
        assert_eq!(
            get_with_cookie(port, Some(&cookie)).await.1,
            pinned,
            "not sticky"
        );
    }

    // Drain the sticky server through the admin control.
    let control = switchyard_runtime::RuntimeControl::new(runtime.clone());
    switchyard_admin::Control::drain(&control, "app", &pinned).unwrap();
    assert_eq!(state(&runtime, "app", &pinned), Some(ServerState::Draining));

    // The sticky user stays...
    for _ in 0..5 {
        let (status, body, _) = get_with_cookie(port, Some(&cookie)).await;
        assert_eq!(
            (status, body.as_str()),
            (200, pinned.as_str()),
            "a sticky user left a draining server"
        );
    }
    // ...and new users never arrive there.
    for _ in 0..15 {
        let (status, body, fresh) = get_with_cookie(port, None).await;
        assert_eq!(status, 200);
        assert_ne!(body, pinned, "a new user was sent to a draining server");
        assert!(fresh.is_some(), "a new user got no affinity cookie");
    }

    // Disabled: even the sticky user is re-pinned, and the cookie replaced.
    switchyard_admin::Control::disable(&control, "app", &pinned).unwrap();
    let (status, body, replaced) = get_with_cookie(port, Some(&cookie)).await;
    assert_eq!(status, 200);
    assert_ne!(body, pinned, "a disabled server kept its sticky user");
    let replaced = replaced.expect("re-pinning replaces the cookie");
    assert_ne!(replaced.split(';').next().unwrap(), cookie);
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_weights_survive_a_reload_unless_the_file_changes_that_server() {
    let (a, b) = (Flip::start("a").await, Flip::start("b").await);
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let write = |b_weight: u32, listen_port: u16| {
        let text = pool_toml("app", &[&a, &b], "").replace(
            &format!("address = \"{}\"\n", b.addr),
            &format!("address = \"{}\"\nweight = {b_weight}\n", b.addr),
        ) + &http_listener(listen_port, "app");
        std::fs::write(&path, text).unwrap();
    };
    write(1, port);
    let runtime = Runtime::start(switchyard_config::load(&path).unwrap(), Some(path.clone()))
        .await
        .unwrap();
    ready(&runtime).await;
    let control = switchyard_runtime::RuntimeControl::new(runtime.clone());
    switchyard_admin::Control::set_weight(&control, "app", "a", 7).unwrap();
    switchyard_admin::Control::set_algorithm(&control, "app", "least_connections").unwrap();
    let weight = |name: &str| {
        runtime.pools()["app"]
            .pool
            .snapshot()
            .server(name)
            .unwrap()
            .weight()
    };

    // A reload that changes something else (the listener's port) keeps both overrides.
    let other_port = free_port();
    write(1, other_port);
    runtime.reload_from_file().await.unwrap();
    assert_eq!(weight("a"), 7);
    assert_eq!(
        runtime.pools()["app"]
            .pool
            .snapshot()
            .algorithm()
            .to_string(),
        "least_connections"
    );

    // A reload that changes server b keeps a's override but applies b's new weight.
    write(3, other_port);
    let summary = runtime.reload_from_file().await.unwrap();
    assert_eq!(summary.pools.changed, ["app"]);
    assert!(summary.listeners.changed.is_empty() && summary.listeners_rebind.is_empty());
    assert_eq!((weight("a"), weight("b")), (7, 3));
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_starting_server_of_weight_one_shows_its_fractional_effective_weight() {
    // Every server ramps from its first check; a weight-1 server starts at 0.1, which
    // the state document used to round to 0 ("0 / 1" on the dashboard while it served).
    let a = Flip::start("a").await;
    let port = free_port();
    let text = pool_toml("app", &[&a], "slow_start = \"60s\"") + &http_listener(port, "app");
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    ready(&runtime).await;
    let control = switchyard_runtime::RuntimeControl::new(runtime.clone());
    let doc = switchyard_admin::Control::state(&control);
    let effective = doc.pools[0].servers[0].effective_weight;
    assert!(
        (0.09..0.2).contains(&effective),
        "effective weight {effective} at the start of a 60 s ramp"
    );
    let mut metrics = String::new();
    switchyard_admin::Control::render_metrics(&control, &mut metrics);
    let line = metrics
        .lines()
        .find(|l| l.starts_with("switchyard_server_effective_weight{"))
        .expect("effective weight metric");
    let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((0.09..0.2).contains(&value), "{line}");
    runtime.shutdown().await;
}
