//! Body types on both sides of the proxy, streaming frame by frame.
//!
//! [`RequestBody`] is what goes to a server: the client's body (counted into the
//! listener's `bytes_in`) or nothing (a replayed bodyless request). [`ResponseBody`] is
//! what goes to the client: a local answer, or the server's body wrapped in
//! [`Tracked`], which counts bytes out and, when the body ends or is dropped (client
//! gone), reports the outcome to the balancer (`Picked::finish`) and writes the access
//! log line with the total time. Frames are passed as they come, trailers included, so
//! memory stays flat whatever the size.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use switchyard_balance::{clock, Picked};

use crate::access_log::{AccessLogger, Entry};
use crate::backend::Lease;
use crate::guard::Activity;
use crate::stats::ListenerStats;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body sent to a server.
pub(crate) enum RequestBody {
    Client {
        inner: Incoming,
        stats: Arc<ListenerStats>,
        /// Set while the server waits for the client's next bytes (a backend timeout
        /// then is the client's delay, not the server's).
        reading: Arc<AtomicBool>,
    },
    Empty,
}

/// A response body sent to a client.
pub enum ResponseBody {
    /// A local answer (errors, redirects, `respond`).
    Full(Option<Bytes>),
    /// A server's answer.
    Proxied(Box<Tracked>),
}

/// A server's response body with its bookkeeping.
pub struct Tracked {
    inner: Incoming,
    /// The client connection's activity: bodies with data waiting for the client.
    activity: Arc<Activity>,
    /// The last frame returned has not been taken by hyper yet (it polls again once it
    /// has sent it, or has the flow-control window to).
    handed: bool,
    picked: Option<Picked>,
    lease: Option<Lease>,
    failed: bool,
    ttfb: Duration,
    start: Instant,
    bytes: u64,
    stats: Arc<ListenerStats>,
    log: Option<(AccessLogger, Box<Entry>)>,
}

// === impl RequestBody ===

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Client {
                inner,
                stats,
                reading,
            } => {
                let res = Pin::new(inner).poll_frame(cx);
                reading.store(res.is_pending(), Relaxed);
                if let Poll::Ready(Some(Ok(frame))) = &res {
                    if let Some(data) = frame.data_ref() {
                        stats.bytes_in.fetch_add(data.len() as u64, Relaxed);
                    }
                }
                res
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Client { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Client { inner, .. } => inner.size_hint(),
        }
    }
}

// === impl ResponseBody ===

impl ResponseBody {
    pub(crate) fn full(b: impl Into<Bytes>) -> Self {
        let b = b.into();
        ResponseBody::Full((!b.is_empty()).then_some(b))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ResponseBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Proxied(t) => t.poll(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(b) => b.is_none(),
            ResponseBody::Proxied(t) => t.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ResponseBody::Proxied(t) => t.inner.size_hint(),
        }
    }
}

// === impl Tracked ===

impl Tracked {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        inner: Incoming,
        activity: Arc<Activity>,
        picked: Picked,
        lease: Option<Lease>,
        failed: bool,
        start: Instant,
        stats: Arc<ListenerStats>,
        log: Option<(AccessLogger, Box<Entry>)>,
    ) -> Self {
        activity.bodies_open.fetch_add(1, Relaxed);
        Tracked {
            inner,
            activity,
            handed: false,
            picked: Some(picked),
            lease,
            failed,
            ttfb: start.elapsed(),
            start,
            bytes: 0,
            stats,
            log,
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.handed {
            // Polled again: hyper has taken the previous frame.
            self.taken();
            self.activity.body_moved.store(clock::now(), Relaxed);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                    self.stats.bytes_out.fetch_add(data.len() as u64, Relaxed);
                    self.handed = true;
                    self.activity.body_moved.store(clock::now(), Relaxed);
                    self.activity.bodies_waiting.fetch_add(1, Relaxed);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.failed = true;
                self.done();
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                self.done();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn taken(&mut self) {
        if self.handed {
            self.handed = false;
            self.activity.bodies_waiting.fetch_sub(1, Relaxed);
        }
    }

    /// Report the outcome once: to the balancer, then the access log.
    fn done(&mut self) {
        // The connection first, so the next request can reuse it.
        self.lease.take();
        if let Some(picked) = self.picked.take() {
            picked.finish(!self.failed, self.ttfb, clock::now());
        }
        if let Some((logger, mut entry)) = self.log.take() {
            entry.bytes_out = self.bytes;
            entry.ttfb = self.ttfb;
            entry.total = self.start.elapsed();
            logger.log_boxed(entry);
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.activity.bodies_open.fetch_sub(1, Relaxed);
        self.taken();
        self.done();
    }
}
