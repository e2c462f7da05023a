//! The demo's built-in backends: four small HTTP servers on loopback with different
//! speeds, so that the algorithms visibly differ on the dashboard.
//!
//! Each answers every request with its own name. `flaky` fails now and then (a 500), and
//! every few minutes it also fails its health endpoint for a while, so users see a
//! server go down and come back. They are deliberately simple: hyper on a `TcpListener`,
//! latency from a sleep with a little jitter.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::Rng;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// One demo backend's character.
#[derive(Debug, Clone, Copy)]
pub struct Backend {
    pub name: &'static str,
    /// A loopback address of its own, so DNS answers show which servers are up.
    pub ip: &'static str,
    pub port: u16,
    /// Mean time to answer.
    pub latency: Duration,
    /// Share of requests answered with a 500.
    pub error_rate: f64,
    /// Health endpoint outage: (period, outage length) — `flaky` only.
    pub outage: Option<(Duration, Duration)>,
}

/// The four demo backends, as `switchyard demo` runs them.
pub const BACKENDS: [Backend; 4] = [
    Backend {
        name: "fast",
        ip: "127.0.0.11",
        port: 9101,
        latency: Duration::from_millis(5),
        error_rate: 0.0,
        outage: None,
    },
    Backend {
        name: "medium",
        ip: "127.0.0.12",
        port: 9102,
        latency: Duration::from_millis(20),
        error_rate: 0.0,
        outage: None,
    },
    Backend {
        name: "slow",
        ip: "127.0.0.13",
        port: 9103,
        latency: Duration::from_millis(80),
        error_rate: 0.0,
        outage: None,
    },
    Backend {
        name: "flaky",
        ip: "127.0.0.14",
        port: 9104,
        latency: Duration::from_millis(15),
        error_rate: 0.1,
        outage: Some((Duration::from_secs(120), Duration::from_secs(20))),
    },
];

/// Binds every demo backend on its loopback address and serves until `shutdown`.
pub async fn start(shutdown: CancellationToken) -> std::io::Result<Vec<SocketAddr>> {
    let mut addrs = Vec::new();
    for backend in BACKENDS {
        let listener = TcpListener::bind((backend.ip, backend.port))
            .await
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "demo backend {} cannot listen on {}:{}: {e}",
                        backend.name, backend.ip, backend.port
                    ),
                )
            })?;
        addrs.push(listener.local_addr()?);
        tokio::spawn(serve(listener, backend, shutdown.clone()));
    }
    Ok(addrs)
}

/// Serves one backend on an already bound listener.
pub async fn serve(listener: TcpListener, backend: Backend, shutdown: CancellationToken) {
    let started = Arc::new(Instant::now());
    let mut accept_errors = switchyard_net::AcceptErrors::new();
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_errors.handle("demo backend", &e).await;
                    continue;
                }
            },
        };
        let started = started.clone();
        let service = service_fn(move |req| {
            let started = started.clone();
            async move { Ok::<_, Infallible>(answer(backend, &req, *started).await) }
        });
        tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer<B>(
    backend: Backend,
    req: &hyper::Request<B>,
    started: Instant,
) -> hyper::Response<Full<Bytes>> {
    if req.uri().path() == "/health" {
        return if in_outage(backend, started.elapsed()) {
            reply(503, "unhealthy\n".into())
        } else {
            reply(200, "ok\n".into())
        };
    }
    let (delay, fail) = {
        let mut rng = rand::rng();
        let jitter: f64 = rng.random_range(0.5..1.5);
        (
            backend.latency.mul_f64(jitter),
            rng.random_bool(backend.error_rate),
        )
    };
    tokio::time::sleep(delay).await;
    if fail {
        return reply(
            500,
            format!("{} failed (demo: flaky fails now and then)\n", backend.name),
        );
    }
    reply(200, format!("{}\n", backend.name))
}

fn in_outage(backend: Backend, elapsed: Duration) -> bool {
    match backend.outage {
        Some((period, length)) => {
            let phase = elapsed.as_millis() % period.as_millis();
            // The outage sits at the end of each period, so the demo starts healthy.
            phase >= (period - length).as_millis()
        }
        None => false,
    }
}

fn reply(status: u16, body: String) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .expect("a static status and header make a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flaky_outage_comes_at_the_end_of_each_period() {
        let flaky = BACKENDS[3];
        assert!(!in_outage(flaky, Duration::from_secs(0)));
        assert!(!in_outage(flaky, Duration::from_secs(99)));
        assert!(in_outage(flaky, Duration::from_secs(100)));
        assert!(in_outage(flaky, Duration::from_secs(119)));
        assert!(!in_outage(flaky, Duration::from_secs(121)));
        assert!(!in_outage(BACKENDS[0], Duration::from_secs(110)));
    }
}
