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
    /// A second descriptor of the listening socket, so a change that keeps the address
    /// (the token) hands the same socket to the next server instead of binding again,
    /// which fails while the old server still holds it (a reload asked through the
    /// admin API is a request in flight there).
    socket: std::net::TcpListener,
}

/// What a reload does with the admin listener, decided (and a new address bound) by
/// [`prepare`] before the reload changes anything, so a busy port fails it whole.
pub(crate) enum Plan {
    /// `[admin]` is unchanged.
    Keep,
    /// `[admin]` was removed.
    Stop,
    /// Serve `admin` on `listener` (bound now, or the running socket when the address
    /// stays); `socket` is a second descriptor of it.
    Start {
        admin: config::Admin,
        listener: tokio::net::TcpListener,
        socket: std::net::TcpListener,
    },
}

/// Decides what to do with the admin listener for `wanted`; binds a new address now.
pub(crate) fn prepare(
    current: &Option<AdminTask>,
    wanted: Option<&config::Admin>,
) -> Result<Plan, RuntimeError> {
    if current.as_ref().map(|t| &t.config) == wanted {
        return Ok(Plan::Keep);
    }
    let Some(admin) = wanted else {
        return Ok(Plan::Stop);
    };
    let error = |error| RuntimeError::Admin {
        addr: admin.listen,
        error,
    };
    let kept = current.as_ref().filter(|t| t.config.listen == admin.listen);
    let listener = match kept {
        Some(task) => task
            .socket
            .try_clone()
            .and_then(tokio::net::TcpListener::from_std)
            .map_err(error)?,
        None => listeners::bind_tcp(admin.listen).map_err(error)?,
    };
    let socket = clone_std(&listener).map_err(error)?;
    Ok(Plan::Start {
        admin: admin.clone(),
        listener,
        socket,
    })
}

/// Carries out `plan`: the old server stops accepting and finishes its requests in
/// flight (the reload that got here may be one of them); a new one accepts on the
/// prepared socket.
pub(crate) fn commit(current: &mut Option<AdminTask>, plan: Plan, control: RuntimeControl) {
    let next = match plan {
        Plan::Keep => return,
        Plan::Stop => None,
        Plan::Start {
            admin,
            listener,
            socket,
        } => Some((admin, listener, socket)),
    };
    if let Some(old) = current.take() {
        old.cancel.cancel();
    }
    if let Some((admin, listener, socket)) = next {
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
            socket,
        });
    }
}

/// A second descriptor of `listener`'s socket (non-blocking, as tokio needs it).
fn clone_std(listener: &tokio::net::TcpListener) -> std::io::Result<std::net::TcpListener> {
    let fd = std::os::fd::AsFd::as_fd(listener).try_clone_to_owned()?;
    let socket = std::net::TcpListener::from(fd);
    socket.set_nonblocking(true)?;
    Ok(socket)
}

impl AdminTask {
    /// Stops serving the admin API.
    pub(crate) fn stop(self) {
        self.cancel.cancel();
    }
}
