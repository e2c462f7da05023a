//! The proxy forwards a request to a backend and streams the answer back.

mod common;

use common::*;
use switchyard_testkit::backends;

#[tokio::test]
async fn a_request_reaches_the_default_pool_and_comes_back() {
    let (be, h) = echo_behind_proxy().await;
    let res = client()
        .post(h.url("/hello?x=1"))
        .body("ping")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-echo-uri"], "/hello?x=1");
    assert_eq!(res.text().await.unwrap(), "ping");
    assert_eq!(be.requests(), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_reload_swaps_the_routes_for_new_requests() {
    use switchyard_config::{Matchers, PathMatch};
    let a = backends::named("a").await;
    let b = backends::named("b").await;
    let pools = vec![
        pool("one", "round_robin", &[("a", a.addr)]),
        pool("two", "round_robin", &[("b", b.addr)]),
    ];
    let h = start(listener(Some("one"), vec![]), pools).await;
    let c = client();
    assert_eq!(
        c.get(h.url("/x"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "a"
    );
    let routes = vec![route(
        Matchers {
            path: Some(PathMatch::Prefix("/x".into())),
            ..Default::default()
        },
        forward("two"),
    )];
    let new_listener = listener(Some("one"), routes);
    let mut config = h.config.clone();
    config.listeners = vec![new_listener.clone()];
    let state = switchyard_http::State::build(&new_listener, &config, &h.pools, &h.shared).unwrap();
    h.state.store(std::sync::Arc::new(state));
    assert_eq!(
        c.get(h.url("/x"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "b"
    );
    assert_eq!(
        h.shared.stats.snapshot().responses_by_class[1],
        2,
        "counters survive the reload"
    );
    h.stop().await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let slow = backends::slow("slow", std::time::Duration::from_millis(400)).await;
    let h = start(
        listener(Some("app"), vec![]),
        vec![pool("app", "round_robin", &[("s", slow.addr)])],
    )
    .await;
    let url = h.url("/");
    let in_flight = tokio::spawn(async move {
        client()
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let addr = h.addr;
    h.stop().await;
    assert_eq!(in_flight.await.unwrap(), "slow");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}
