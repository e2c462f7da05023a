//! `/metrics` serves a valid Prometheus exposition, checked by an independent parser.

mod common;

use common::exposition::{check, Sample};

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
    })
}

#[tokio::test]
async fn metrics_exposition_is_valid_and_complete() {
    let served = common::serve(None).await;
    let resp = reqwest::get(format!("{}/metrics", served.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = resp.text().await.unwrap();
    let samples = check(&text).unwrap_or_else(|problems| {
        panic!("invalid exposition:\n{}\n---\n{text}", problems.join("\n"))
    });

    assert!(
        samples.iter().all(|s| s.name.starts_with("switchyard_")),
        "every name starts with switchyard_"
    );
    let build = find(&samples, "switchyard_build_info", &[]).expect("build info");
    assert_eq!(build.value, 1.0);
    assert!(build
        .labels
        .iter()
        .any(|(k, v)| k == "version" && !v.is_empty()));
    assert_eq!(find(&samples, "switchyard_ready", &[]).unwrap().value, 1.0);
    let flaky_down = find(
        &samples,
        "switchyard_server_state",
        &[("server", "flaky"), ("state", "down")],
    )
    .unwrap();
    assert_eq!(flaky_down.value, 1.0);
    // A label value with quotes survives escaping and parses back unchanged.
    assert!(find(
        &samples,
        "switchyard_server_weight",
        &[("server", "primary \"quoted\"")]
    )
    .is_some());
    assert_eq!(
        find(&samples, "switchyard_pool_panic", &[("pool", "db")])
            .unwrap()
            .value,
        1.0
    );
    assert!(find(
        &samples,
        "switchyard_request_duration_seconds_bucket",
        &[("le", "+Inf")]
    )
    .is_some());
    assert_eq!(
        find(
            &samples,
            "switchyard_anycast_announced",
            &[("prefix", "203.0.113.10/32")]
        )
        .unwrap()
        .value,
        1.0
    );
    assert_eq!(
        find(
            &samples,
            "switchyard_datacenter_up",
            &[("datacenter", "virginia")]
        )
        .unwrap()
        .value,
        1.0
    );
}

#[tokio::test]
async fn metrics_follow_operator_actions_and_readiness() {
    let served = common::serve(None).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/pools/app/servers/fast/drain", served.base);
    assert_eq!(client.post(url).send().await.unwrap().status(), 200);
    served.control.set_ready(false);
    let text = reqwest::get(format!("{}/metrics", served.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = check(&text).unwrap();
    let draining = find(
        &samples,
        "switchyard_server_state",
        &[("server", "fast"), ("state", "draining")],
    )
    .unwrap();
    assert_eq!(draining.value, 1.0);
    assert_eq!(find(&samples, "switchyard_ready", &[]).unwrap().value, 0.0);
}

#[test]
fn checker_rejects_broken_expositions() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\\\"\"} 1\n";
    assert!(check(good).is_ok());
    for bad in [
        "a_total 1\n",                                    // no TYPE
        "# TYPE a_total counter\na_total{x=\"1} 1\n",     // unterminated
        "# TYPE a counter\na 1\n",                        // counter name
        "# TYPE a_total counter\na_total 1\na_total 2\n", // duplicate
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE g gauge\ng x\n",
        "# TYPE g gauge\n# TYPE f gauge\n# TYPE g gauge\n",
    ] {
        assert!(check(bad).is_err(), "accepted: {bad}");
    }
}
