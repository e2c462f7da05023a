//! Bidirectional forwarding between a client and a server socket: half-close propagated
//! (EOF on one side becomes `shutdown(Write)` on the other; done when both directions
//! are), idle timeout, and a periodic check hook the caller uses for draining.
//!
//! Each direction starts with a small userspace copy (cheapest for short exchanges) and,
//! after [`SPLICE_AFTER`] bytes, switches to `splice(2)` through a pipe on Linux (see
//! `splice.rs`), unless splicing is switched off or a pipe cannot be made. Both directions
//! work on `&TcpStream` with tokio readiness, so no split halves or extra tasks are needed.

use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchyard_balance::clock;
use tokio::net::TcpStream;

#[cfg(target_os = "linux")]
use crate::splice;

/// Userspace copy buffer per direction: small at first, four times larger each time a
/// read fills it, up to `USER_BUF`.
const SMALL_BUF: usize = 4 * 1024;
const USER_BUF: usize = 256 * 1024;
/// Bytes a direction moves by userspace copy before switching to `splice(2)`.
pub const SPLICE_AFTER: u64 = 256 * 1024;

/// How a forwarded connection ended.
#[derive(Debug)]
pub enum End {
    /// Both directions reached EOF and were shut down.
    Done,
    /// No byte moved in either direction for the idle timeout.
    Idle,
    /// The caller's check asked to stop (drain timeout).
    Stopped,
    /// A socket error (reset, broken pipe) in one direction ended both.
    Error {
        /// Whether the server's socket failed (else the client's).
        server: bool,
        /// The error.
        error: io::Error,
    },
}

/// An error in one direction, and on which socket.
#[derive(Debug)]
pub struct DirError {
    /// Writing to the destination failed (else reading the source).
    pub on_write: bool,
    /// The error.
    pub error: io::Error,
}

/// Options of one forwarded connection.
#[derive(Debug, Clone, Copy)]
pub struct CopyOpts<'a> {
    /// Use `splice(2)` (Linux) for bulk directions; otherwise copy through a userspace
    /// buffer throughout.
    pub splice: bool,
    /// Close after this long without a byte in either direction.
    pub idle: Duration,
    /// Counts directions that switched to `splice(2)`.
    pub spliced: Option<&'a AtomicU64>,
}

/// Forwards until both directions are done, or idle, an error, or `check` says stop.
/// `moved_in(n)`/`moved_out(n)` are called as bytes reach the server / the client.
pub async fn forward_both(
    client: &TcpStream,
    server: &TcpStream,
    opts: CopyOpts<'_>,
    moved_in: impl Fn(usize),
    moved_out: impl Fn(usize),
    mut check: impl FnMut() -> bool,
) -> End {
    let last = AtomicU64::new(clock::now());
    let touch = || last.store(clock::now(), Ordering::Relaxed);
    let up = direction(client, server, opts, |n| {
        touch();
        moved_in(n)
    });
    let down = direction(server, client, opts, |n| {
        touch();
        moved_out(n)
    });
    tokio::pin!(up, down);
    let period = (opts.idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut up_done, mut down_done) = (false, false);
    while !(up_done && down_done) {
        tokio::select! {
            r = &mut up, if !up_done => match r {
                Ok(()) => up_done = true,
                Err(e) => return End::Error { server: e.on_write, error: e.error },
            },
            r = &mut down, if !down_done => match r {
                Ok(()) => down_done = true,
                Err(e) => return End::Error { server: !e.on_write, error: e.error },
            },
            _ = tick.tick() => {
                let idle_for = clock::now().saturating_sub(last.load(Ordering::Relaxed));
                if idle_for >= opts.idle.as_nanos() as u64 {
                    return End::Idle;
                }
                if check() {
                    return End::Stopped;
                }
            }
        }
    }
    End::Done
}

/// One direction: forward until EOF, then shut down the write side of `to`.
///
/// Starts with a small userspace buffer, which is cheapest for the short exchanges most
/// connections are; once a direction has moved [`SPLICE_AFTER`] bytes it is a bulk
/// transfer and switches to `splice(2)` (when enabled and a pipe can be made).
async fn direction(
    from: &TcpStream,
    to: &TcpStream,
    opts: CopyOpts<'_>,
    mut moved: impl FnMut(usize),
) -> Result<(), DirError> {
    let limit = if opts.splice { SPLICE_AFTER } else { u64::MAX };
    let bulk = forward_user(from, to, &mut moved, limit).await?;
    if bulk {
        forward_bulk(from, to, &mut moved, opts.spliced).await?;
    }
    match socket2::SockRef::from(to).shutdown(Shutdown::Write) {
        Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(DirError::write(e)),
        _ => Ok(()),
    }
}

/// The rest of a bulk direction: spliced when a pipe can be made, else copied.
async fn forward_bulk(
    from: &TcpStream,
    to: &TcpStream,
    moved: &mut impl FnMut(usize),
    spliced: Option<&AtomicU64>,
) -> Result<(), DirError> {
    #[cfg(target_os = "linux")]
    if let Ok(mut pipe) = splice::Pipe::new() {
        if let Some(c) = spliced {
            c.fetch_add(1, Ordering::Relaxed);
        }
        splice::forward(from, to, &mut pipe, moved).await?;
        return Ok(());
    }
    let _ = spliced;
    forward_user(from, to, moved, u64::MAX).await?;
    Ok(())
}

/// Userspace copy until `from` reads EOF (`Ok(false)`) or `limit` bytes have moved
/// (`Ok(true)`). The buffer starts small and grows when reads fill it.
async fn forward_user(
    from: &TcpStream,
    to: &TcpStream,
    moved: &mut impl FnMut(usize),
    limit: u64,
) -> Result<bool, DirError> {
    let mut buf = vec![0u8; SMALL_BUF];
    let mut total = 0u64;
    while total < limit {
        from.readable().await.map_err(DirError::read)?;
        let n = match from.try_read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(DirError::read(e)),
        };
        write_all(to, &buf[..n]).await.map_err(DirError::write)?;
        total += n as u64;
        moved(n);
        if n == buf.len() && buf.len() < USER_BUF {
            buf.resize((buf.len() * 4).min(USER_BUF), 0);
        }
    }
    Ok(true)
}

// === impl DirError ===

impl DirError {
    /// Reading the source failed.
    pub fn read(error: io::Error) -> Self {
        DirError {
            on_write: false,
            error,
        }
    }

    /// Writing the destination failed.
    pub fn write(error: io::Error) -> Self {
        DirError {
            on_write: true,
            error,
        }
    }
}

/// Writes all of `data` to `to` with readiness-driven non-blocking writes.
pub async fn write_all(to: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        to.writable().await?;
        match to.try_write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
