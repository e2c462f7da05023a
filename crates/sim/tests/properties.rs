//! Properties of any run, over randomly generated small scenarios (servers, speeds,
//! queues, arrival processes, service mixes, kills and revivals, health checks, passive
//! health, retries, DNS caching, several balancers): every request is accounted for
//! exactly once, shares are fractions, percentiles are ordered, and a run is a pure
//! function of its scenario.

use proptest::prelude::*;
use switchyard_sim::{run, Scenario};

const ALGORITHMS: [&str; 9] = [
    "round_robin",
    "weighted_round_robin",
    "least_connections",
    "weighted_least_connections",
    "random",
    "power_of_two",
    "peak_ewma",
    "ring_hash",
    "maglev",
];

/// A scenario's text from generated parameters.
#[allow(clippy::too_many_arguments)]
fn scenario_text(
    seed: u64,
    algorithm: usize,
    servers: &[(f64, u32, Option<u32>, u32)],
    arrivals: u8,
    service: u8,
    kills: &[(u32, usize, bool)],
    options: (bool, bool, bool, u32, u32, bool),
) -> String {
    let (health, outlier, refuse, retries, balancers, dns) = options;
    let mut t = format!(
        "seed = {seed}\nduration = \"20s\"\nwarmup = \"2s\"\nalgorithms = [\"{}\"]\nretries = {retries}\n\
         balancers = {balancers}\ntimeout = \"2s\"\ndead_server = \"{}\"\nclients = 7\n",
        ALGORITHMS[algorithm],
        if refuse { "refuse" } else { "timeout" }
    );
    t += match arrivals % 3 {
        0 => "arrivals = { process = \"poisson\", rate = 40.0 }\n",
        1 => "arrivals = { process = \"bursty\", rate = 80.0, on = \"1s\", off = \"1s\" }\n",
        _ => "arrivals = { process = \"constant\", rate = 30.0 }\n",
    };
    t += match service % 4 {
        0 => "service = { distribution = \"exponential\", mean = \"50ms\" }\n",
        1 => "service = { distribution = \"lognormal\", mean = \"50ms\", sigma = 1.2 }\n",
        2 => "service = { distribution = \"constant\", mean = \"40ms\" }\n",
        _ => "service = { distribution = \"bimodal\", fast = \"10ms\", slow = \"500ms\", slow_fraction = 0.1 }\n",
    };
    if health {
        t += "health = { interval = \"1s\", timeout = \"300ms\", rise = 2, fall = 2 }\n";
        if seed & 1 == 0 {
            t = format!("slow_start = \"3s\"\n{t}");
        }
    }
    if outlier {
        t += "[outlier]\nconsecutive_failures = 3\nbase_ejection = \"2s\"\n";
    }
    if dns {
        t += "[dns]\nresolvers = 3\nttl = \"5s\"\n";
    }
    for (i, (speed, concurrency, queue, weight)) in servers.iter().enumerate() {
        t += &format!("[[server]]\nname = \"s{i}\"\nspeed = {speed}\nconcurrency = {concurrency}\nweight = {weight}\n");
        if let Some(q) = queue {
            t += &format!("queue = {q}\n");
        }
    }
    for (at, server, kill) in kills {
        let name = format!("s{}", server % servers.len());
        let action = if *kill { "kill" } else { "revive" };
        t += &format!("[[event]]\nat = \"{at}s\"\n{action} = \"{name}\"\n");
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_request_is_accounted_for_once_and_runs_are_reproducible(
        seed in 0u64..1000,
        algorithm in 0usize..ALGORITHMS.len(),
        servers in prop::collection::vec((0.3f64..3.0, 1u32..4, prop::option::of(0u32..5), 1u32..5), 1..5),
        arrivals in any::<u8>(),
        service in any::<u8>(),
        kills in prop::collection::vec((0u32..20, 0usize..5, any::<bool>()), 0..4),
        options in (any::<bool>(), any::<bool>(), any::<bool>(), 0u32..3, 1u32..4, any::<bool>()),
    ) {
        let text = scenario_text(seed, algorithm, &servers, arrivals, service, &kills, options);
        let scenario = Scenario::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let report = run(&scenario, false).expect("runs");
        let r = &report.runs[0];
        prop_assert_eq!(r.completed + r.dropped + r.errors, r.arrivals, "{}", text);
        prop_assert!(r.arrivals > 0);
        let sum: f64 = r.share.iter().sum();
        prop_assert!(r.share.iter().all(|s| (0.0..=1.0).contains(s)));
        prop_assert!(sum == 0.0 || (sum - 1.0).abs() < 1e-9, "shares sum to {}", sum);
        let l = r.latency_ms;
        prop_assert!(l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.max, "{:?}", l);
        prop_assert!(r.load_mean.iter().all(|x| x.is_finite() && *x >= 0.0));
        prop_assert_eq!(report.to_json(), run(&scenario, false).expect("runs").to_json());
    }
}
