//! Every scenario shipped in `scenarios/` runs, and the conclusion its comment states
//! holds. The files are short enough to run as they are, in debug.

use std::path::{Path, PathBuf};

use switchyard_sim::{run, Report, RunReport, Scenario};

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

fn run_text(text: &str, name: &str) -> Report {
    let scenario = Scenario::parse_named(text, name, Path::new(".")).expect("scenario parses");
    run(&scenario, false).expect("scenario runs")
}

/// Runs a shipped scenario, after applying `(from, to)` text replacements.
fn run_file(name: &str, edits: &[(&str, &str)]) -> Report {
    let mut text = std::fs::read_to_string(path(name)).expect("scenario file is readable");
    for (from, to) in edits {
        assert!(text.contains(from), "{name} no longer contains {from:?}");
        text = text.replace(from, to);
    }
    run_text(&text, name)
}

fn get<'a>(report: &'a Report, run: &str) -> &'a RunReport {
    report.run(run).unwrap_or_else(|| panic!("no run {run}"))
}

fn total(r: &RunReport) -> u64 {
    r.completed + r.dropped + r.errors
}

/// Failures (drops and errors) in the chart windows starting at or after `from_s`.
fn failures_after(report: &Report, run: &str, from_s: f64) -> u64 {
    let r = get(report, run);
    report
        .window_starts
        .iter()
        .zip(&r.window_errors)
        .filter(|(t, _)| **t >= from_s)
        .map(|(_, e)| e)
        .sum()
}

#[test]
fn overload_one_server_drops_what_four_behind_a_balancer_serve() {
    let report = run_file("overload.toml", &[]);
    let direct = get(&report, "direct");
    assert!(
        direct.dropped * 2 > total(direct),
        "direct dropped only {} of {}",
        direct.dropped,
        total(direct)
    );
    for name in ["round_robin", "least_connections"] {
        let r = get(&report, name);
        assert_eq!(r.dropped + r.errors, 0, "{name} lost requests");
        assert!(
            direct.latency_ms.p50 > 5.0 * r.latency_ms.p50,
            "{name}: direct should wait far longer"
        );
        assert!(
            r.share.iter().all(|s| (s - 0.25).abs() < 0.02),
            "{name}: {:?}",
            r.share
        );
    }
}

#[test]
fn dns_round_robin_with_caching_resolvers_piles_clients_onto_one_server() {
    let cached = run_file("dns-round-robin.toml", &[]);
    let rr = get(&cached, "round_robin");
    let busiest = rr.share.iter().cloned().fold(0.0, f64::max);
    assert!(busiest > 0.35, "busiest share {busiest}");
    assert!(rr.dropped > 0 && rr.max_mean_load() > 1.5, "{rr:?}");

    // The same file without its [dns] table (up to the next blank line): a balancer.
    let text = std::fs::read_to_string(path("dns-round-robin.toml")).expect("readable");
    let start = text.find("\n[dns]").expect("a [dns] table");
    let end = start
        + text[start..]
            .find("\n\n")
            .expect("a blank line after [dns]");
    let balanced = run_text(
        &format!("{}{}", &text[..start], &text[end..]),
        "dns-round-robin.toml",
    );
    let rr = get(&balanced, "round_robin");
    assert!(
        rr.share.iter().all(|s| (s - 0.25).abs() < 0.01),
        "{:?}",
        rr.share
    );
    assert_eq!(rr.dropped, 0);
}

#[test]
fn heterogeneous_speeds_least_connections_beats_round_robin() {
    let report = run_file("heterogeneous.toml", &[]);
    let rr = get(&report, "round_robin");
    let lc = get(&report, "least_connections");
    assert!(
        lc.latency_ms.p99 * 3.0 < rr.latency_ms.p99,
        "lc p99 {} vs rr p99 {}",
        lc.latency_ms.p99,
        rr.latency_ms.p99
    );
    assert!(
        rr.failure_rate() > 0.1,
        "round_robin should overrun D: {rr:?}"
    );
    assert_eq!(lc.dropped + lc.errors, 0);
    assert!(
        lc.share[0] > 0.4 && (rr.share[0] - 0.25).abs() < 0.01,
        "A: lc {} rr {}",
        lc.share[0],
        rr.share[0]
    );
    for name in ["power_of_two", "peak_ewma"] {
        assert!(
            get(&report, name).latency_ms.p99 < rr.latency_ms.p99 / 3.0,
            "{name}"
        );
    }
}

#[test]
fn killed_server_errors_stop_once_health_checks_remove_it() {
    let without = run_file("kill-without-health.toml", &[]);
    let with = run_file("kill-with-health.toml", &[]);
    let (rr_without, rr_with) = (get(&without, "round_robin"), get(&with, "round_robin"));
    // Without checks: a fifth of the requests after the kill (60 s of 180 s) time out.
    let after_kill = total(rr_without) as f64 * 120.0 / 180.0;
    assert!(
        rr_without.errors as f64 > 0.15 * after_kill,
        "errors {}",
        rr_without.errors
    );
    assert!(failures_after(&without, "round_robin", 150.0) > 0);
    // With checks: a burst of errors until detection, then none.
    assert!(
        rr_with.errors * 10 < rr_without.errors,
        "{} vs {}",
        rr_with.errors,
        rr_without.errors
    );
    assert!(rr_with.errors > 0, "the burst before detection must show");
    assert_eq!(failures_after(&with, "round_robin", 90.0), 0);
    assert_eq!(failures_after(&with, "least_connections", 90.0), 0);
    // Before the kill nothing fails in either file.
    assert_eq!(
        failures_after(&without, "round_robin", 0.0)
            - failures_after(&without, "round_robin", 60.0),
        0
    );
}

#[test]
fn high_rate_least_connections_keeps_latency_lowest() {
    let report = run_file("high-rate.toml", &[]);
    let rr = get(&report, "round_robin");
    let lc = get(&report, "least_connections");
    assert!(
        lc.latency_ms.p99 * 2.0 < rr.latency_ms.p99,
        "lc {} rr {}",
        lc.latency_ms.p99,
        rr.latency_ms.p99
    );
    assert!(lc.latency_ms.mean * 2.0 < rr.latency_ms.mean);
    assert!(
        rr.dropped > 0 && lc.dropped == 0,
        "rr {} lc {}",
        rr.dropped,
        lc.dropped
    );
}

#[test]
fn three_of_five_killed_overloads_the_survivors_unless_sized_for_n_minus_2() {
    let report = run_file("n-minus-2.toml", &[]);
    for name in ["round_robin", "least_connections"] {
        let r = get(&report, name);
        let before = failures_after(&report, name, 0.0) - failures_after(&report, name, 60.0);
        assert_eq!(before, 0, "{name}: failures before the kill");
        let after_kill = total(r) as f64 * 120.0 / 180.0;
        assert!(
            r.dropped as f64 > 0.2 * after_kill,
            "{name}: dropped {}",
            r.dropped
        );
        assert!(
            r.load_peak[0] >= 20,
            "{name}: the survivors' queues fill: {:?}",
            r.load_peak
        );
    }
    let sized = run_file("n-minus-2.toml", &[("rate = 60.0", "rate = 35.0")]);
    for name in ["round_robin", "least_connections"] {
        assert_eq!(get(&sized, name).dropped, 0, "{name} at 35/s");
    }
}

#[test]
fn many_balancers_give_least_connections_only_partial_information() {
    let many = run_file("many-balancers.toml", &[]);
    let one = run_file("many-balancers.toml", &[("balancers = 8", "balancers = 1")]);
    let p99 = |r: &Report, name: &str| get(r, name).latency_ms.p99;
    for name in ["least_connections", "power_of_two"] {
        assert!(
            p99(&many, name) > 1.3 * p99(&one, name),
            "{name}: {} vs {}",
            p99(&many, name),
            p99(&one, name)
        );
        assert!(
            p99(&many, name) < p99(&many, "round_robin"),
            "{name} still beats round_robin"
        );
    }
}

#[test]
fn gray_failure_ten_balancer_instances_herd_onto_the_slow_server() {
    let many = run_file("gray-failure.toml", &[]);
    let one = run_file("gray-failure.toml", &[("balancers = 10", "balancers = 1")]);
    // Mean requests at s0 while it is slow (windows are 1 s; skip the first 5 s).
    let slow_load =
        |r: &Report, name: &str| get(r, name).window_load[0][35..90].iter().sum::<f64>() / 55.0;
    for name in ["least_connections", "power_of_two", "peak_ewma"] {
        let (herd, alone) = (slow_load(&many, name), slow_load(&one, name));
        assert!(
            herd > 2.5 * alone,
            "{name}: {herd:.1} requests at s0 with 10 instances vs {alone:.1} with one"
        );
        assert!(
            get(&many, name).latency_ms.p99 > get(&one, name).latency_ms.p99,
            "{name}"
        );
    }
    assert!(slow_load(&many, "round_robin") > 30.0);
}
