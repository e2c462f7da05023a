//! The admin API listener: started, moved or stopped with `[admin]` on every reload.
//!
//! It is served until process exit, not until shutdown begins, so `/readyz` can answer
//! 503 while the data planes drain.

use std::sync::Arc;

use switchyard_config as config;
use tokio_util::sync::CancellationToken;

use crate::{listeners, RuntimeControl, RuntimeError};

/// The running admin listener.
pub(crate) struct AdminTask {
    config: config::Admin,
    cancel: CancellationToken,
}

/// Brings the admin listener in line with `wanted`: keeps it when unchanged, else binds
/// the new address first (a busy port fails the reload) and then stops the old one.
pub(crate) fn reconcile(
    current: &mut Option<AdminTask>,
    wanted: Option<&config::Admin>,
    control: RuntimeControl,
) -> Result<(), RuntimeError> {
    if current.as_ref().map(|t| &t.config) == wanted {
        return Ok(());
    }
    let next = match wanted {
        Some(admin) => {
            let reuse = current
                .as_ref()
                .filter(|t| t.config.listen == admin.listen)
                .is_some();
            let listener = if reuse {
                None
            } else {
                Some(
                    listeners::bind_tcp(admin.listen).map_err(|error| RuntimeError::Admin {
                        addr: admin.listen,
                        error,
                    })?,
                )
            };
            Some((admin.clone(), listener))
        }
        None => None,
    };
    // A token change on the same address rebinds too: stop the old one first.
    if let Some(old) = current.take() {
        old.cancel.cancel();
    }
    if let Some((admin, listener)) = next {
        let listener = match listener {
            Some(l) => l,
            None => {
                listeners::bind_tcp_retry(admin.listen).map_err(|error| RuntimeError::Admin {
                    addr: admin.listen,
                    error,
                })?
            }
        };
        let cancel = CancellationToken::new();
        tokio::spawn(switchyard_admin::serve(
            listener,
            Arc::new(control),
            admin.token.clone(),
            cancel.clone(),
        ));
        tracing::info!(listen = %admin.listen, "admin API and dashboard listening");
        *current = Some(AdminTask {
            config: admin,
            cancel,
        });
    }
    Ok(())
}

impl AdminTask {
    /// Stops serving the admin API.
    pub(crate) fn stop(self) {
        self.cancel.cancel();
    }
}
