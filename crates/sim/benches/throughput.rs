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

fn scenario(algorithm: &str) -> Scenario {
    let mut text = SCENARIO.replace("ALGO", algorithm);
    for i in 0..100 {
        text.push_str(&format!("[[server]]\nname = \"s{i}\"\n"));
    }
    Scenario::parse(&text).expect("bench scenario parses")
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulate");
    // 90 requests per second for 2000 s, 100 servers at utilisation 0.9.
    group.throughput(Throughput::Elements(180_000));
    group.sample_size(10);
    for algorithm in ["round_robin", "least_connections", "power_of_two", "random"] {
        let sc = scenario(algorithm);
        group.bench_function(algorithm, |b| {
            b.iter(|| switchyard_sim::run(&sc, false).expect("bench scenario runs"))
        });
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
