//! What the controller says in the log, as an operator reads it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{eventually, FakeBird};
use switchyard_anycast::{Controller, Tuning};
use switchyard_config::{Announce, Anycast};

/// `198.18.0.1/32` through BIRD protocol `vip_web` while pool `app` has a server up, with
/// no hold-down or withdraw delay.
fn vip_web_for_app(bird: &FakeBird) -> Anycast {
    Anycast {
        bird_socket: bird.path.clone(),
        hold_down: Duration::ZERO,
        withdraw_delay: Duration::ZERO,
        announces: vec![Announce {
            prefix: "198.18.0.1/32".parse().unwrap(),
            bird_protocol: "vip_web".to_string(),
            pools: vec!["app".to_string()],
            min_healthy: 1,
        }],
    }
}

/// A reload that removes `[anycast]` withdraws every prefix while switchyard goes on
/// serving; the withdrawal used to be logged as `withdrawing 198.18.0.1/32: shutting
/// down`, which sent the operator looking for a stopping process.
#[tokio::test]
async fn removing_anycast_says_so_and_not_shutting_down() {
    let (log, _guard) = switchyard_testkit::logs::capture();

    let dir = tempfile::tempdir().unwrap();
    let bird = FakeBird::start(dir.path(), &[("vip_web", false)]);
    let cfg = vip_web_for_app(&bird);
    let health = Arc::new(|pool: &str| (pool == "app").then_some(1));
    let tuning = Tuning {
        tick: Duration::from_millis(20),
        ..Tuning::default()
    };
    let c = Controller::start_with(&cfg, health, tuning);
    assert!(
        eventually(Duration::from_secs(5), || bird.enabled("vip_web")
            == Some(true))
        .await
    );
    c.stop().await;
    assert_eq!(bird.enabled("vip_web"), Some(false));
    let text = log.text();
    assert!(
        text.contains(
            "anycast: withdrawing 198.18.0.1/32: [anycast] removed from the configuration"
        ),
        "{text}"
    );
    assert!(!text.contains("shutting down"), "{text}");
}

/// A protocol switched in BIRD by hand (`birdc enable`) against switchyard's decision is
/// corrected at the next reconcile, and that is worth a warning: someone is changing BIRD
/// behind switchyard's back. (At start, BIRD's configured state differing is expected.)
#[tokio::test]
async fn a_protocol_changed_by_hand_in_bird_is_warned_about_and_corrected() {
    let (log, _guard) = switchyard_testkit::logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let bird = FakeBird::start(dir.path(), &[("vip_web", true)]);
    let cfg = vip_web_for_app(&bird);
    // No server up: the prefix must stay withdrawn.
    let health = Arc::new(|_: &str| Some(0));
    let tuning = Tuning {
        tick: Duration::from_millis(20),
        reconcile_every: Duration::from_millis(100),
        ..Tuning::default()
    };
    let c = Controller::start_with(&cfg, health, tuning);
    let off = || bird.enabled("vip_web") == Some(false);
    assert!(eventually(Duration::from_secs(5), off).await);
    assert!(!log.text().contains("WARN"), "{}", log.text());
    bird.set("vip_web", true);
    assert!(eventually(Duration::from_secs(5), || log.text().contains("WARN")).await);
    assert!(eventually(Duration::from_secs(5), off).await, "corrected");
    let text = log.text();
    assert!(text.contains("changed outside switchyard"), "{text}");
    c.stop().await;
}
