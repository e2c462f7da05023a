//! Simulated requests per second of wall time, in release: the engine, the workload and
//! the real `switchyard-balance` picks together.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchyard_sim::Scenario;

const SCENARIO: &str = r#"
seed = 1
duration = "2000s"
algorithms = ["ALGO"]
timeout = "none"
arrivals = { process = "poisson", rate = 90.0 }
service = { distribution = "exponential", mean = "1s" }
"#;

/// `servers` servers at utilisation 0.9 for 2000 s (rate 0.9 per server).
fn scenario(algorithm: &str, servers: usize) -> Scenario {
    let rate = 0.9 * servers as f64;
    let mut text = SCENARIO
        .replace("ALGO", algorithm)
        .replace("90.0", &format!("{rate:.1}"));
    for i in 0..servers {
        text.push_str(&format!("[[server]]\nname = \"s{i}\"\n"));
    }
    Scenario::parse(&text).expect("bench scenario parses")
}

fn throughput(c: &mut Criterion) {
    // 100 servers: 90 requests per second for 2000 s. least_connections scans every
    // server per pick, so it is also measured on a pool of 10 (18,000 requests).
    for (servers, algorithms) in [
        (
            100,
            &[
                "round_robin",
                "least_connections",
                "power_of_two",
                "random",
                "peak_ewma",
            ][..],
        ),
        (10, &["least_connections", "peak_ewma"][..]),
    ] {
        let mut group = c.benchmark_group(format!("simulate_{servers}_servers"));
        group.throughput(Throughput::Elements(1800 * servers as u64));
        group.sample_size(10);
        for algorithm in algorithms {
            let sc = scenario(algorithm, servers);
            group.bench_function(*algorithm, |b| {
                b.iter(|| switchyard_sim::run(&sc, false).expect("bench scenario runs"))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, throughput);
criterion_main!(benches);
