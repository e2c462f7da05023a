//! The request life cycle, pinned on tiny scenarios whose outcome can be worked out by
//! hand: timeouts, retries, crashes, DNS caching, several balancers, warm-up.

use switchyard_sim::{run, Report, RunReport, Scenario};

fn report(text: &str) -> Report {
    run(&Scenario::parse(text).expect("parses"), false).expect("runs")
}

fn only(report: &Report) -> &RunReport {
    report.runs.last().expect("a run")
}

#[test]
fn timed_out_requests_fail_but_still_occupy_the_server() {
    // One request per second, each needing 2 s of a one-at-a-time server, 1 s timeout:
    // the first is served past its deadline, and the queue only grows.
    let r = report(
        r#"duration = "10s"
           algorithms = ["round_robin"]
           timeout = "1s"
           arrivals = { process = "constant", rate = 1.0 }
           service = { distribution = "constant", mean = "2s" }
           [[server]]
           name = "a""#,
    );
    let run = only(&r);
    assert_eq!(
        (run.completed, run.errors),
        (0, 9),
        "arrivals at 1..9 s all time out"
    );
    assert!(
        run.load_mean[0] > 2.0,
        "the server keeps working on abandoned requests: {:?}",
        run.load_mean
    );
}

#[test]
fn refused_attempts_are_retried_on_a_server_not_tried_yet() {
    let text = r#"duration = "10s"
           algorithms = ["round_robin", "least_connections", "random", "power_of_two"]
           dead_server = "refuse"
           retries = 1
           arrivals = { process = "constant", rate = 10.0 }
           service = { distribution = "constant", mean = "10ms" }
           [[server]]
           name = "a"
           [[server]]
           name = "b"
           [[event]]
           at = "0s"
           kill = "a""#;
    for run in &report(text).runs {
        assert_eq!((run.completed, run.errors), (99, 0), "{}", run.name);
    }
    let no_retry = report(&text.replace("retries = 1", "retries = 0"));
    let rr = no_retry.run("round_robin").expect("run");
    // Arrivals at 0.1 .. 9.9 s; the rotation starts at the dead server: 50 of the 99 fail.
    assert_eq!(
        (rr.completed, rr.errors),
        (49, 50),
        "every other request hits the dead server"
    );
}

#[test]
fn a_crash_resets_requests_in_service_and_revival_restores_service() {
    let r = report(
        r#"duration = "20s"
           algorithms = ["round_robin"]
           dead_server = "refuse"
           arrivals = { process = "constant", rate = 1.0 }
           service = { distribution = "constant", mean = "500ms" }
           [[server]]
           name = "a"
           [[event]]
           at = "5.2s"
           kill = "a"
           [[event]]
           at = "10.5s"
           revive = "a""#,
    );
    let run = only(&r);
    // Arrivals at 1..19 s: the one at 5 s is reset at 5.2 s; 6..10 s are refused.
    assert_eq!((run.completed, run.errors), (13, 6));
}

#[test]
fn a_caching_resolver_sends_all_its_clients_to_one_server_for_the_ttl() {
    let r = report(
        r#"duration = "100s"
           algorithms = ["round_robin"]
           arrivals = { process = "poisson", rate = 20.0 }
           service = { distribution = "constant", mean = "1ms" }
           [dns]
           resolvers = 1
           ttl = "60s"
           [[server]]
           name = "a"
           [[server]]
           name = "b"
           [[server]]
           name = "c""#,
    );
    let share = &only(&r).share;
    // One answer for [0, 60 s), the next for [60 s, 100 s); the third server never.
    assert!(
        (share[0] - 0.6).abs() < 0.03 && (share[1] - 0.4).abs() < 0.03,
        "{share:?}"
    );
    assert_eq!(share[2], 0.0);
}

#[test]
fn warmup_requests_are_served_but_not_counted() {
    let text = r#"duration = "10s"
           warmup = "4s"
           algorithms = ["round_robin"]
           arrivals = { process = "constant", rate = 10.0 }
           service = { distribution = "constant", mean = "1ms" }
           [[server]]
           name = "a""#;
    let run = only(&report(text)).clone();
    assert_eq!(run.completed, 60, "arrivals at 4.0 .. 9.9 s");
    assert!((run.arrival_rate - 10.0).abs() < 1e-9);
}

#[test]
fn each_balancer_instance_keeps_its_own_round_robin_position() {
    // Two instances each rotating over two servers, requests split between them at random:
    // shares stay even, but consecutive requests no longer alternate strictly, so a
    // one-at-a-time server sometimes queues where a single balancer would never queue it.
    let text = r#"duration = "200s"
           algorithms = ["round_robin"]
           balancers = 1
           arrivals = { process = "constant", rate = 10.0 }
           service = { distribution = "constant", mean = "150ms" }
           [[server]]
           name = "a"
           [[server]]
           name = "b""#;
    let one = only(&report(text)).clone();
    let two = only(&report(&text.replace("balancers = 1", "balancers = 2"))).clone();
    assert!(
        (one.latency_ms.max - 150.0).abs() < 1.0,
        "alternating: never a wait"
    );
    assert!(
        two.latency_ms.max > 190.0,
        "two instances collide: {:?}",
        two.latency_ms
    );
    assert!(
        two.share.iter().all(|s| (s - 0.5).abs() < 0.05),
        "{:?}",
        two.share
    );
}

#[test]
fn passive_health_ejects_a_server_that_keeps_failing_and_retries_it_later() {
    let text = r#"duration = "100s"
           algorithms = ["round_robin"]
           dead_server = "refuse"
           arrivals = { process = "constant", rate = 10.0 }
           service = { distribution = "constant", mean = "10ms" }
           [outlier]
           consecutive_failures = 3
           base_ejection = "10s"
           max_ejection = "40s"
           [[server]]
           name = "a"
           [[server]]
           name = "b"
           [[event]]
           at = "0s"
           kill = "a""#;
    let ejecting = only(&report(text)).clone();
    // 3 failures, out 10 s, 3 failures, out 20 s, 3, out 30 s, 3, out 40 s (the cap)...
    assert!(
        ejecting.errors >= 9 && ejecting.errors <= 15,
        "errors {}",
        ejecting.errors
    );
    let without = text
        .replace("[outlier]", "")
        .replace("consecutive_failures = 3", "");
    let without = without
        .replace("base_ejection = \"10s\"", "")
        .replace("max_ejection = \"40s\"", "");
    let blind = only(&report(&without)).clone();
    assert_eq!(
        blind.errors, 500,
        "every other request of 0.1 .. 99.9 s hits the dead server"
    );
}

#[test]
fn a_retried_attempt_gets_its_own_timeout() {
    // Requests queued at "a" (their first attempt's timeout armed) are reset when it
    // crashes and retried on "b", whose queue only grows: the retry must time out after
    // 1 s like any attempt, so nothing completes later than two timeouts after arriving.
    let r = report(
        r#"duration = "10s"
           algorithms = ["round_robin"]
           timeout = "1s"
           retries = 1
           dead_server = "refuse"
           arrivals = { process = "constant", rate = 10.0 }
           service = { distribution = "constant", mean = "800ms" }
           [[server]]
           name = "a"
           speed = 2.0
           [[server]]
           name = "b"
           [[event]]
           at = "5s"
           kill = "a""#,
    );
    let run = only(&r);
    assert!(run.completed > 0);
    assert!(run.latency_ms.max <= 2000.0, "{:?}", run.latency_ms);
}

#[test]
fn clients_give_hash_algorithms_a_stable_key() {
    // Three clients over ten servers: consistent hashing puts each client on one server,
    // so at most three servers see traffic; without client keys every request gets a
    // random key and all ten do.
    let text = r#"duration = "100s"
           algorithms = ["ring_hash", "maglev"]
           clients = 3
           arrivals = { process = "poisson", rate = 20.0 }
           service = { distribution = "constant", mean = "1ms" }
           [[server]]
           name = "s0"
           [[server]]
           name = "s1"
           [[server]]
           name = "s2"
           [[server]]
           name = "s3"
           [[server]]
           name = "s4"
           [[server]]
           name = "s5"
           [[server]]
           name = "s6"
           [[server]]
           name = "s7"
           [[server]]
           name = "s8"
           [[server]]
           name = "s9""#;
    for run in &report(text).runs {
        let used = run.share.iter().filter(|s| **s > 0.0).count();
        assert!((1..=3).contains(&used), "{}: {:?}", run.name, run.share);
    }
    for run in &report(&text.replace("clients = 3", "")).runs {
        assert!(
            run.share.iter().all(|s| *s > 0.03),
            "{}: {:?}",
            run.name,
            run.share
        );
    }
}

#[test]
fn extreme_values_saturate_instead_of_panicking() {
    // A heavy tail beyond any clock, a server slowed to a standstill, a trickle of
    // arrivals: times saturate, nothing overflows, the run ends.
    for text in [
        r#"duration = "10s"
           algorithms = ["peak_ewma"]
           timeout = "none"
           arrivals = { process = "poisson", rate = 50.0 }
           service = { distribution = "lognormal", mean = "1s", sigma = 40.0 }
           [[server]]
           name = "a"
           [[event]]
           at = "1s"
           slow = { server = "a", factor = 1e300 }"#,
        // every request after the slow-down completes at the saturated end of time:
        // the percentiles land in the histogram's top bucket
        r#"duration = "10s"
           algorithms = ["round_robin"]
           timeout = "none"
           arrivals = { process = "poisson", rate = 10.0 }
           service = { distribution = "exponential", mean = "100ms" }
           [[server]]
           name = "a"
           [[event]]
           at = "1s"
           slow = { server = "a", factor = 1e300 }"#,
        r#"duration = "10s"
           algorithms = ["round_robin"]
           arrivals = { process = "bursty", rate = 1e-300, on = "1s", off = "100000h" }
           service = { distribution = "exponential", mean = "1ms" }
           [[server]]
           name = "a""#,
    ] {
        let r = report(text);
        let run = only(&r);
        assert_eq!(run.completed + run.dropped + run.errors, run.arrivals);
    }
}

#[test]
fn slow_start_ramps_a_revived_server_back_in() {
    // b dies at 20 s and is back (health: rise 1) around 40 s; with a 20 s slow start a
    // weighted algorithm gives it well under its half share in the ramp's first seconds.
    let text = r#"duration = "60s"
           algorithms = ["weighted_round_robin"]
           slow_start = "20s"
           dead_server = "refuse"
           windows = 60
           arrivals = { process = "constant", rate = 100.0 }
           service = { distribution = "constant", mean = "1ms" }
           health = { interval = "500ms", timeout = "100ms", rise = 1, fall = 1 }
           [[server]]
           name = "a"
           [[server]]
           name = "b"
           [[event]]
           at = "20s"
           kill = "b"
           [[event]]
           at = "40s"
           revive = "b""#;
    let ramped = only(&report(text)).window_load.clone();
    let plain = only(&report(&text.replace("slow_start = \"20s\"", "")))
        .window_load
        .clone();
    // Requests at b in [41 s, 46 s): with a 1 ms service, load is proportional to share.
    let early = |w: &Vec<Vec<f64>>| w[1][41..46].iter().sum::<f64>();
    assert!(
        early(&ramped) < 0.6 * early(&plain),
        "{} vs {}",
        early(&ramped),
        early(&plain)
    );
    assert!(early(&ramped) > 0.0, "b is back in rotation");
}

#[test]
fn dns_fails_open_when_no_server_is_up() {
    // Every server fails its checks from the start: a balancer has nothing to offer, but
    // the DNS server answers all addresses and clients still reach (dead) servers.
    let text = r#"duration = "10s"
           algorithms = ["round_robin"]
           dead_server = "refuse"
           arrivals = { process = "constant", rate = 10.0 }
           service = { distribution = "constant", mean = "1ms" }
           health = { interval = "1s", timeout = "100ms" }
           [dns]
           resolvers = 2
           ttl = "1s"
           [[server]]
           name = "a"
           [[server]]
           name = "b"
           [[event]]
           at = "0s"
           kill = "a"
           [[event]]
           at = "0s"
           kill = "b""#;
    let run = only(&report(text)).clone();
    assert_eq!(run.errors, run.arrivals);
    assert_eq!(
        run.share.iter().sum::<f64>(),
        1.0,
        "every request was sent somewhere"
    );
}
