//! Bidirectional forwarding between a client and a server socket: half-close propagated
//! (EOF on one side becomes `shutdown(Write)` on the other; done when both directions
//! are), idle timeout, and a periodic check hook the caller uses for draining.
//!
//! Each direction starts with a small userspace copy (cheapest for short exchanges) and,
//! after [`SPLICE_AFTER`] bytes, switches to `splice(2)` through a pipe on Linux (see
//! `splice.rs`), unless splicing is switched off or a pipe cannot be made. Both directions
//! run in the connection's task on borrowed halves of the two sockets (no extra tasks).
//! Reads go through tokio's `AsyncRead`, which takes a short read as proof that the
//! socket is drained (epoll is edge-triggered), so a direction does not pay a read that
//! fails with `EAGAIN` after every chunk.

use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchyard_balance::clock;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;

#[cfg(target_os = "linux")]
use crate::splice;

/// Userspace copy: reads of up to `SMALL_BUF` bytes go through a stack buffer; a direction
/// whose read fills it gets a heap buffer, four times larger each time a read fills it, up
/// to `USER_BUF`.
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

// === impl End ===

impl End {
    /// How the connection ended, in the access log's words.
    pub fn words(&self) -> &'static str {
        match self {
            End::Done => "done",
            End::Idle => "idle timeout",
            End::Stopped => "drain timeout",
            End::Error { server: true, .. } => "server reset",
            End::Error { server: false, .. } => "client reset",
        }
    }

    /// The socket error that ended it, if one did.
    pub fn error(&self) -> Option<&io::Error> {
        match self {
            End::Error { error, .. } => Some(error),
            _ => None,
        }
    }
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
    client: &mut TcpStream,
    server: &mut TcpStream,
    opts: CopyOpts<'_>,
    moved_in: impl Fn(usize),
    moved_out: impl Fn(usize),
    mut check: impl FnMut() -> bool,
) -> End {
    let last = AtomicU64::new(clock::now());
    let touch = || last.store(clock::now(), Ordering::Relaxed);
    let (client_r, client_w) = client.split();
    let (server_r, server_w) = server.split();
    let up = direction(client_r, server_w, opts, |n| {
        touch();
        moved_in(n)
    });
    let down = direction(server_r, client_w, opts, |n| {
        touch();
        moved_out(n)
    });
    tokio::pin!(up, down);
    let period = (opts.idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    // The first check one period from now: an immediate first tick would register an
    // already-due timer, which wakes the runtime's driver (a syscall) on every connection.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
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
    mut from: ReadHalf<'_>,
    to: WriteHalf<'_>,
    opts: CopyOpts<'_>,
    mut moved: impl FnMut(usize),
) -> Result<(), DirError> {
    let to = to.as_ref();
    let limit = if opts.splice { SPLICE_AFTER } else { u64::MAX };
    let bulk = forward_user(&mut from, to, &mut moved, limit).await?;
    if bulk {
        forward_bulk(&mut from, to, &mut moved, opts.spliced).await?;
    }
    match socket2::SockRef::from(to).shutdown(Shutdown::Write) {
        Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(DirError::write(e)),
        _ => Ok(()),
    }
}

/// The rest of a bulk direction: spliced when a pipe can be made, else copied.
async fn forward_bulk(
    from: &mut ReadHalf<'_>,
    to: &TcpStream,
    moved: &mut impl FnMut(usize),
    spliced: Option<&AtomicU64>,
) -> Result<(), DirError> {
    #[cfg(target_os = "linux")]
    if let Ok(mut pipe) = splice::Pipe::new() {
        if let Some(c) = spliced {
            c.fetch_add(1, Ordering::Relaxed);
        }
        splice::forward(from.as_ref(), to, &mut pipe, moved).await?;
        return Ok(());
    }
    let _ = spliced;
    forward_user(from, to, moved, u64::MAX).await?;
    Ok(())
}

/// Userspace copy until `from` reads EOF (`Ok(false)`) or `limit` bytes have moved
/// (`Ok(true)`).
///
/// Short exchanges need no buffer of their own: each read lands in a scratch buffer on
/// the stack and is written to `to` at once; only bytes `to` cannot take now are kept
/// (and written once it is writable). When a read fills the scratch buffer the direction
/// is a transfer, and it goes on with a heap buffer that grows (four times larger each
/// time a read fills it, up to `USER_BUF`).
async fn forward_user(
    from: &mut ReadHalf<'_>,
    to: &TcpStream,
    moved: &mut impl FnMut(usize),
    limit: u64,
) -> Result<bool, DirError> {
    let mut total = 0u64;
    let mut rest: Vec<u8> = Vec::new();
    loop {
        if total >= limit {
            return Ok(true);
        }
        let step = std::future::poll_fn(|cx| read_and_write(from, to, cx, &mut rest)).await?;
        let Some((read, written)) = step else {
            return Ok(false);
        };
        if written > 0 {
            moved(written);
        }
        if !rest.is_empty() {
            write_all(to, &rest).await.map_err(DirError::write)?;
            moved(rest.len());
            rest.clear();
        }
        total += read as u64;
        if read == SMALL_BUF {
            break;
        }
    }
    let mut buf: Vec<u8> = Vec::with_capacity(SMALL_BUF * 4);
    while total < limit {
        buf.clear();
        // Reads into the spare capacity, at most `buf.capacity()` bytes, never zeroed.
        let n = from.read_buf(&mut buf).await.map_err(DirError::read)?;
        if n == 0 {
            return Ok(false);
        }
        write_all(to, &buf[..n]).await.map_err(DirError::write)?;
        total += n as u64;
        moved(n);
        if n == buf.capacity() && buf.capacity() < USER_BUF {
            buf = Vec::with_capacity((buf.capacity() * 4).min(USER_BUF));
        }
    }
    Ok(true)
}

/// One read of at most `SMALL_BUF` bytes into a stack buffer, written to `to` right away.
/// `Ready(Ok(None))`: EOF. `Ready(Ok(Some((read, written))))`: the bytes `to` did not take
/// were appended to `rest`.
fn read_and_write(
    from: &mut ReadHalf<'_>,
    to: &TcpStream,
    cx: &mut std::task::Context<'_>,
    rest: &mut Vec<u8>,
) -> std::task::Poll<Result<Option<(usize, usize)>, DirError>> {
    use std::task::Poll;
    use tokio::io::AsyncRead;
    let mut scratch = [std::mem::MaybeUninit::<u8>::uninit(); SMALL_BUF];
    let mut rb = tokio::io::ReadBuf::uninit(&mut scratch);
    match std::pin::Pin::new(&mut *from).poll_read(cx, &mut rb) {
        Poll::Pending => return Poll::Pending,
        Poll::Ready(Err(e)) => return Poll::Ready(Err(DirError::read(e))),
        Poll::Ready(Ok(())) => {}
    }
    let data = rb.filled();
    if data.is_empty() {
        return Poll::Ready(Ok(None));
    }
    let written = match to.try_write(data) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Poll::Ready(Err(DirError::write(e))),
    };
    rest.extend_from_slice(&data[written..]);
    Poll::Ready(Ok(Some((data.len(), written))))
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// A connected pair: (the end a test drives, the end the proxy holds). `tiny` gives the
    /// proxy's end a small send buffer and the test's end a small receive buffer, so the
    /// proxy's writes to it stop fitting quickly.
    async fn pair(tiny: bool) -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        if tiny {
            sock.set_recv_buffer_size(4096).unwrap();
        }
        let (outer, inner) = tokio::join!(sock.connect(l.local_addr().unwrap()), l.accept());
        let inner = inner.unwrap().0;
        if tiny {
            socket2::SockRef::from(&inner)
                .set_send_buffer_size(4096)
                .unwrap();
        }
        (outer.unwrap(), inner)
    }

    #[tokio::test]
    async fn small_reads_to_a_slow_reader_keep_every_byte_in_order() {
        let (mut source, mut from) = pair(false).await;
        let (mut sink, mut to) = pair(true).await;
        // 300 messages of 1000 bytes, one per millisecond: reads stay below the scratch
        // buffer's size while the sink reads nothing for 300 ms, so writes to it fall short.
        let sent: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let writer = {
            let sent = sent.clone();
            tokio::spawn(async move {
                for chunk in sent.chunks(1000) {
                    source.write_all(chunk).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                source.shutdown().await.unwrap();
                source
            })
        };
        let reader = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut sink, &mut got)
                .await
                .unwrap();
            got
        });
        let mut moved = 0usize;
        let opts = CopyOpts {
            splice: false,
            idle: Duration::from_secs(10),
            spliced: None,
        };
        let (from_r, _) = from.split();
        let (_, to_w) = to.split();
        direction(from_r, to_w, opts, |n| moved += n)
            .await
            .expect("forwarded");
        let _source = writer.await.unwrap();
        drop(to);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "bytes arrive intact and in order");
        assert_eq!(moved, sent.len(), "every byte counted once");
    }
}
