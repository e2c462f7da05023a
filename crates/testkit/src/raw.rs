//! An I/O wrapper that appends every byte read to a shared buffer.
//!
//! Backends wrap each accepted socket in it so a test can assert on the exact bytes a
//! proxy sent, not just on what hyper made of them (the smuggling suite needs that).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes recorded per backend at most (large-body tests must not grow memory).
const MAX_RECORDED: usize = 4 << 20;

/// A stream that records what is read from it (the first 4 MiB).
pub(crate) struct Recording<S> {
    inner: S,
    sink: Arc<Mutex<Vec<u8>>>,
}

// === impl Recording ===

impl<S> Recording<S> {
    pub(crate) fn new(inner: S, sink: Arc<Mutex<Vec<u8>>>) -> Self {
        Recording { inner, sink }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recording<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            let new = &buf.filled()[before..];
            if let Ok(mut sink) = self.sink.lock() {
                let room = MAX_RECORDED.saturating_sub(sink.len());
                sink.extend_from_slice(&new[..new.len().min(room)]);
            }
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recording<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
