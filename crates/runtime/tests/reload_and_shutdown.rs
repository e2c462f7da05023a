//! Reloads and shutdown as clients see them: which sockets listen, when, and what a
//! refused reload leaves behind.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{client, config, free_port, get, wait_for, Flip};
use switchyard_balance::ServerState;
use switchyard_runtime::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn pool_toml(name: &str, servers: &[&Flip]) -> String {
    let mut s = format!(
        "[[pool]]\nname = \"{name}\"\nalgorithm = \"round_robin\"\n\
         [pool.health]\ncheck = \"http\"\npath = \"/health\"\ninterval = \"200ms\"\n\
         timeout = \"100ms\"\nrise = 1\nfall = 2\n"
    );
    for server in servers {
        s += &format!(
            "[[pool.server]]\nname = \"{}\"\naddress = \"{}\"\n",
            server.name, server.addr
        );
    }
    s
}

fn listener(name: &str, protocol: &str, port: u16, pool: &str) -> String {
    format!(
        "[[listener]]\nname = \"{name}\"\nprotocol = \"{protocol}\"\n\
         listen = \"127.0.0.1:{port}\"\npool = \"{pool}\"\n"
    )
}

async fn ready(runtime: &Runtime) {
    assert!(
        wait_for(Duration::from_secs(5), || async { runtime.ready() })
            .await
            .is_some(),
        "never ready"
    );
}

async fn start(path: &std::path::Path, text: &str) -> Runtime {
    std::fs::write(path, text).unwrap();
    let runtime = Runtime::start(
        switchyard_config::load(path).unwrap(),
        Some(path.to_path_buf()),
    )
    .await
    .unwrap();
    ready(&runtime).await;
    runtime
}

async fn reload(runtime: &Runtime, path: &std::path::Path, text: &str) -> Result<(), Vec<String>> {
    std::fs::write(path, text).unwrap();
    runtime.reload_from_file().await.map(drop)
}

/// One request on a fresh connection that the server closes after answering: whether
/// the answer was a 200.
async fn fresh_get(port: u16) -> Result<(), String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .map_err(|_| "no answer within 5 s".to_string())?
        .map_err(|e| format!("read: {e}"))?;
    if answer.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!("answer: {}", String::from_utf8_lossy(&answer)))
    }
}

/// How the load's clients connect.
#[derive(Clone, Copy)]
enum Connections {
    /// A new connection per request, closed after the answer.
    Fresh,
    /// A pooled keep-alive client.
    KeptAlive,
}

/// Four clients sending `GET /` to a port in a loop (for at most 10 s), counting the
/// requests that did not get a 200.
struct Load {
    stop: Arc<std::sync::atomic::AtomicBool>,
    sent: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, connections: Connections) -> Load {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks = (0..4)
            .map(|_| {
                let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
                tokio::spawn(async move {
                    let http = client();
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                        let result = match connections {
                            Connections::Fresh => fresh_get(port).await,
                            Connections::KeptAlive => {
                                match get(&http, &format!("http://127.0.0.1:{port}/")).await {
                                    Ok((200, _)) => Ok(()),
                                    other => Err(format!("{other:?}")),
                                }
                            }
                        };
                        if let Err(e) = result {
                            eprintln!("failed request: {e}");
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                        sent.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        Load {
            stop,
            sent,
            failed,
            tasks,
        }
    }

    /// Stops the clients: (requests sent, requests failed).
    async fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.unwrap();
        }
        (
            self.sent.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

/// Connections accepted on a loopback port (a stand-in server that only counts).
async fn counting_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (addr, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_refuses_new_connections_while_the_request_in_flight_finishes() {
    let slow = Flip::start_with_delay("slow", Duration::from_millis(1500)).await;
    let port = free_port();
    let text = "[global]\nshutdown_timeout = \"10s\"\n".to_string()
        + &pool_toml("app", &[&slow])
        + &listener("web", "http", port, "app");
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    ready(&runtime).await;
    let in_flight =
        tokio::spawn(async move { get(&client(), &format!("http://127.0.0.1:{port}/")).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = {
        let runtime = runtime.clone();
        tokio::spawn(async move { runtime.shutdown().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !stopping.is_finished(),
        "shutdown did not wait for the request"
    );
    // While the request drains, a new client is refused at once, not queued in a
    // backlog nobody accepts from any more.
    let refused = tokio::time::timeout(
        Duration::from_millis(500),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await;
    assert!(
        matches!(refused, Ok(Err(_))),
        "a new connection during the drain was not refused: {refused:?}"
    );
    let (status, body) = in_flight.await.unwrap().unwrap();
    assert_eq!((status, body.as_str()), (200, "slow"));
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_listener_closes_its_port_at_once_and_a_reload_can_listen_there_again() {
    let slow = Flip::start_with_delay("slow", Duration::from_millis(1500)).await;
    let (web, side) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let without = pool_toml("app", &[&slow]) + &listener("web", "http", web, "app");
    let with = without.clone() + &listener("side", "http", side, "app");
    let runtime = start(&path, &with).await;

    let in_flight =
        tokio::spawn(async move { get(&client(), &format!("http://127.0.0.1:{side}/")).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    reload(&runtime, &path, &without)
        .await
        .expect("removing a listener");
    // Refused within moments (the accept loop drops the socket as soon as it sees the
    // stop), not once the request in flight has finished.
    let refused = wait_for(Duration::from_millis(300), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", side))
            .await
            .is_err()
    })
    .await;
    assert!(
        refused.is_some(),
        "the removed listener's port still takes connections"
    );
    // Added back while its old incarnation still finishes a request.
    reload(&runtime, &path, &with)
        .await
        .expect("adding the listener back on the same port");
    assert!(!in_flight.is_finished());
    fresh_get(side).await.expect("the listener added back");
    let (status, body) = in_flight.await.unwrap().unwrap();
    assert_eq!((status, body.as_str()), (200, "slow"));
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_renamed_or_changing_protocol_on_its_address_refuses_no_client() {
    let (a, b) = (Flip::start("a").await, Flip::start("b").await);
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let pools = pool_toml("app", &[&a, &b]);
    let variants = [
        pools.clone() + &listener("web", "http", port, "app"),
        pools.clone() + &listener("web-renamed", "http", port, "app"),
        // A tcp listener in front of HTTP backends answers the same requests.
        pools.clone() + &listener("web-renamed", "tcp", port, "app"),
        pools.clone() + &listener("web", "tcp", port, "app"),
        pools.clone() + &listener("web", "http", port, "app"),
    ];
    let runtime = start(&path, &variants[0]).await;

    let load = Load::start(port, Connections::Fresh);
    for (i, text) in variants.iter().cycle().skip(1).take(8).enumerate() {
        tokio::time::sleep(Duration::from_millis(150)).await;
        reload(&runtime, &path, text)
            .await
            .unwrap_or_else(|e| panic!("reload {i} refused: {e:?}"));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (sent, failed) = load.finish().await;
    assert!(sent > 50, "too little load: {sent}");
    assert_eq!(failed, 0, "of {sent} requests");
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_refused_for_a_busy_port_changes_no_pool() {
    let (a, b, c) = (
        Flip::start("a").await,
        Flip::start("b").await,
        Flip::start("c").await,
    );
    let (probed, probes) = counting_server().await;
    let port = free_port();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let good = pool_toml("app", &[&a, &b]) + &listener("web", "http", port, "app");
    let runtime = start(&path, &good).await;

    // Server a leaves, c comes, a new pool is checked every 50 ms, and a new listener
    // wants a port that is taken.
    let refused = pool_toml("app", &[&b, &c])
        + &format!(
            "[[pool]]\nname = \"extra\"\n[pool.health]\ncheck = \"tcp\"\ninterval = \"50ms\"\n\
             timeout = \"40ms\"\n[[pool.server]]\nname = \"x\"\naddress = \"{probed}\"\n"
        )
        + &listener("web", "http", port, "app")
        + &listener("side", "http", busy_port, "extra");
    let errors = reload(&runtime, &path, &refused)
        .await
        .expect_err("a busy port must refuse the reload");
    assert!(
        errors.iter().any(|e| e.contains("Address already in use")),
        "{errors:?}"
    );

    let app = runtime.pools().get("app").cloned().expect("pool app");
    assert_eq!(app.pool.state_of("a"), Some(ServerState::Up));
    assert_eq!(app.pool.state_of("c"), None, "server c was added");
    assert!(!runtime.pools().contains_key("extra"));
    let http = client();
    let mut answered = Vec::new();
    for _ in 0..6 {
        answered.push(
            get(&http, &format!("http://127.0.0.1:{port}/"))
                .await
                .unwrap()
                .1,
        );
    }
    answered.sort();
    answered.dedup();
    assert_eq!(answered, ["a", "b"]);
    // The refused reload's new pool does not go on checking its servers.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = probes.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        probes.load(Ordering::SeqCst),
        before,
        "the refused reload's pool is still health-checked"
    );
    // Reloading the file that runs now is a no-op that keeps a and b.
    reload(&runtime, &path, &good).await.unwrap();
    assert_eq!(app.pool.state_of("a"), Some(ServerState::Up));
    drop(busy);
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_during_the_shutdown_drain_is_refused_and_starts_nothing() {
    let slow = Flip::start_with_delay("slow", Duration::from_millis(1500)).await;
    let (web, late) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let text = "[global]\nshutdown_timeout = \"10s\"\n".to_string()
        + &pool_toml("app", &[&slow])
        + &listener("web", "http", web, "app");
    let runtime = start(&path, &text).await;
    let in_flight =
        tokio::spawn(async move { get(&client(), &format!("http://127.0.0.1:{web}/")).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = {
        let runtime = runtime.clone();
        tokio::spawn(async move { runtime.shutdown().await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;

    let errors = reload(
        &runtime,
        &path,
        &(text + &listener("late", "http", late, "app")),
    )
    .await
    .expect_err("a reload while shutting down");
    assert!(
        errors.iter().any(|e| e.contains("shutting down")),
        "{errors:?}"
    );
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", late))
            .await
            .is_err(),
        "a listener was started during the shutdown"
    );
    let (status, _) = in_flight.await.unwrap().unwrap();
    assert_eq!(status, 200);
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_every_server_of_a_pool_under_load_fails_no_request() {
    let (a, b) = (Flip::start("a").await, Flip::start("b").await);
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let only = |server: &Flip| pool_toml("app", &[server]) + &listener("web", "http", port, "app");
    let runtime = start(&path, &only(&a)).await;

    let load = Load::start(port, Connections::KeptAlive);
    // The pool's only server is replaced by another one, back and forth.
    for i in 0..8 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let next = if i % 2 == 0 { &b } else { &a };
        reload(&runtime, &path, &only(next))
            .await
            .unwrap_or_else(|e| panic!("reload {i} refused: {e:?}"));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (sent, failed) = load.finish().await;
    assert!(sent > 100, "too little load: {sent}");
    assert_eq!(failed, 0, "of {sent} requests");
    runtime.shutdown().await;
}

/// One DNS query for `name` A over UDP: the response code, or `None` without an answer.
async fn dns_rcode(port: u16, name: &str) -> Option<u8> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.ok()?;
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    socket.send_to(&query, ("127.0.0.1", port)).await.ok()?;
    let mut answer = [0u8; 512];
    let (n, _) = tokio::time::timeout(Duration::from_secs(1), socket.recv_from(&mut answer))
        .await
        .ok()?
        .ok()?;
    (n >= 12 && answer[..2] == [0x12, 0x34]).then_some(answer[3] & 0x0f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_listener_removed_and_added_back_at_once_is_bound_again() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let zone = "[[zone]]\nname = \"t.test\"\nns = [\"ns1.t.test\"]\n\
                [zone.soa]\nprimary = \"ns1.t.test\"\ncontact = \"h.t.test\"\n\
                [[zone.record]]\nname = \"ns1\"\ntype = \"A\"\nvalues = [\"127.0.0.1\"]\n"
        .to_string();
    let with = format!(
        "[[listener]]\nname = \"dns\"\nprotocol = \"dns\"\nlisten = \"127.0.0.1:{port}\"\n"
    ) + &zone;
    let runtime = start(&path, &with).await;
    assert_eq!(dns_rcode(port, "ns1.t.test").await, Some(0));
    for i in 0..3 {
        reload(&runtime, &path, &zone)
            .await
            .unwrap_or_else(|e| panic!("removing the listener ({i}): {e:?}"));
        reload(&runtime, &path, &with)
            .await
            .unwrap_or_else(|e| panic!("adding it back at once ({i}): {e:?}"));
        assert_eq!(dns_rcode(port, "ns1.t.test").await, Some(0));
    }
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_the_requests_of_a_listener_a_reload_removed() {
    let slow = Flip::start_with_delay("slow", Duration::from_millis(1500)).await;
    let (web, side) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let without = "[global]\nshutdown_timeout = \"10s\"\n".to_string()
        + &pool_toml("app", &[&slow])
        + &listener("web", "http", web, "app");
    let runtime = start(
        &path,
        &(without.clone() + &listener("side", "http", side, "app")),
    )
    .await;
    let in_flight =
        tokio::spawn(async move { get(&client(), &format!("http://127.0.0.1:{side}/")).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    reload(&runtime, &path, &without).await.unwrap();
    let stopping = {
        let runtime = runtime.clone();
        tokio::spawn(async move { runtime.shutdown().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !stopping.is_finished(),
        "shutdown did not wait for the removed listener's request"
    );
    let (status, body) = in_flight.await.unwrap().unwrap();
    assert_eq!((status, body.as_str()), (200, "slow"));
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_of_an_empty_file_is_refused_and_every_listener_keeps_serving() {
    let a = Flip::start("a").await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let runtime = start(
        &path,
        &(pool_toml("app", &[&a]) + &listener("web", "http", port, "app")),
    )
    .await;
    // What a reload reads while `cp` rewrites the file in place.
    for half_written in ["", "\n  \n"] {
        let errors = reload(&runtime, &path, half_written)
            .await
            .expect_err("an empty file must not stop every listener");
        assert!(errors[0].contains("the file is empty"), "{errors:?}");
        assert_eq!(fresh_get(port).await, Ok(()));
    }
    assert!(runtime.pools().contains_key("app"));
    runtime.shutdown().await;
}

/// Readiness is a start-up gate: once ready, a reload that adds a pool whose first
/// health round takes a while does not report the serving process as not ready (an
/// orchestrator would take every reloaded replica out of service at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_adding_a_pool_keeps_a_ready_runtime_ready() {
    let a = Flip::start("a").await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let text = pool_toml("app", &[&a]) + &listener("web", "http", port, "app");
    let runtime = start(&path, &text).await;
    // A server that accepts connections (the kernel does) and never answers: the new
    // pool's first HTTP check lasts its whole 1 s timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let added = format!(
        "[[pool]]\nname = \"later\"\n[pool.health]\ncheck = \"http\"\npath = \"/health\"\n\
         interval = \"3s\"\ntimeout = \"1s\"\n\
         [[pool.server]]\nname = \"s\"\naddress = \"{}\"\n",
        silent.local_addr().unwrap()
    );
    reload(&runtime, &path, &format!("{text}{added}"))
        .await
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        assert!(
            runtime.ready(),
            "not ready {:?} after a reload that added a pool",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    runtime.shutdown().await;
    assert!(!runtime.ready(), "not ready while shutting down");
    drop(silent);
}

/// A POST to the admin API with `token`, on a fresh connection: the status, or `None`
/// when nothing answers.
async fn admin_post(port: u16, path: &str, token: &str) -> Option<u16> {
    let req = hyper::Request::post(format!("http://127.0.0.1:{port}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(5), client().request(req)).await;
    resp.ok()?.ok().map(|r| r.status().as_u16())
}

/// Rotating `admin.token` through the admin API itself: the reload answers 200, the
/// API keeps listening on its address, and the new token is the one that works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_admin_token_through_an_admin_reload_keeps_the_admin_api() {
    let a = Flip::start("a").await;
    let (port, admin) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let body = pool_toml("app", &[&a]) + &listener("web", "http", port, "app");
    let with_token = |token: &str| {
        format!("[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken = \"{token}\"\n{body}")
    };
    let runtime = start(&path, &with_token("old")).await;
    std::fs::write(&path, with_token("new")).unwrap();
    let reload_req = hyper::Request::post(format!("http://127.0.0.1:{admin}/api/v1/reload"))
        .header("authorization", "Bearer old")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = client().request(reload_req).await.unwrap();
    assert_eq!(resp.status(), 200, "the reload that rotates the token");
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let summary: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        summary["changed"],
        serde_json::json!(["admin"]),
        "{summary}"
    );
    let drain = "/api/v1/pools/app/servers/a/drain";
    let mut answered = None;
    for _ in 0..50 {
        answered = admin_post(admin, drain, "new").await;
        if answered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(answered, Some(200), "the new token works");
    assert_eq!(admin_post(admin, drain, "old").await, Some(401));
    // And again by SIGHUP's path, with no admin request in flight.
    reload(&runtime, &path, &with_token("newer")).await.unwrap();
    assert_eq!(admin_post(admin, drain, "newer").await, Some(200));
    runtime.shutdown().await;
}

/// Moving the admin API to a busy port fails the reload before anything changed, like
/// a listener's busy port: the new listener of the same reload is not started, and the
/// admin API stays where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_moving_the_admin_api_to_a_busy_port_changes_nothing() {
    let a = Flip::start("a").await;
    let (port, added, admin) = (free_port(), free_port(), free_port());
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let body = pool_toml("app", &[&a]) + &listener("web", "http", port, "app");
    let admin_at = |p: u16| format!("[admin]\nlisten = \"127.0.0.1:{p}\"\ntoken = \"t\"\n");
    let runtime = start(&path, &format!("{}{body}", admin_at(admin))).await;
    let text = format!(
        "{}{body}{}",
        admin_at(busy_port),
        listener("more", "http", added, "app")
    );
    let errors = reload(&runtime, &path, &text).await.unwrap_err();
    assert!(
        errors.iter().any(|e| e.contains(&format!("{busy_port}"))),
        "{errors:?}"
    );
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", added))
            .await
            .is_err(),
        "the refused reload started its new listener"
    );
    assert_eq!(
        admin_post(admin, "/api/v1/pools/app/servers/a/drain", "t").await,
        Some(200),
        "the admin API stays where it was"
    );
    // The same file once the port is free is applied whole.
    drop(busy);
    reload(&runtime, &path, &text).await.unwrap();
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", added))
        .await
        .is_ok());
    assert_eq!(
        admin_post(busy_port, "/api/v1/pools/app/servers/a/enable", "t").await,
        Some(200)
    );
    runtime.shutdown().await;
}
