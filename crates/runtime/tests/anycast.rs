//! `[anycast]` through the runtime: the controller starts with the configuration, reads
//! the pools' health, shows up in `/api/v1/state` and `/metrics`, and a graceful shutdown
//! withdraws before the listeners stop serving. BIRD is the anycast crate's fake control
//! socket (the root suite, `tests/root/run`, runs real BIRD).

#[path = "../../anycast/tests/support/mod.rs"]
mod bird;
mod support;

use std::time::Duration;

use bird::{eventually, FakeBird};
use support::{client, config, free_port, get, Flip};
use switchyard_runtime::Runtime;

const LIMIT: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_drives_bird_and_shutdown_withdraws_before_draining() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeBird::start(dir.path(), &[("vip_web", false)]);
    let mut backend = Flip::start("a").await;
    let (port, admin) = (free_port(), free_port());
    let text = format!(
        "[admin]\nlisten = \"127.0.0.1:{admin}\"\n\
         [[pool]]\nname = \"app\"\nalgorithm = \"round_robin\"\n\
         [pool.health]\ncheck = \"http\"\npath = \"/health\"\ninterval = \"100ms\"\ntimeout = \"80ms\"\nrise = 1\nfall = 1\n\
         [[pool.server]]\nname = \"a\"\naddress = \"{}\"\n\
         [[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:{port}\"\npool = \"app\"\n\
         [anycast]\nbird_socket = \"{}\"\nhold_down = \"300ms\"\nwithdraw_delay = \"800ms\"\n\
         [[anycast.announce]]\nprefix = \"198.18.0.1/32\"\nbird_protocol = \"vip_web\"\npools = [\"app\"]\n",
        backend.addr,
        fake.path.display()
    );
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    assert!(
        eventually(LIMIT, || fake.enabled("vip_web") == Some(true)).await,
        "never announced"
    );

    let http = client();
    let base = format!("http://127.0.0.1:{admin}");
    let (_, doc) = get(&http, &format!("{base}/api/v1/state")).await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let a = &doc["anycast"][0];
    assert_eq!(a["prefix"], "198.18.0.1/32");
    assert_eq!(a["bird_protocol"], "vip_web");
    assert_eq!(a["announced"], true);
    assert_eq!(a["reason"], "healthy for 300ms (hold-down)");
    assert!(
        a["since"].as_u64().is_some_and(|ms| ms > 1_700_000_000_000),
        "{a}"
    );
    let (_, metrics) = get(&http, &format!("{base}/metrics")).await.unwrap();
    for line in [
        "switchyard_anycast_announces_total 1",
        "switchyard_anycast_withdrawals_total 0",
        "switchyard_anycast_errors_total 0",
        "switchyard_anycast_bird_connected 1",
        "switchyard_anycast_announced{prefix=\"198.18.0.1/32\",bird_protocol=\"vip_web\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in\n{metrics}"
        );
    }

    // The pool loses its server: withdrawn, and the state says why.
    backend.kill();
    assert!(
        eventually(LIMIT, || fake.enabled("vip_web") == Some(false)).await,
        "never withdrawn"
    );
    let (_, doc) = get(&http, &format!("{base}/api/v1/state")).await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["anycast"][0]["announced"], false);
    assert_eq!(
        doc["anycast"][0]["reason"],
        "pool app has 0 of 1 required healthy server"
    );

    backend.revive().await;
    assert!(
        eventually(LIMIT, || fake.enabled("vip_web") == Some(true)).await,
        "never re-announced"
    );

    // Shutdown: BIRD is told first, and the listener still serves during withdraw_delay.
    let stopping = runtime.clone();
    let shutdown = tokio::spawn(async move { stopping.shutdown().await });
    assert!(
        eventually(Duration::from_millis(300), || fake.enabled("vip_web")
            == Some(false))
        .await
    );
    let (status, body) = get(&http, &format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    assert_eq!(
        (status, body.as_str()),
        (200, "a"),
        "stopped serving before withdraw_delay"
    );
    // Meanwhile the state and metrics show the withdrawal (they used to show no
    // announcement at all, and the announced gauge vanished instead of reading 0).
    let (_, doc) = get(&http, &format!("{base}/api/v1/state")).await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let a = &doc["anycast"][0];
    assert_eq!(
        (&a["announced"], &a["reason"]),
        (&false.into(), &"shutting down".into()),
        "{doc}"
    );
    let (_, metrics) = get(&http, &format!("{base}/metrics")).await.unwrap();
    let line = "switchyard_anycast_announced{prefix=\"198.18.0.1/32\",bird_protocol=\"vip_web\"} 0";
    assert!(
        metrics.lines().any(|l| l == line),
        "no `{line}` in\n{metrics}"
    );
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_without_anycast_withdraws_every_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeBird::start(dir.path(), &[("vip_web", false)]);
    let port = free_port();
    let base = format!(
        "[[pool]]\nname = \"app\"\nalgorithm = \"round_robin\"\n\
         [pool.health]\ncheck = \"none\"\n\
         [[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:9\"\n\
         [[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:{port}\"\npool = \"app\"\n"
    );
    let with = format!(
        "{base}[anycast]\nbird_socket = \"{}\"\nhold_down = \"0s\"\n\
         [[anycast.announce]]\nprefix = \"198.18.0.1/32\"\nbird_protocol = \"vip_web\"\npools = [\"app\"]\n",
        fake.path.display()
    );
    let runtime = Runtime::start(config(&with), None).await.unwrap();
    assert!(eventually(LIMIT, || fake.enabled("vip_web") == Some(true)).await);
    runtime.apply(config(&base)).await.unwrap();
    assert_eq!(
        fake.enabled("vip_web"),
        Some(false),
        "withdrawn by the time apply returns"
    );
    let control = switchyard_runtime::RuntimeControl::new(runtime.clone());
    let doc = switchyard_admin::Control::state(&control);
    assert!(doc.anycast.is_empty(), "{:?}", doc.anycast);
    runtime.shutdown().await;
}
