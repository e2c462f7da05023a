//! The controller against a fake BIRD control socket, with real time and short timings:
//! hold-down, immediate withdrawal, reconciliation at start, BIRD restarts, reloads, and
//! withdraw-first shutdown.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{eventually, FakeBird};
use switchyard_anycast::{Controller, Tuning};
use switchyard_config::{Announce, Anycast};

const HOLD: Duration = Duration::from_millis(400);
const LIMIT: Duration = Duration::from_secs(5);

fn tuning() -> Tuning {
    Tuning {
        tick: Duration::from_millis(20),
        io_timeout: Duration::from_secs(1),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        reconcile_every: Duration::from_secs(30),
    }
}

fn announce(prefix: &str, proto: &str, pools: &[&str]) -> Announce {
    Announce {
        prefix: prefix.parse().unwrap(),
        bird_protocol: proto.to_string(),
        pools: pools.iter().map(|p| p.to_string()).collect(),
        min_healthy: 1,
    }
}

fn config(socket: &Path, announces: Vec<Announce>) -> Anycast {
    Anycast {
        bird_socket: socket.to_owned(),
        hold_down: HOLD,
        withdraw_delay: Duration::from_millis(300),
        announces,
    }
}

/// A pool `app` whose up count the test sets.
fn app_pool(up: usize) -> (Arc<AtomicUsize>, Arc<dyn switchyard_anycast::HealthSource>) {
    let count = Arc::new(AtomicUsize::new(up));
    let c = count.clone();
    let source = move |pool: &str| (pool == "app").then(|| c.load(Ordering::Relaxed));
    (count, Arc::new(source))
}

#[tokio::test]
async fn announces_after_hold_down_and_withdraws_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let bird = FakeBird::start(dir.path(), &[("vip_web", false)]);
    let (up, health) = app_pool(1);
    let cfg = config(
        &bird.path,
        vec![announce("198.18.0.1/32", "vip_web", &["app"])],
    );
    let started = Instant::now();
    let c = Controller::start_with(&cfg, health, tuning());

    assert!(eventually(LIMIT, || bird.enabled("vip_web") == Some(true)).await);
    assert!(started.elapsed() >= HOLD, "announced before the hold-down");
    // BIRD has the route before the controller has read BIRD's reply and updated its
    // status; wait for that, as for the withdrawal below.
    assert!(eventually(LIMIT, || c.status()[0].announced).await);
    let s = &c.status()[0];
    assert_eq!(
        (s.prefix.as_str(), s.bird_protocol.as_str()),
        ("198.18.0.1/32", "vip_web")
    );
    assert!(s.announced && s.wanted);
    assert_eq!(s.reason, "healthy for 400ms (hold-down)");

    up.store(0, Ordering::Relaxed);
    let lost = Instant::now();
    assert!(eventually(LIMIT, || bird.enabled("vip_web") == Some(false)).await);
    assert!(
        lost.elapsed() < Duration::from_millis(300),
        "withdrawal took {:?}",
        lost.elapsed()
    );
    assert!(eventually(LIMIT, || !c.status()[0].announced).await);
    assert_eq!(
        c.status()[0].reason,
        "pool app has 0 of 1 required healthy server"
    );

    // A flap shorter than the hold-down does not bring the route back.
    up.store(1, Ordering::Relaxed);
    tokio::time::sleep(HOLD / 2).await;
    up.store(0, Ordering::Relaxed);
    tokio::time::sleep(HOLD / 2).await;
    up.store(1, Ordering::Relaxed);
    tokio::time::sleep(HOLD / 2).await;
    assert_eq!(
        bird.enabled("vip_web"),
        Some(false),
        "flapped faster than the hold-down"
    );
    assert!(eventually(LIMIT, || bird.enabled("vip_web") == Some(true)).await);

    let n = c.counters();
    assert_eq!((n.announces, n.withdrawals, n.errors), (2, 1, 0));
    assert!(n.connected);
    c.stop().await;
    assert_eq!(bird.enabled("vip_web"), Some(false));
}

#[tokio::test]
async fn reconciles_at_start_withdrawing_what_bird_announces_without_health() {
    let dir = tempfile::tempdir().unwrap();
    // bird.conf left the protocol enabled; the pool has nothing up.
    let bird = FakeBird::start(dir.path(), &[("vip_web", true)]);
    let (_up, health) = app_pool(0);
    let cfg = config(
        &bird.path,
        vec![announce("198.18.0.1/32", "vip_web", &["app"])],
    );
    let c = Controller::start_with(&cfg, health, tuning());
    assert!(eventually(LIMIT, || bird.enabled("vip_web") == Some(false)).await);
    let commands = bird.commands();
    assert_eq!(commands[0], "show protocols \"vip_web\"");
    assert_eq!(commands[1], "disable \"vip_web\"");
    assert_eq!(c.counters().withdrawals, 1);
    c.stop().await;
}

#[tokio::test]
async fn a_bird_restart_is_reconciled() {
    let dir = tempfile::tempdir().unwrap();
    let mut bird = FakeBird::start(dir.path(), &[("vip_web", false)]);
    let (_up, health) = app_pool(1);
    let mut cfg = config(
        &bird.path,
        vec![announce("198.18.0.1/32", "vip_web", &["app"])],
    );
    cfg.hold_down = Duration::ZERO;
    let c = Controller::start_with(&cfg, health, tuning());
    assert!(eventually(LIMIT, || bird.enabled("vip_web") == Some(true)).await);

    // BIRD restarts with bird.conf's `disabled`: the controller notices the closed
    // socket, reconnects once BIRD is back, sees the protocol down and enables it.
    bird.restart(Duration::from_millis(300)).await;
    assert_eq!(bird.enabled("vip_web"), Some(false));
    assert!(eventually(LIMIT, || bird.enabled("vip_web") == Some(true)).await);
    assert_eq!(bird.state.lock().unwrap().connections, 2);
    // Counted once the controller has read BIRD's reply, a moment after BIRD enabled it.
    assert!(
        eventually(LIMIT, || c.counters().announces == 2).await,
        "{:?}",
        c.counters()
    );
    let n = c.counters();
    assert!(n.errors >= 1, "the broken socket is counted: {n:?}");
    c.stop().await;
}

#[tokio::test]
async fn waits_for_bird_that_is_not_running_yet() {
    let dir = tempfile::tempdir().unwrap();
    let (_up, health) = app_pool(1);
    let mut cfg = config(
        &dir.path().join("bird.ctl"),
        vec![announce("198.18.0.1/32", "vip_web", &["app"])],
    );
    cfg.hold_down = Duration::ZERO;
    let c = Controller::start_with(&cfg, health, tuning());
    assert!(
        eventually(LIMIT, || c.status()[0]
            .reason
            .contains("cannot connect to BIRD"))
        .await
    );
    let s = &c.status()[0];
    assert!(s.wanted && !s.announced, "{s:?}");
    assert!(!c.counters().connected);

    let bird = FakeBird::start(dir.path(), &[("vip_web", false)]);
    assert!(eventually(LIMIT, || bird.enabled("vip_web") == Some(true)).await);
    assert!(eventually(LIMIT, || c.status()[0].announced).await);
    assert_eq!(c.status()[0].reason, "healthy (no hold-down)");
    c.stop().await;
}

#[tokio::test]
async fn an_unknown_protocol_is_reported_and_others_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let bird = FakeBird::start(dir.path(), &[("vip_web", false)]);
    let (_up, health) = app_pool(1);
    let mut cfg = config(
        &bird.path,
        vec![
            announce("198.18.0.1/32", "vip_web", &["app"]),
            announce("198.18.0.2/32", "vip_typo", &["app"]),
        ],
    );
    cfg.hold_down = Duration::ZERO;
    let c = Controller::start_with(&cfg, health, tuning());
    assert!(eventually(LIMIT, || bird.enabled("vip_web") == Some(true)).await);
    assert!(
        eventually(LIMIT, || c.status()[1]
            .reason
            .contains("no protocol named vip_typo"))
        .await
    );
    assert!(!c.status()[1].announced);
    // Retried with backoff, not on every tick.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tries = bird
        .commands()
        .iter()
        .filter(|l| l.contains("vip_typo"))
        .count();
    assert!((2..=10).contains(&tries), "{tries} attempts in ~0.5s");
    assert!(c.counters().errors >= 2);
    c.stop().await;
}

#[tokio::test]
async fn a_reload_withdraws_announcements_it_removes() {
    let dir = tempfile::tempdir().unwrap();
    let bird = FakeBird::start(dir.path(), &[("vip_web", false), ("vip_api", false)]);
    let (_up, health) = app_pool(1);
    let mut cfg = config(
        &bird.path,
        vec![
            announce("198.18.0.1/32", "vip_web", &["app"]),
            announce("198.18.0.2/32", "vip_api", &["app"]),
        ],
    );
    cfg.hold_down = Duration::ZERO;
    let c = Controller::start_with(&cfg, health, tuning());
    assert!(
        eventually(LIMIT, || bird.enabled("vip_api") == Some(true)
            && bird.enabled("vip_web") == Some(true))
        .await
    );
    let mut next = cfg.clone();
    next.announces.remove(1);
    next.hold_down = Duration::from_secs(60);
    c.update(&next);
    assert!(eventually(LIMIT, || bird.enabled("vip_api") == Some(false)).await);
    assert!(eventually(LIMIT, || c.status().len() == 1).await);
    // The kept announcement kept its state: no new hold-down.
    assert_eq!(bird.enabled("vip_web"), Some(true));
    assert!(c.status()[0].announced);
    c.stop().await;
}

#[tokio::test]
async fn shutdown_withdraws_first_then_waits_the_withdraw_delay() {
    let dir = tempfile::tempdir().unwrap();
    let bird = FakeBird::start(dir.path(), &[("vip_web", false)]);
    let (_up, health) = app_pool(1);
    let mut cfg = config(
        &bird.path,
        vec![announce("198.18.0.1/32", "vip_web", &["app"])],
    );
    cfg.hold_down = Duration::ZERO;
    cfg.withdraw_delay = Duration::from_millis(600);
    let c = Controller::start_with(&cfg, health, tuning());
    assert!(eventually(LIMIT, || bird.enabled("vip_web") == Some(true)).await);

    let state = bird.state.clone();
    let watcher = tokio::spawn(async move {
        let t = Instant::now();
        while state.lock().unwrap().enabled.get("vip_web") == Some(&true) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        t.elapsed()
    });
    let t = Instant::now();
    c.shutdown().await;
    let took = t.elapsed();
    let withdrawn_after = watcher.await.unwrap();
    assert!(
        withdrawn_after < Duration::from_millis(200),
        "withdrew after {withdrawn_after:?}"
    );
    assert!(
        took >= Duration::from_millis(600),
        "returned after {took:?}, before withdraw_delay"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn a_manual_enable_behind_our_back_is_corrected_on_reconcile() {
    let dir = tempfile::tempdir().unwrap();
    let bird = FakeBird::start(dir.path(), &[("vip_web", false)]);
    let (_up, health) = app_pool(0);
    let cfg = config(
        &bird.path,
        vec![announce("198.18.0.1/32", "vip_web", &["app"])],
    );
    let mut t = tuning();
    t.reconcile_every = Duration::from_millis(200);
    let c = Controller::start_with(&cfg, health, t);
    assert!(eventually(LIMIT, || !bird.commands().is_empty()).await);
    bird.set("vip_web", true); // `birdc enable vip_web` by hand
    assert!(eventually(LIMIT, || bird.enabled("vip_web") == Some(false)).await);
    c.stop().await;
}

#[tokio::test]
async fn a_protocol_shared_by_two_announcements_needs_both_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let bird = FakeBird::start(dir.path(), &[("vip_web", false)]);
    let db_up = Arc::new(AtomicUsize::new(1));
    let db = db_up.clone();
    let health = move |pool: &str| match pool {
        "app" => Some(1),
        "db" => Some(db.load(Ordering::Relaxed)),
        _ => None,
    };
    let mut cfg = config(
        &bird.path,
        vec![
            announce("198.18.0.1/32", "vip_web", &["app"]),
            announce("198.18.0.2/32", "vip_web", &["db"]),
        ],
    );
    cfg.hold_down = Duration::ZERO;
    let c = Controller::start_with(&cfg, Arc::new(health), tuning());
    assert!(eventually(LIMIT, || bird.enabled("vip_web") == Some(true)).await);
    db_up.store(0, Ordering::Relaxed);
    assert!(eventually(LIMIT, || bird.enabled("vip_web") == Some(false)).await);
    // The status follows once the controller has read BIRD's reply, a moment after the
    // fake BIRD changed state.
    let withdrawn = || {
        let s = c.status();
        s[0].wanted && !s[0].announced
    };
    assert!(eventually(LIMIT, withdrawn).await, "{:?}", c.status());
    let s = c.status();
    assert_eq!(s[1].reason, "pool db has 0 of 1 required healthy server");
    c.stop().await;
}
