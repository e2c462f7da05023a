//! Large bodies stream both ways with flat memory.
//!
//! 1 GiB each way, through real sockets, in the normal suite: about 2.4 s up and 1.9 s
//! down in a debug build, with the whole test process growing by ~11 MiB of RSS.

mod common;

use std::time::Instant;

use bytes::Bytes;
use common::*;
use futures_util::StreamExt;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn stream_both_ways(total: u64) {
    let (_be, h) = echo_behind_proxy().await;
    let c = client();
    let before = rss_kib();

    let t0 = Instant::now();
    const CHUNK: u64 = 256 * 1024;
    let chunk = Bytes::from(vec![7u8; CHUNK as usize]);
    let chunks = total / CHUNK;
    let body =
        futures_util::stream::iter(0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    let res = c
        .post(h.url("/count"))
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), (chunks * CHUNK).to_string());
    let up = t0.elapsed();
    let mid = rss_kib();

    let t0 = Instant::now();
    let res = c
        .get(h.url(&format!("/bytes/{total}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut got = 0u64;
    let mut body = res.bytes_stream();
    while let Some(chunk) = body.next().await {
        got += chunk.unwrap().len() as u64;
    }
    assert_eq!(got, total);
    let down = t0.elapsed();

    let after = rss_kib();
    let grown_mib = after.saturating_sub(before) / 1024;
    eprintln!(
        "streamed {} MiB: up {:?}, down {:?}, RSS {} -> {} -> {} KiB",
        total >> 20,
        up,
        down,
        before,
        mid,
        after
    );
    assert!(
        grown_mib < 64,
        "memory grew by {grown_mib} MiB for {} MiB bodies",
        total >> 20
    );
    let s = h.shared.stats.snapshot();
    assert!(
        s.bytes_in >= chunks * CHUNK && s.bytes_out >= total,
        "{s:?}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_1_gib_stream_up_and_down_with_flat_memory() {
    stream_both_ways(1 << 30).await;
}
