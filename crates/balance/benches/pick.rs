//! Pick cost per algorithm and pool size, alone and with a second thread picking from the
//! same pool, plus the Maglev table build.
//!
//! Time is the measuring thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time:
//! the development machines are shared, and preemption by other builds would otherwise
//! dominate nanosecond-scale results. Cache and memory-bus interference still shows.
//!
//! Run: `cargo bench -p switchyard-balance --bench pick -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchyard_balance::{
    build_maglev_table, hash_bytes, Algorithm, PickRequest, Pool, PoolSpec, ServerSpec,
};

const SIZES: [usize; 4] = [4, 100, 1000, 10_000];

fn pool(alg: Algorithm, n: usize) -> Pool {
    let servers = (0..n)
        .map(|i| {
            let addr = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 80));
            ServerSpec::new(format!("srv-{i}"), addr).with_weight(1 + (i % 4) as u32)
        })
        .collect();
    Pool::new_all_up(PoolSpec::new("bench", alg, servers), 0).expect("valid bench pool")
}

/// One pick-and-release; the hash varies so hash algorithms touch the whole table.
#[inline]
fn pick_once(pool: &Pool, rng: &mut SmallRng, key: &mut u64) {
    *key = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let req = PickRequest::new().with_hash(*key);
    black_box(pool.pick(&req, rng, 0));
}

/// CPU time consumed by the calling thread so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f` `iters` times and returns the CPU time it took.
fn cpu_timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = thread_cpu();
    for _ in 0..iters {
        f();
    }
    thread_cpu() - start
}

fn single(c: &mut Criterion) {
    for alg in Algorithm::ALL {
        let mut group = c.benchmark_group(format!("pick/{alg}"));
        for n in SIZES {
            let pool = pool(alg, n);
            let mut rng = SmallRng::seed_from_u64(1);
            let mut key = 0u64;
            group.bench_function(BenchmarkId::from_parameter(n), |b| {
                b.iter_custom(|iters| cpu_timed(iters, || pick_once(&pool, &mut rng, &mut key)))
            });
        }
        group.finish();
    }
}

/// The measured thread picks while a second thread picks from the same pool nonstop.
fn contended(c: &mut Criterion) {
    for alg in Algorithm::ALL {
        let mut group = c.benchmark_group(format!("pick2t/{alg}"));
        for n in SIZES {
            let pool = Arc::new(pool(alg, n));
            let stop = Arc::new(AtomicBool::new(false));
            let rival = {
                let (pool, stop) = (Arc::clone(&pool), Arc::clone(&stop));
                thread::spawn(move || {
                    let mut rng = SmallRng::seed_from_u64(2);
                    let mut key = 1u64;
                    while !stop.load(Ordering::Relaxed) {
                        pick_once(&pool, &mut rng, &mut key);
                    }
                })
            };
            let mut rng = SmallRng::seed_from_u64(1);
            let mut key = 0u64;
            group.bench_function(BenchmarkId::from_parameter(n), |b| {
                b.iter_custom(|iters| cpu_timed(iters, || pick_once(&pool, &mut rng, &mut key)))
            });
            stop.store(true, Ordering::Relaxed);
            rival.join().expect("rival thread");
        }
        group.finish();
    }
}

fn maglev_build(c: &mut Criterion) {
    let m = 65_537u64;
    let perms: Vec<(u64, u64)> = (0..1000)
        .map(|i| {
            let h = hash_bytes(format!("srv-{i}").as_bytes());
            (h % m, (h >> 32) % (m - 1) + 1)
        })
        .collect();
    let weights = vec![1u32; perms.len()];
    let mut group = c.benchmark_group("maglev_build");
    group.bench_function("n1000_m65537", |b| {
        b.iter_custom(|iters| {
            cpu_timed(iters, || {
                black_box(build_maglev_table(m, &perms, &weights));
            })
        })
    });
    let spec = PoolSpec::new(
        "bench",
        Algorithm::Maglev,
        (0..1000)
            .map(|i| ServerSpec::new(format!("srv-{i}"), SocketAddr::from(([10, 0, 0, 1], 80))))
            .collect(),
    );
    group.bench_function("pool_snapshot_n1000", |b| {
        b.iter_custom(|iters| {
            cpu_timed(iters, || {
                black_box(Pool::new_all_up(spec.clone(), 0).expect("valid"));
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    targets = maglev_build, single, contended
}
criterion_main!(benches);
