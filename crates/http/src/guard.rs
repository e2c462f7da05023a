//! The client connection wrapper: strict framing in front of hyper, and idle tracking.
//!
//! [`Guarded`] feeds every byte read from a client through [`Framer`] and hands hyper
//! only what the framer releases (see `framing.rs` for why). It also stamps each read
//! and write into the connection's [`Activity`], which the idle timer reads, and fails
//! a write that the client leaves blocked for `timeouts.idle` ([`WriteStall`], also used
//! by the HTTP/1 engine through [`WriteLimited`]): a client that stops reading must not
//! hold its connection, a server connection and a `max_connections` slot forever.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use switchyard_balance::clock;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::framing::{Fed, Framer};
use crate::stats::ListenerStats;

const SCRATCH: usize = 16 * 1024;

/// When the connection last moved bytes, how many requests are in flight on it, and
/// since when a request head has been awaited ([`NO_HEAD`] when none is). For the hyper
/// engine also: how many response bodies are being sent, how many of those have handed
/// hyper data that it has not sent yet (HTTP/2 flow control, or a full socket), and when
/// a body last handed or sent some.
#[derive(Debug)]
pub(crate) struct Activity {
    pub last: AtomicU64,
    pub in_flight: AtomicU64,
    pub head_since: AtomicU64,
    pub bodies_open: AtomicU64,
    pub bodies_waiting: AtomicU64,
    pub body_moved: AtomicU64,
}

/// `head_since` when no request head is being waited for.
pub(crate) const NO_HEAD: u64 = u64::MAX;

/// A client stream checked by a [`Framer`] (none = pass-through, e.g. h2 by ALPN).
pub(crate) struct Guarded<S> {
    /// Writes bounded by the write stall, as the HTTP/1 engine's are.
    inner: WriteLimited<S>,
    framer: Option<Framer>,
    pending: Vec<u8>,
    pos: usize,
    scratch: Vec<u8>,
    end: End,
    activity: Arc<Activity>,
    stats: Arc<ListenerStats>,
}

/// Fails a write to the client that makes no progress for `limit` (the client is not
/// reading), like nginx's `send_timeout`. Timer work only while a write is blocked.
pub(crate) struct WriteStall {
    limit: Duration,
    /// Armed when a write first blocked; disarmed by any write that progresses.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

/// A client stream whose writes are bounded by a [`WriteStall`] (the HTTP/1 engine's).
pub(crate) struct WriteLimited<S> {
    inner: S,
    stall: WriteStall,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Open,
    /// A head was refused: end of stream once the poison is delivered.
    Eof,
    /// A body was malformed: error once released bytes are delivered.
    Error,
}

// === impl Activity ===

impl Default for Activity {
    fn default() -> Self {
        let now = clock::now();
        Activity {
            last: AtomicU64::new(now),
            in_flight: AtomicU64::new(0),
            head_since: AtomicU64::new(now),
            bodies_open: AtomicU64::new(0),
            bodies_waiting: AtomicU64::new(0),
            body_moved: AtomicU64::new(now),
        }
    }
}

impl Activity {
    pub fn touch(&self) {
        self.last.store(clock::now(), Relaxed);
    }
}

// === impl Guarded ===

impl<S> Guarded<S> {
    pub fn new(
        inner: S,
        framer: Option<Framer>,
        activity: Arc<Activity>,
        stats: Arc<ListenerStats>,
        write_limit: Duration,
    ) -> Self {
        activity.touch();
        if framer.is_none() {
            activity.head_since.store(NO_HEAD, Relaxed);
        }
        Guarded {
            inner: WriteLimited::new(inner, write_limit),
            framer,
            pending: Vec::new(),
            pos: 0,
            scratch: Vec::new(),
            end: End::Open,
            activity,
            stats,
        }
    }
}

impl<S> Guarded<S> {
    /// Bytes already read from the stream, delivered first (through the framing check,
    /// when there is one).
    pub fn with_prefix(mut self, bytes: &[u8]) -> Self {
        let Some(framer) = &mut self.framer else {
            self.pending.extend_from_slice(bytes);
            return self;
        };
        let verdict = framer.feed(bytes, &mut self.pending);
        self.act_on(verdict);
        self
    }

    /// Count and log a refusal, and end the stream as it requires.
    fn act_on(&mut self, verdict: Fed) {
        match verdict {
            Fed::Ok => {}
            Fed::Refused(v) => {
                self.stats.rejected_framing.fetch_add(1, Relaxed);
                tracing::info!(violation = ?v, "refused an ambiguous request head");
                self.end = End::Eof;
            }
            Fed::Broken(v) => {
                self.stats.rejected_framing.fetch_add(1, Relaxed);
                tracing::info!(violation = ?v, "refused a malformed request body");
                self.end = End::Error;
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.pending.len() {
                let n = (this.pending.len() - this.pos).min(buf.remaining());
                buf.put_slice(&this.pending[this.pos..this.pos + n]);
                this.pos += n;
                if this.pos == this.pending.len() {
                    this.pending.clear();
                    this.pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            match this.end {
                End::Eof => return Poll::Ready(Ok(())),
                End::Error => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "malformed request body framing",
                    )))
                }
                End::Open => {}
            }
            let framer = match &mut this.framer {
                Some(f) if !f.is_passthrough() => f,
                _ => {
                    this.activity.head_since.store(NO_HEAD, Relaxed);
                    let before = buf.filled().len();
                    ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
                    if buf.filled().len() > before {
                        this.activity.touch();
                    }
                    return Poll::Ready(Ok(()));
                }
            };
            if this.scratch.is_empty() {
                this.scratch = vec![0; SCRATCH];
            }
            let mut tmp = ReadBuf::new(&mut this.scratch);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut tmp))?;
            let got = tmp.filled();
            if got.is_empty() {
                return Poll::Ready(Ok(()));
            }
            this.activity.touch();
            let verdict = framer.feed(got, &mut this.pending);
            let waiting = this.activity.head_since.load(Relaxed);
            if !framer.in_head() {
                this.activity.head_since.store(NO_HEAD, Relaxed);
            } else if waiting == NO_HEAD {
                this.activity.head_since.store(clock::now(), Relaxed);
            }
            this.act_on(verdict);
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.activity.touch();
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.inner).poll_write_vectored(cx, bufs))?;
        self.activity.touch();
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

// === impl WriteStall ===

impl WriteStall {
    pub fn new(limit: Duration) -> Self {
        WriteStall {
            limit,
            sleep: None,
            armed: false,
        }
    }

    /// Pass a write's result through; a write still blocked `limit` after the first
    /// blocked attempt fails with `TimedOut`.
    pub fn check<T>(
        &mut self,
        cx: &mut Context<'_>,
        res: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if res.is_ready() {
            self.armed = false;
            return res;
        }
        if !self.armed {
            self.armed = true;
            let deadline = Instant::now() + self.limit;
            match &mut self.sleep {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        let expired = match &mut self.sleep {
            Some(sleep) => sleep.as_mut().poll(cx).is_ready(),
            None => false,
        };
        if expired {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing for timeouts.idle while a response was waiting for it",
            )));
        }
        Poll::Pending
    }
}

// === impl WriteLimited ===

impl<S> WriteLimited<S> {
    pub fn new(inner: S, limit: Duration) -> Self {
        WriteLimited {
            inner,
            stall: WriteStall::new(limit),
        }
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteLimited<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteLimited<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let res = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.stall.check(cx, res)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let res = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.stall.check(cx, res)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let res = Pin::new(&mut this.inner).poll_flush(cx);
        this.stall.check(cx, res)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let res = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.stall.check(cx, res)
    }
}
