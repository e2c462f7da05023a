//! Signals sent while switchyard starts are acted on once it runs, not fatal. In a file of
//! its own: it raises SIGHUP and SIGTERM at this test process.

mod support;

use std::time::Duration;

use support::{free_port, wait_for};
use switchyard_runtime::{Runtime, Signals};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sighup_and_a_sigterm_sent_during_start_up_reload_then_stop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    let port = free_port();
    std::fs::write(
        &path,
        format!(
            "[[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:{port}\"\n\
             [[listener.route]]\npath = \"/\"\nrespond = {{ status = 200, body = \"hi\" }}\n"
        ),
    )
    .unwrap();
    let signals = Signals::install().unwrap();
    // Without the listeners installed above, this would end the test process.
    // SAFETY: raise(3) has no memory-safety preconditions.
    assert_eq!(unsafe { libc::raise(libc::SIGHUP) }, 0);
    let runtime = Runtime::start(switchyard_config::load(&path).unwrap(), Some(path.clone()))
        .await
        .unwrap();
    let runtime = std::sync::Arc::new(runtime);
    let serving = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.run_until_signalled(signals).await }
    });
    assert!(
        wait_for(Duration::from_secs(5), || async {
            runtime.reload_counts() == (1, 0)
        })
        .await
        .is_some(),
        "the SIGHUP sent during start-up reloads once running: {:?}",
        runtime.reload_counts()
    );
    // SAFETY: as above.
    assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
    let stopped = tokio::time::timeout(Duration::from_secs(10), serving).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
    assert!(!runtime.ready());
}
