//! Helpers for the runtime's integration tests: backends whose health can be flipped and
//! that can die and come back on the same port, a tiny HTTP client, and polling.

#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A named HTTP backend: answers its name; `/health` answers 200 or 503 as set; can be
/// killed (port closed, connections dropped) and revived on the same port.
pub struct Flip {
    pub name: String,
    pub addr: SocketAddr,
    healthy: Arc<AtomicBool>,
    pub hits: Arc<AtomicUsize>,
    task: Option<JoinHandle<()>>,
    delay: Duration,
}

impl Flip {
    pub async fn start(name: &str) -> Flip {
        Self::start_with_delay(name, Duration::ZERO).await
    }

    pub async fn start_with_delay(name: &str, delay: Duration) -> Flip {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut flip = Flip {
            name: name.to_string(),
            addr,
            healthy: Arc::new(AtomicBool::new(true)),
            hits: Arc::new(AtomicUsize::new(0)),
            task: None,
            delay,
        };
        flip.task = Some(flip.spawn(listener));
        flip
    }

    fn spawn(&self, listener: TcpListener) -> JoinHandle<()> {
        let (name, healthy, hits, delay) = (
            Arc::<str>::from(self.name.as_str()),
            self.healthy.clone(),
            self.hits.clone(),
            self.delay,
        );
        tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (name, healthy, hits) = (name.clone(), healthy.clone(), hits.clone());
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (name, healthy, hits) = (name.clone(), healthy.clone(), hits.clone());
                    async move {
                        if req.uri().path() == "/health" {
                            let ok = healthy.load(Ordering::SeqCst);
                            let status = if ok { 200 } else { 503 };
                            return Ok::<_, Infallible>(reply(
                                status,
                                if ok { "ok" } else { "sick" }.into(),
                            ));
                        }
                        hits.fetch_add(1, Ordering::SeqCst);
                        let _ = req.into_body().collect().await;
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                        Ok(reply(200, name.to_string()))
                    }
                });
                conns.spawn(async move {
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        })
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }

    /// Closes the port and every connection.
    pub fn kill(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Listens on the same port again.
    pub async fn revive(&mut self) {
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.task = Some(self.spawn(listener));
    }
}

impl Drop for Flip {
    fn drop(&mut self) {
        self.kill();
    }
}

fn reply(status: u16, body: String) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

#[allow(unused_imports)] // not every test file that includes this module uses it
pub use switchyard_testkit::free_port;

/// A keep-alive HTTP client.
pub fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// GET `url`: (status, body).
pub async fn get(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: &str,
) -> Result<(u16, String), String> {
    let req = hyper::Request::get(url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Polls `check` every 10 ms until it holds or `limit` passes; returns the time taken.
pub async fn wait_for<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// A configuration parsed from text (paths relative to the current directory).
pub fn config(text: &str) -> switchyard_config::Config {
    switchyard_config::parse(text, "test.toml")
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"))
}
