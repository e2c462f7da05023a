//! The HTTP/1 engine: client connections proxied without hyper.
//!
//! Why a second engine: hyper is a general HTTP library, and proxying through it costs,
//! per request, a hop through the backend connection's own task and channel, a body
//! channel, a header map built for the response and copied for a possible retry. A proxy
//! needs less: read a head, decide, write a head, move body bytes. This engine does that
//! on the client connection's one task, with pooled raw server connections
//! (`Backends::checkout_raw`), roughly halving the CPU per request.
//!
//! It changes nothing a user sees: the same strict framing code refuses ambiguous
//! requests (`framing::HeadScanner`, `check_head`, `BodyTracker`: one implementation
//! with the hyper engine's guard), the same `proxy::decide` routes and rewrites heads,
//! the same retry rules, counters, access log and timeouts apply.
//!
//! Used for HTTP/1.x client connections on listeners whose pools all speak HTTP/1.1 to
//! their servers (`State::h1_engine`). HTTP/2 clients (ALPN `h2`, or the h2c preface,
//! handed over with the bytes already read) and listeners reaching an HTTP/2 pool use
//! hyper (`server.rs`).

mod exchange;
pub(crate) mod head;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::{Bytes, BytesMut};
use http::StatusCode;
use switchyard_balance::{clock, Nanos};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::forward::Peer;
use crate::framing::{check_head, HeadInfo, HeadScan, HeadScanner};
use crate::guard::WriteLimited;
use crate::proxy::ConnInfo;
use crate::state::{State, MAX_HEADER_BYTES};

/// Read buffer size (per client connection and per exchange's server side).
const BUF: usize = 16 * 1024;
/// How long a connection accepted just before its listener stopped may take to send its
/// first request head.
pub(crate) const FIRST_HEAD_GRACE: Duration = switchyard_net::FIRST_REQUEST_GRACE;

/// A client connection across its requests.
pub(crate) struct Client<'p, S> {
    pub io: S,
    pub peer: &'p Peer,
    /// Bytes read from the client and not used yet (the next head, body bytes).
    pub buf: BytesMut,
    scanner: HeadScanner,
    requests: u64,
    /// When the connection last received bytes.
    last: Nanos,
    /// Bounds waits for the next request (`timeouts.idle`) and for servers' answers.
    pub timer: Timer,
}

/// One timer per connection for the idle and backend timeouts. It is re-armed only when
/// it fires, never earlier than any deadline it guards (it is armed at most `period`
/// ahead, the shortest of those timeouts), so a busy connection does no timer work per
/// request.
pub(crate) struct Timer {
    sleep: Pin<Box<Sleep>>,
    period: Duration,
}

/// A request head read from the client, framing-checked.
pub(crate) struct Head {
    pub raw: Bytes,
    pub info: HeadInfo,
}

/// How a connection left the engine.
pub(crate) enum Handoff<S> {
    /// Served and closed.
    Done,
    /// hyper serves the rest of the connection, these bytes (already read) first.
    Hyper {
        io: S,
        prefix: Bytes,
        /// Still HTTP/1 (the listener was reloaded to reach an HTTP/2 pool); else the
        /// client sent the HTTP/2 preface.
        http1: bool,
    },
}

/// What waiting for the next request gave.
enum Next {
    Head(Head),
    Closed,
    H2,
    /// Answer this status and close.
    Refuse(StatusCode),
}

/// Serve one client connection until it closes, fails, or shutdown completes it.
pub(crate) async fn serve<S>(
    io: S,
    conn: &ConnInfo,
    current: &State,
    state: &ArcSwap<State>,
    shutdown: &CancellationToken,
) -> Handoff<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let period = current.timeouts.idle.min(current.timeouts.backend);
    let peer = &conn.client;
    let closing = || conn.closing.load(Relaxed);
    let mut c = Client {
        // A client that leaves a write blocked for `timeouts.idle` is not reading: the
        // write fails and the connection ends, freeing its server and its slot.
        io: WriteLimited::new(io, current.timeouts.idle),
        peer,
        buf: BytesMut::with_capacity(BUF),
        scanner: HeadScanner::default(),
        requests: 0,
        last: clock::now(),
        timer: Timer::new(period),
    };
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    loop {
        match next_head(&mut c, current, cancelled.as_mut()).await {
            Next::Head(head) => {
                let st = state.load();
                if !st.h1_engine {
                    // A reload made an HTTP/2 pool reachable: hyper serves from here on.
                    let mut prefix = BytesMut::with_capacity(head.raw.len() + c.buf.len());
                    prefix.extend_from_slice(&head.raw);
                    prefix.extend_from_slice(&c.buf);
                    let (io, prefix) = (c.io.into_inner(), prefix.freeze());
                    return Handoff::Hyper {
                        io,
                        prefix,
                        http1: true,
                    };
                }
                if !exchange::run(&st, &mut c, head, closing()).await {
                    break;
                }
                // Idle time counts from the end of the exchange, however long it took.
                c.last = clock::now();
            }
            Next::Closed => break,
            Next::H2 => {
                let (io, prefix) = (c.io.into_inner(), c.buf.freeze());
                return Handoff::Hyper {
                    io,
                    prefix,
                    http1: false,
                };
            }
            Next::Refuse(status) => {
                current.stats.count_status(status.as_u16());
                let mut out = Vec::with_capacity(256);
                let text = crate::proxy::failure_text(status);
                head::local(status, text.as_bytes(), None, true, false, &mut out);
                let _ = c.io.write_all(&out).await;
                break;
            }
        }
        if closing() {
            break;
        }
    }
    let _ = c.io.shutdown().await;
    Handoff::Done
}

/// Wait for, read and check the next request head.
async fn next_head<S>(
    c: &mut Client<'_, S>,
    st: &State,
    mut cancelled: Pin<&mut WaitForCancellationFuture<'_>>,
) -> Next
where
    S: AsyncRead + Unpin,
{
    let limit = st.timeouts.request_header;
    // The first head is timed from the connection's start, later ones from their first byte.
    let mut deadline = (c.requests == 0).then(|| Instant::now() + limit);
    // A stop while a new connection's first request is on its way (accepted just before
    // the listener stopped) leaves it a short grace instead of closing it unanswered.
    let mut graced = false;
    loop {
        match c.scanner.scan(&c.buf, MAX_HEADER_BYTES) {
            HeadScan::Complete { skip, len } => return take_head(c, st, skip, len),
            HeadScan::Violation(v) => {
                st.stats.rejected_framing.fetch_add(1, Relaxed);
                tracing::info!(violation = ?v, "refused an ambiguous request head");
                return Next::Refuse(StatusCode::BAD_REQUEST);
            }
            HeadScan::TooLarge => return Next::Refuse(too_large(&c.buf, MAX_HEADER_BYTES)),
            HeadScan::Incomplete => {}
        }
        if !c.buf.is_empty() && deadline.is_none() {
            deadline = Some(Instant::now() + limit);
        }
        if c.buf.capacity() - c.buf.len() < BUF / 4 {
            c.buf.reserve(BUF);
        }
        let read = match deadline {
            Some(d) => tokio::select! {
                r = c.io.read_buf(&mut c.buf) => r,
                _ = tokio::time::sleep_until(d) => {
                    tracing::debug!("request head not received in time; closing");
                    return Next::Closed;
                }
                // (A deadline with nothing read yet is the first head's.)
                _ = cancelled.as_mut(), if c.buf.is_empty() && !graced => {
                    graced = true;
                    deadline = Some(d.min(Instant::now() + FIRST_HEAD_GRACE));
                    continue;
                }
            },
            None => {
                let due = clock::instant(c.last) + st.timeouts.idle;
                let wait = async {
                    tokio::select! {
                        biased;
                        r = c.io.read_buf(&mut c.buf) => Some(r),
                        _ = cancelled.as_mut() => None,
                    }
                };
                match c.timer.within(due.into(), wait).await {
                    Some(Some(r)) => r,
                    Some(None) => return Next::Closed,
                    None => {
                        tracing::debug!("closing idle connection");
                        return Next::Closed;
                    }
                }
            }
        };
        match read {
            Ok(0) | Err(_) => return Next::Closed,
            Ok(_) => c.last = clock::now(),
        }
    }
}

impl Timer {
    fn new(period: Duration) -> Self {
        Timer {
            sleep: Box::pin(tokio::time::sleep(period)),
            period,
        }
    }

    /// Run `fut` to completion, or give up (`None`) once `due` has passed.
    pub async fn within<F: Future>(&mut self, due: Instant, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                biased;
                out = &mut fut => return Some(out),
                () = self.sleep.as_mut() => {
                    let now = Instant::now();
                    if now >= due {
                        return None;
                    }
                    self.sleep.as_mut().reset((now + self.period).min(due));
                }
            }
        }
    }
}

/// A read buffer for a server's answer, lent from a per-thread pool for one exchange:
/// no allocation per request, and no buffer held by idle keep-alive connections.
pub(crate) struct LentBuf(BytesMut);

/// Buffers kept per thread, and the largest kept (bigger ones were grown by large
/// bodies and are freed).
const POOLED_BUFS: usize = 256;
const POOLED_CAPACITY: usize = 128 * 1024;

thread_local! {
    static BUFS: std::cell::RefCell<Vec<BytesMut>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl LentBuf {
    pub fn take() -> Self {
        let b = BUFS.with(|p| p.borrow_mut().pop()).unwrap_or_default();
        LentBuf(b)
    }
}

impl std::ops::Deref for LentBuf {
    type Target = BytesMut;
    fn deref(&self) -> &BytesMut {
        &self.0
    }
}

impl std::ops::DerefMut for LentBuf {
    fn deref_mut(&mut self) -> &mut BytesMut {
        &mut self.0
    }
}

impl Drop for LentBuf {
    fn drop(&mut self) {
        let mut b = std::mem::take(&mut self.0);
        if b.capacity() == 0 || b.capacity() > POOLED_CAPACITY {
            return;
        }
        b.clear();
        BUFS.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOLED_BUFS {
                p.push(b);
            }
        });
    }
}

/// Run the engine's parsers over arbitrary bytes, as a request stream and as a server's
/// answer (the `http_h1` fuzz target); panics only on a broken invariant.
pub fn fuzz(data: &[u8]) {
    let mut scanner = HeadScanner::default();
    if let HeadScan::Complete { skip, len } = scanner.scan(data, MAX_HEADER_BYTES) {
        let raw = Bytes::copy_from_slice(&data[skip..skip + len]);
        assert!(raw.ends_with(b"\r\n\r\n"));
        if check_head(&raw, true).is_ok() {
            if let Ok(parts) = head::parse_request(&raw) {
                let mut out = Vec::new();
                head::write_request(&parts, &mut out, |_| {});
                assert!(out.ends_with(b"\r\n\r\n"));
            }
        }
    }
    let client = head::ClientHead {
        close: false,
        keep_alive_10: false,
        upgrade: data.first().is_some_and(|b| b & 1 == 1),
        set_cookie: None,
    };
    let mut out = Vec::new();
    if let Ok(Some(h)) = head::response(data, false, &client, &mut out) {
        assert!(h.len <= data.len());
        assert!(out.ends_with(b"\r\n\r\n"));
    }
}

/// Split a complete head off the buffer and check its framing.
fn take_head<S>(c: &mut Client<'_, S>, st: &State, skip: usize, len: usize) -> Next {
    let _ = c.buf.split_to(skip);
    let raw = c.buf.split_to(len).freeze();
    c.scanner.reset();
    match check_head(&raw, c.requests == 0) {
        Ok(info) if info.h2_preface => {
            let mut all = BytesMut::with_capacity(raw.len() + c.buf.len());
            all.extend_from_slice(&raw);
            all.extend_from_slice(&c.buf);
            c.buf = all;
            Next::H2
        }
        Ok(info) => {
            c.requests += 1;
            Next::Head(Head { raw, info })
        }
        Err(v) => {
            st.stats.rejected_framing.fetch_add(1, Relaxed);
            tracing::info!(violation = ?v, "refused an ambiguous request head");
            Next::Refuse(StatusCode::BAD_REQUEST)
        }
    }
}

/// The answer to a head over the `limit`: `414` when the request line alone does not fit
/// (the URI is what to shorten, as nginx says), else `431`.
fn too_large(buf: &[u8], limit: usize) -> StatusCode {
    let start = buf
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(0);
    match buf[start..].iter().position(|&b| b == b'\n') {
        Some(line) if line < limit => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => StatusCode::URI_TOO_LONG,
    }
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// The fuzz target's invariants hold on arbitrary and HTTP-shaped input.
        #[test]
        fn parsers_survive_any_input(
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                &b"GET / HTTP/1.1\r\n"[..], b"HTTP/1.1 200 OK\r\n", b"Host: a\r\n",
                b"Content-Length: 3\r\n", b"Transfer-Encoding: chunked\r\n",
                b"Connection: close, x\r\n", b"\r\n", b"\n", b":", b"\x00",
            ]), 0..12),
        ) {
            super::fuzz(&noise);
            super::fuzz(&pieces.concat());
        }
    }
}
