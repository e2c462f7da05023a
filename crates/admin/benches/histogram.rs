//! What recording a latency costs on the hot path, and what a percentile read costs.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use switchyard_admin::Histogram;

fn observe(c: &mut Criterion) {
    let h = Histogram::new();
    let mut i = 0u64;
    c.bench_function("histogram_observe", |b| {
        b.iter(|| {
            i = i.wrapping_add(7919);
            h.observe(black_box(Duration::from_micros(i % 2_000_000)));
        })
    });

    let shared = Arc::new(Histogram::new());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let other = {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut j = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                j = j.wrapping_add(104_729);
                shared.observe(Duration::from_micros(j % 2_000_000));
            }
        })
    };
    c.bench_function("histogram_observe_contended_2_threads", |b| {
        b.iter(|| {
            i = i.wrapping_add(7919);
            shared.observe(black_box(Duration::from_micros(i % 2_000_000)));
        })
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    other.join().unwrap();

    c.bench_function("histogram_snapshot_p50_p90_p99", |b| {
        b.iter(|| {
            let s = h.snapshot();
            black_box((s.quantile(0.5), s.quantile(0.9), s.quantile(0.99)))
        })
    });
}

criterion_group!(benches, observe);
criterion_main!(benches);
