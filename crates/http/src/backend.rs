//! Connections to servers: a small pool per server address, HTTP/1.1 or HTTP/2.
//!
//! Why our own pool and not hyper-util's `Client`: a retry needs the request back when
//! nothing was sent (connect refused, a pooled connection found closed), and the
//! `Client` consumes it. Here connecting happens before the request is handed over, and
//! hyper's `try_send_request` returns an unsent request, so [`SendError::NotSent`]
//! carries it back to the retry loop.
//!
//! Each server address has its own [`Slot`] (built with the state, so lookups take no
//! lock): HTTP/1.1 keeps a LIFO stack of idle connections, returned once hyper reports
//! them ready again (the response body was read to the end), at most [`MAX_IDLE`] per
//! server and dropped after the listener's idle timeout; HTTP/2 shares one multiplexed
//! connection per server, replaced when it closes.

use rustc_hash::FxHashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use switchyard_balance::{clock, Nanos};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::body::RequestBody;

/// Idle HTTP/1.1 connections kept per server.
pub(crate) const MAX_IDLE: usize = 128;

/// The protocol spoken to a pool's servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Proto {
    Http1,
    Http2,
}

/// Re-encryption settings.
#[derive(Clone)]
pub(crate) struct BackendTls {
    pub h1: TlsConnector,
    pub h2: TlsConnector,
    /// SNI and verified name; `None` = the server's IP.
    pub server_name: Option<ServerName<'static>>,
}

/// Every server's connections for one listener state.
pub(crate) struct Backends {
    /// Looked up on every request: a fast hash, not SipHash (the keys are our own).
    slots: FxHashMap<(SocketAddr, Proto), Arc<Slot>>,
    connect_timeout: Duration,
    idle_timeout: Duration,
    tls: Option<BackendTls>,
}

#[derive(Default)]
struct Slot {
    idle: Mutex<Vec<(Nanos, http1::SendRequest<RequestBody>)>>,
    /// Idle connections of the HTTP/1 engine (no hyper), most recent last.
    raw: Mutex<Vec<(Nanos, Conn)>>,
    shared: Mutex<Option<http2::SendRequest<RequestBody>>>,
    /// Held while an HTTP/2 connection is being made, so concurrent requests share it.
    connecting: tokio::sync::Mutex<()>,
}

/// An HTTP/1.1 connection lent to one exchange; dropped when the response body is
/// done, it goes back to its server's idle stack (at once when hyper already reports it
/// ready, else from a small task that waits for that), or is closed if it cannot be
/// reused.
pub(crate) struct Lease {
    slot: Arc<Slot>,
    sender: Option<http1::SendRequest<RequestBody>>,
}

/// Why a request got no response.
pub(crate) enum SendError {
    /// Nothing reached the server; the request is handed back for a retry.
    NotSent(Box<Request<RequestBody>>, Failure),
    /// The request was (at least partly) sent.
    Sent(Failure),
    /// The request was sent on a reused kept-alive connection, which the server closed
    /// before answering (its keep-alive timeout ran out as the request went).
    Stale(Failure),
}

impl SendError {
    /// What failed, whatever was sent.
    pub(crate) fn into_failure(self) -> Failure {
        match self {
            SendError::NotSent(_, f) | SendError::Sent(f) | SendError::Stale(f) => f,
        }
    }
}

/// What failed.
#[derive(Debug)]
pub(crate) enum Failure {
    Connect(io::Error),
    ConnectTimeout,
    Tls(io::Error),
    Http(hyper::Error),
}

/// A plain or TLS connection to a server.
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

// === impl Backends ===

impl Backends {
    pub fn new(
        servers: impl IntoIterator<Item = (SocketAddr, Proto)>,
        connect_timeout: Duration,
        idle_timeout: Duration,
        tls: Option<BackendTls>,
    ) -> Self {
        let slots = servers
            .into_iter()
            .map(|k| (k, Arc::new(Slot::default())))
            .collect();
        Backends {
            slots,
            connect_timeout,
            idle_timeout,
            tls,
        }
    }

    /// Whether connections to servers use TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Send `req` to `addr`, reusing a pooled connection when one is ready.
    pub async fn send(
        &self,
        addr: SocketAddr,
        proto: Proto,
        req: Request<RequestBody>,
    ) -> Result<(Response<Incoming>, Option<Lease>), SendError> {
        let slot = self.slots.get(&(addr, proto)).cloned().unwrap_or_default();
        match proto {
            Proto::Http1 => {
                let pooled = slot.checkout(self.idle_timeout);
                self.send_h1(addr, slot, pooled, req).await
            }
            Proto::Http2 => Ok((self.send_h2(addr, slot, req).await?, None)),
        }
    }

    /// Send `req` to `addr` (HTTP/1.1) on a new connection, never a pooled one.
    pub async fn send_fresh(
        &self,
        addr: SocketAddr,
        req: Request<RequestBody>,
    ) -> Result<(Response<Incoming>, Option<Lease>), SendError> {
        let slot = self.slots.get(&(addr, Proto::Http1)).cloned();
        self.send_h1(addr, slot.unwrap_or_default(), None, req)
            .await
    }

    async fn send_h1(
        &self,
        addr: SocketAddr,
        slot: Arc<Slot>,
        mut pooled: Option<http1::SendRequest<RequestBody>>,
        mut req: Request<RequestBody>,
    ) -> Result<(Response<Incoming>, Option<Lease>), SendError> {
        loop {
            let reused = pooled.is_some();
            let mut sender = match pooled.take() {
                Some(s) => s,
                None => match self.connect(addr, Proto::Http1).await {
                    Ok(conn) => match handshake_h1(conn).await {
                        Ok(s) => s,
                        Err(e) => return Err(SendError::NotSent(Box::new(req), Failure::Http(e))),
                    },
                    Err(f) => return Err(SendError::NotSent(Box::new(req), f)),
                },
            };
            return match sender.try_send_request(req).await {
                Ok(res) => Ok((
                    res,
                    Some(Lease {
                        slot,
                        sender: Some(sender),
                    }),
                )),
                Err(mut e) => match e.take_message() {
                    // The server closed the kept-alive connection as it was reused (its
                    // keep-alive timeout): not its failure; again on a new connection.
                    Some(r) if reused => {
                        req = r;
                        continue;
                    }
                    Some(r) => Err(SendError::NotSent(
                        Box::new(r),
                        Failure::Http(e.into_error()),
                    )),
                    None => {
                        let e = e.into_error();
                        if reused && e.is_incomplete_message() {
                            Err(SendError::Stale(Failure::Http(e)))
                        } else {
                            Err(SendError::Sent(Failure::Http(e)))
                        }
                    }
                },
            };
        }
    }

    async fn send_h2(
        &self,
        addr: SocketAddr,
        slot: Arc<Slot>,
        req: Request<RequestBody>,
    ) -> Result<Response<Incoming>, SendError> {
        let mut sender = match slot.h2_sender() {
            Some(s) => s,
            None => {
                let _connecting = slot.connecting.lock().await;
                match slot.h2_sender() {
                    Some(s) => s,
                    None => {
                        let conn = match self.connect(addr, Proto::Http2).await {
                            Ok(c) => c,
                            Err(f) => return Err(SendError::NotSent(Box::new(req), f)),
                        };
                        match handshake_h2(conn).await {
                            Ok(s) => {
                                if let Ok(mut shared) = slot.shared.lock() {
                                    *shared = Some(s.clone());
                                }
                                s
                            }
                            Err(e) => {
                                return Err(SendError::NotSent(Box::new(req), Failure::Http(e)))
                            }
                        }
                    }
                }
            }
        };
        if let Err(e) = sender.ready().await {
            return Err(SendError::NotSent(Box::new(req), Failure::Http(e)));
        }
        match sender.try_send_request(req).await {
            Ok(res) => Ok(res),
            Err(mut e) => match e.take_message() {
                Some(req) => Err(SendError::NotSent(
                    Box::new(req),
                    Failure::Http(e.into_error()),
                )),
                None => Err(SendError::Sent(Failure::Http(e.into_error()))),
            },
        }
    }

    async fn connect(&self, addr: SocketAddr, proto: Proto) -> Result<Conn, Failure> {
        let work = async {
            let tcp = TcpStream::connect(addr).await.map_err(Failure::Connect)?;
            let _ = tcp.set_nodelay(true);
            let Some(tls) = &self.tls else {
                return Ok(Conn::Plain(tcp));
            };
            let name = tls
                .server_name
                .clone()
                .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()));
            let connector = match proto {
                Proto::Http1 => &tls.h1,
                Proto::Http2 => &tls.h2,
            };
            let stream = connector.connect(name, tcp).await.map_err(Failure::Tls)?;
            Ok(Conn::Tls(Box::new(stream)))
        };
        tokio::time::timeout(self.connect_timeout, work)
            .await
            .unwrap_or(Err(Failure::ConnectTimeout))
    }

    /// An idle HTTP/1.1 connection to `addr` for the HTTP/1 engine, if one is still
    /// open and younger than the idle timeout.
    pub fn checkout_raw(&self, addr: SocketAddr, now: Nanos) -> Option<Conn> {
        let slot = self.slots.get(&(addr, Proto::Http1))?;
        let max_age = self.idle_timeout.as_nanos() as u64;
        let mut raw = slot.raw.lock().ok()?;
        while let Some((t, mut c)) = raw.pop() {
            if now.saturating_sub(t) < max_age && c.is_idle_and_open() {
                return Some(c);
            }
        }
        None
    }

    /// Open a new HTTP/1.1 connection to `addr` (TLS when re-encrypting).
    pub async fn connect_raw(&self, addr: SocketAddr) -> Result<Conn, Failure> {
        self.connect(addr, Proto::Http1).await
    }

    /// Keep `conn` for reuse from `now` (dropped when the server's stack is full).
    pub fn put_raw(&self, addr: SocketAddr, conn: Conn, now: Nanos) {
        let Some(slot) = self.slots.get(&(addr, Proto::Http1)) else {
            return;
        };
        if let Ok(mut raw) = slot.raw.lock() {
            if raw.len() < MAX_IDLE {
                raw.push((now, conn));
            }
        }
    }

    /// Drop idle connections older than the idle timeout (called periodically).
    pub fn reap(&self) {
        let now = clock::now();
        let max_age = self.idle_timeout.as_nanos() as u64;
        for slot in self.slots.values() {
            if let Ok(mut idle) = slot.idle.lock() {
                idle.retain(|(t, s)| now.saturating_sub(*t) < max_age && !s.is_closed());
            }
            if let Ok(mut raw) = slot.raw.lock() {
                raw.retain_mut(|(t, c)| now.saturating_sub(*t) < max_age && c.is_idle_and_open());
            }
        }
    }
}

async fn handshake_h1(conn: Conn) -> hyper::Result<http1::SendRequest<RequestBody>> {
    let (sender, connection) = http1::Builder::new()
        .max_headers(crate::h1::head::MAX_HEADERS)
        .handshake(TokioIo::new(conn))
        .await?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!(error = %e, "backend connection ended");
        }
    });
    Ok(sender)
}

async fn handshake_h2(conn: Conn) -> hyper::Result<http2::SendRequest<RequestBody>> {
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(conn))
        .await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "backend h2 connection ended");
        }
    });
    Ok(sender)
}

// === impl Slot ===

impl Slot {
    fn h2_sender(&self) -> Option<http2::SendRequest<RequestBody>> {
        let shared = self.shared.lock().ok()?;
        shared.as_ref().filter(|s| !s.is_closed()).cloned()
    }

    fn checkout(&self, idle_timeout: Duration) -> Option<http1::SendRequest<RequestBody>> {
        let now = clock::now();
        let max_age = idle_timeout.as_nanos() as u64;
        let mut idle = self.idle.lock().ok()?;
        while let Some((t, s)) = idle.pop() {
            if now.saturating_sub(t) < max_age && s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    fn put(&self, sender: http1::SendRequest<RequestBody>) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push((clock::now(), sender));
            }
        }
    }
}

// === impl Lease ===

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(mut sender) = self.sender.take() else {
            return;
        };
        if sender.is_ready() {
            self.slot.put(sender);
        } else if !sender.is_closed() {
            let slot = self.slot.clone();
            tokio::spawn(async move {
                if sender.ready().await.is_ok() {
                    slot.put(sender);
                }
            });
        }
    }
}

// === impl Failure ===

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "connect failed: {e}"),
            Failure::ConnectTimeout => f.write_str("connect timed out"),
            Failure::Tls(e) => write!(f, "TLS to backend failed: {e}"),
            Failure::Http(e) => write!(f, "{e}"),
        }
    }
}

// === impl Conn ===

impl Conn {
    /// Whether an idle connection is still usable: nothing to read (a server that
    /// closed, or sent bytes nobody asked for, makes it unusable). Polls once without
    /// a task, so it costs a system call only when the socket was marked readable.
    fn is_idle_and_open(&mut self) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        matches!(Pin::new(self).poll_read(&mut cx, &mut buf), Poll::Pending)
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
