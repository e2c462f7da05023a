//! `switchyard demo --traffic RATE`: a built-in client that sends RATE requests per
//! second to the demo's HTTP listener, so the dashboard moves at once.
//!
//! Requests leave on a fixed schedule (an open loop, like real users), each in its own
//! task over a keep-alive connection pool, and at most [`MAX_IN_FLIGHT`] at once. It stops
//! with the demo, and by itself after [`MAX_RUN`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio_util::sync::CancellationToken;

/// Requests outstanding at most; beyond it a tick is skipped.
const MAX_IN_FLIGHT: usize = 512;
/// The built-in client stops by itself after this long.
const MAX_RUN: Duration = Duration::from_secs(3600);

/// Sends `rate` requests per second to `url` until `stop` or [`MAX_RUN`].
pub async fn run(url: &'static str, rate: f64, stop: CancellationToken) {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri: hyper::Uri = url.parse().expect("a static URL");
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let deadline = tokio::time::sleep(MAX_RUN);
    tokio::pin!(deadline);
    tracing::info!(rate, "built-in traffic started");
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = &mut deadline => {
                tracing::info!("built-in traffic stopped after an hour");
                return;
            }
            _ = tick.tick() => {}
        }
        if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (client, uri, in_flight) = (client.clone(), uri.clone(), in_flight.clone());
        tokio::spawn(async move {
            if let Ok(response) = client.get(uri).await {
                let _ = response.into_body().collect().await;
            }
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
}
