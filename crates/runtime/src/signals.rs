//! Signals and systemd: `SIGHUP` reloads, `SIGTERM`/`SIGINT` shut down gracefully (a
//! second one stops waiting for work in flight), and
//! under systemd (`Type=notify`) the service manager hears READY, RELOADING and STOPPING.

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::Runtime;

/// The signals switchyard answers, listened for from before the runtime starts. Until a
/// process listens for them, SIGHUP, SIGTERM and SIGINT kill it; installed first, one
/// that arrives while listeners are being bound (GeoIP databases read, certificates
/// loaded) is acted on as soon as start-up is done.
#[derive(Debug)]
pub struct Signals {
    hup: Signal,
    term: Signal,
    int: Signal,
}

impl Signals {
    /// Starts listening for SIGHUP, SIGTERM and SIGINT (inside a tokio runtime).
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }
}

/// Serves until SIGTERM or SIGINT, then shuts down gracefully.
pub(crate) async fn run(runtime: &Runtime, signals: Signals) -> std::io::Result<()> {
    let Signals {
        mut hup,
        mut term,
        mut int,
    } = signals;
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
