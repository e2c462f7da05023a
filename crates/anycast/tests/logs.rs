//! What the controller says in the log, as an operator reads it.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{eventually, FakeBird};
use switchyard_anycast::{Controller, Tuning};
use switchyard_config::{Announce, Anycast};

/// Log lines, captured.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A reload that removes `[anycast]` withdraws every prefix while switchyard goes on
/// serving; the withdrawal used to be logged as `withdrawing 198.18.0.1/32: shutting
/// down`, which sent the operator looking for a stopping process.
#[tokio::test]
async fn removing_anycast_says_so_and_not_shutting_down() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let bird = FakeBird::start(dir.path(), &[("vip_web", false)]);
    let cfg = Anycast {
        bird_socket: bird.path.clone(),
        hold_down: Duration::ZERO,
        withdraw_delay: Duration::ZERO,
        announces: vec![Announce {
            prefix: "198.18.0.1/32".parse().unwrap(),
            bird_protocol: "vip_web".to_string(),
            pools: vec!["app".to_string()],
            min_healthy: 1,
        }],
    };
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
