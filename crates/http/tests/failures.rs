//! 502, 503, 504, retries and passive health.

mod common;

use std::time::Duration;

use common::*;
use switchyard_testkit::{backends, special};

#[tokio::test]
async fn no_server_up_is_503() {
    let be = backends::named("a").await;
    let h = start(
        listener(Some("app"), vec![]),
        vec![pool("app", "round_robin", &[("a", be.addr)])],
    )
    .await;
    h.pool("app")
        .set_health("a", false, switchyard_balance::clock::now())
        .unwrap();
    let res = client().get(h.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.text().await.unwrap(), "no server available\n");
    assert_eq!(h.shared.stats.snapshot().unavailable, 1);
    h.stop().await;
}

/// During an outage every request finds no server up. One warning per request flooded
/// the log (64 lines in 3 s at 20 requests/s); now the first warns, in words, and the
/// rest are summed up at most every 5 s. Both engines: HTTP/1 and HTTP/2 clients.
#[tokio::test]
async fn an_outage_warns_once_not_per_request() {
    let (logs, _guard) = switchyard_testkit::logs::capture();
    let be = backends::named("a").await;
    let h = start(
        listener(Some("app"), vec![]),
        vec![pool("app", "round_robin", &[("a", be.addr)])],
    )
    .await;
    h.pool("app")
        .set_health("a", false, switchyard_balance::clock::now())
        .unwrap();
    for c in [client(), h2c_client()] {
        for _ in 0..20 {
            let res = c.get(h.url("/")).send().await.unwrap();
            assert_eq!(res.status(), 503);
        }
    }
    let text = logs.text();
    assert_eq!(
        text.matches("pool app has no server up: answering 503")
            .count(),
        1,
        "{text}"
    );
    assert_eq!(h.shared.stats.snapshot().unavailable, 40);
    h.stop().await;
}

#[tokio::test]
async fn a_refused_connection_is_retried_on_another_server() {
    let dead = special::dead_addr().await;
    let be = backends::named("alive").await;
    let h = start(
        listener(Some("app"), vec![]),
        vec![pool(
            "app",
            "round_robin",
            &[("dead", dead), ("alive", be.addr)],
        )],
    )
    .await;
    for _ in 0..4 {
        // POST with a body: nothing was sent on a refused connect, so it is safe.
        let res = client()
            .post(h.url("/"))
            .body("payload")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "alive");
    }
    let s = h.shared.stats.snapshot();
    assert!(s.retries >= 1, "{s:?}");
    let snap = h.pool("app").snapshot();
    let dead_stats = snap.server("dead").unwrap().stats();
    assert!(
        dead_stats.failures_total() >= 1,
        "passive health saw the failures"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_dead_only_server_is_502() {
    let dead = special::dead_addr().await;
    let h = start(
        listener(Some("app"), vec![]),
        vec![pool("app", "round_robin", &[("dead", dead)])],
    )
    .await;
    let res = client().get(h.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(h.shared.stats.snapshot().bad_gateway, 1);
    h.stop().await;
}

#[tokio::test]
async fn a_reset_after_sending_is_retried_only_when_idempotent_and_bodyless() {
    let rst = special::resetter().await;
    let be = backends::named("alive").await;
    let h = start(
        listener(Some("app"), vec![]),
        vec![pool(
            "app",
            "round_robin",
            &[("rst", rst.addr), ("alive", be.addr)],
        )],
    )
    .await;
    let c = client();
    let mut gets = Vec::new();
    for _ in 0..4 {
        gets.push(c.get(h.url("/")).send().await.unwrap().status().as_u16());
    }
    assert!(
        gets.iter().all(|&s| s == 200),
        "GETs are replayed: {gets:?}"
    );
    let mut posts = Vec::new();
    for _ in 0..4 {
        posts.push(
            c.post(h.url("/"))
                .body("x")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert!(
        posts.contains(&502),
        "a POST with a body is not replayed: {posts:?}"
    );
    assert!(posts.contains(&200), "{posts:?}");
    h.stop().await;
}

#[tokio::test]
async fn a_slow_backend_is_504_after_the_backend_timeout() {
    let slow = backends::slow("slow", Duration::from_secs(3)).await;
    let mut l = listener(Some("app"), vec![]);
    l.timeouts.backend = Duration::from_millis(200);
    let h = start(l, vec![pool("app", "round_robin", &[("slow", slow.addr)])]).await;
    let t0 = std::time::Instant::now();
    let res = client().get(h.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 504);
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(h.shared.stats.snapshot().gateway_timeout, 1);
    h.stop().await;
}

#[tokio::test]
async fn server_errors_count_as_failures_for_passive_health() {
    let (_be, h) = echo_behind_proxy().await;
    for path in ["/status/500", "/status/503", "/status/404", "/"] {
        client()
            .get(h.url(path))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let snap = h.pool("app").snapshot();
    let stats = snap.server("a").unwrap().stats();
    assert_eq!(stats.requests_total(), 4);
    assert_eq!(stats.failures_total(), 2);
    assert_eq!(stats.in_flight(), 0);
    h.stop().await;
}
