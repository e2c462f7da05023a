//! Signals and systemd: `SIGHUP` reloads, `SIGTERM`/`SIGINT` shut down gracefully (a
//! second one stops waiting for work in flight), and
//! under systemd (`Type=notify`) the service manager hears READY, RELOADING and STOPPING.

use tokio::signal::unix::{signal, SignalKind};

use crate::Runtime;

/// Serves until SIGTERM or SIGINT, then shuts down gracefully.
pub(crate) async fn run(runtime: &Runtime) -> std::io::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    notify(&[sd_notify::NotifyState::Ready]);
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                match sd_notify::NotifyState::monotonic_usec_now() {
                    Ok(now) => notify(&[sd_notify::NotifyState::Reloading, now]),
                    Err(_) => notify(&[sd_notify::NotifyState::Reloading]),
                }
                let _ = runtime.reload_from_file().await;
                notify(&[sd_notify::NotifyState::Ready]);
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    notify(&[sd_notify::NotifyState::Stopping]);
    // A second SIGTERM or SIGINT ends the wait for work in flight (an operator pressing
    // Ctrl-C again does not want to wait for `shutdown_timeout`).
    let again = async {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    runtime.shutdown_until(again).await;
    runtime.stop_admin();
    Ok(())
}

/// Tells systemd, when we run under it (a no-op otherwise).
fn notify(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "systemd notification failed");
    }
}
