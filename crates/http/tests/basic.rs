//! The proxy forwards a request to a backend and streams the answer back.

mod common;

use common::*;
use switchyard_testkit::backends;

#[tokio::test]
async fn a_request_reaches_the_default_pool_and_comes_back() {
    let be = backends::echo().await;
    let h = start(
        listener(Some("app"), vec![]),
        vec![pool("app", "round_robin", &[("a", be.addr)])],
    )
    .await;
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
