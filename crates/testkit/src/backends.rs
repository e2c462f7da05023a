//! HTTP test backends: echo, named, slow and trailers servers (HTTP/1.1 and h2c).
//!
//! Each backend serves HTTP/1.1 and HTTP/2 prior knowledge on one port (hyper-util's
//! auto builder, with upgrades), optionally behind TLS, and records every request it
//! parsed ([`Seen`]) and every raw byte it read. Behaviour by kind:
//!
//! - echo: answers 200 with `x-echo-method`, `x-echo-uri`, `x-echo-version` and streams
//!   the request body back. `GET /status/NNN` answers status NNN; `/count` reads the body
//!   and answers its length; `/bytes/N` streams N zero bytes.
//! - named: answers 200 with its name as body and in `x-server`.
//! - slow: like named, after a delay.
//! - trailers: answers `hello` with trailers `grpc-status: 0`, `grpc-message: ok`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::raw::Recording;

type Body = BoxBody<Bytes, hyper::Error>;

/// A running test backend; stops when dropped.
pub struct Backend {
    /// Where it listens.
    pub addr: SocketAddr,
    pub(crate) shared: Arc<Shared>,
    pub(crate) task: JoinHandle<()>,
}

/// What a backend has observed, shared with its tasks.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) seen: Mutex<Vec<Seen>>,
    pub(crate) raw: Arc<Mutex<Vec<u8>>>,
    pub(crate) connections: AtomicUsize,
}

/// One request as the backend parsed it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Request target as received (origin form for HTTP/1.1).
    pub uri: String,
    /// Protocol version.
    pub version: http::Version,
    /// Headers.
    pub headers: HeaderMap,
}

#[derive(Clone)]
enum Kind {
    Echo,
    Named(Arc<str>),
    Slow(Arc<str>, Duration),
    Trailers,
}

// === impl Backend ===

impl Backend {
    /// Every request parsed so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// How many requests were parsed.
    pub fn requests(&self) -> usize {
        self.shared.seen.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Every byte read from every connection, in arrival order per read (first 4 MiB).
    pub fn raw(&self) -> Vec<u8> {
        self.shared
            .raw
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Stop accepting and drop open connections.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An echo backend.
pub async fn echo() -> Backend {
    spawn(Kind::Echo, None).await
}

/// An echo backend behind TLS with `config` (set its ALPN for h2).
pub async fn echo_tls(config: rustls::ServerConfig) -> Backend {
    spawn(Kind::Echo, Some(TlsAcceptor::from(Arc::new(config)))).await
}

/// A backend answering its name.
pub async fn named(name: &str) -> Backend {
    spawn(Kind::Named(name.into()), None).await
}

/// A backend answering its name after `delay`.
pub async fn slow(name: &str, delay: Duration) -> Backend {
    spawn(Kind::Slow(name.into(), delay), None).await
}

/// A backend answering with a body and HTTP/2 trailers (use it over h2).
pub async fn trailers() -> Backend {
    spawn(Kind::Trailers, None).await
}

async fn spawn(kind: Kind, tls: Option<TlsAcceptor>) -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind backend");
    let addr = listener.local_addr().expect("backend addr");
    let shared = Arc::new(Shared::default());
    let task = tokio::spawn(accept_loop(listener, kind, tls, shared.clone()));
    Backend { addr, shared, task }
}

async fn accept_loop(
    listener: TcpListener,
    kind: Kind,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) {
    let mut conns = tokio::task::JoinSet::new();
    while let Ok((tcp, _)) = listener.accept().await {
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let _ = tcp.set_nodelay(true);
        let io = Recording::new(tcp, shared.raw.clone());
        let (kind, shared, tls) = (kind.clone(), shared.clone(), tls.clone());
        conns.spawn(async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(io).await {
                        serve(stream, kind, shared).await;
                    }
                }
                None => serve(io, kind, shared).await,
            }
        });
        while conns.try_join_next().is_some() {}
    }
}

async fn serve<S>(io: S, kind: Kind, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let (kind, shared) = (kind.clone(), shared.clone());
        async move { Ok::<_, Infallible>(respond(req, kind, shared).await) }
    });
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await;
}

async fn respond(req: Request<Incoming>, kind: Kind, shared: Arc<Shared>) -> Response<Body> {
    if let Ok(mut seen) = shared.seen.lock() {
        seen.push(Seen {
            method: req.method().to_string(),
            uri: req.uri().to_string(),
            version: req.version(),
            headers: req.headers().clone(),
        });
    }
    match kind {
        Kind::Echo => echo_response(req).await,
        Kind::Named(name) => named_response(&name),
        Kind::Slow(name, delay) => {
            tokio::time::sleep(delay).await;
            named_response(&name)
        }
        Kind::Trailers => trailers_response(),
    }
}

async fn echo_response(req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if let Some(code) = path.strip_prefix("/status/") {
        let status = code.parse().ok().and_then(|c| StatusCode::from_u16(c).ok());
        return full(status.unwrap_or(StatusCode::BAD_REQUEST), "status\n");
    }
    if path == "/count" {
        let mut body = req.into_body();
        let mut total = 0u64;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => total += frame.data_ref().map_or(0, |d| d.len() as u64),
                Err(_) => return full(StatusCode::BAD_REQUEST, "body error\n"),
            }
        }
        return full(StatusCode::OK, &total.to_string());
    }
    if let Some(n) = path.strip_prefix("/bytes/") {
        return zeros(n.parse().unwrap_or(0));
    }
    let (parts, body) = req.into_parts();
    let mut res = Response::new(Body::new(body));
    let h = res.headers_mut();
    h.insert("x-echo-method", value(parts.method.as_str()));
    h.insert("x-echo-uri", value(&parts.uri.to_string()));
    h.insert("x-echo-version", value(&format!("{:?}", parts.version)));
    res
}

fn named_response(name: &str) -> Response<Body> {
    let mut res = full(StatusCode::OK, name);
    res.headers_mut().insert("x-server", value(name));
    res
}

fn trailers_response() -> Response<Body> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    trailers.insert("grpc-message", HeaderValue::from_static("ok"));
    let frames = vec![
        Ok::<_, hyper::Error>(Frame::data(Bytes::from_static(b"hello"))),
        Ok(Frame::trailers(trailers)),
    ];
    let mut res = Response::new(StreamBody::new(stream::iter(frames)).boxed());
    res.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    res
}

fn zeros(len: u64) -> Response<Body> {
    const CHUNK: u64 = 64 * 1024;
    let chunk = Bytes::from(vec![0u8; CHUNK as usize]);
    let frames = stream::unfold(len, move |left| {
        let chunk = chunk.clone();
        async move {
            (left > 0).then(|| {
                let n = left.min(CHUNK);
                (Ok(Frame::data(chunk.slice(..n as usize))), left - n)
            })
        }
    });
    Response::new(StreamBody::new(frames).boxed())
}

fn full(status: StatusCode, body: &str) -> Response<Body> {
    let body = Full::new(Bytes::from(body.to_string()))
        .map_err(|never| match never {})
        .boxed();
    let mut res = Response::new(body);
    *res.status_mut() = status;
    res
}

fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("?"))
}
