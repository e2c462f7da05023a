//! Every algorithm's long-run shares, over 100,000 picks, within tight bounds.

mod common;

use std::time::Duration;

use common::{index, up_pool};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchyard_balance::{hash_bytes, AdminState, Algorithm, PickRequest, Picked, Pool};

const PICKS: usize = 100_000;

/// Picks `PICKS` times, finishing each at once; returns the share of each server.
fn shares_released(pool: &Pool, n: usize, seed: u64) -> Vec<f64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut counts = vec![0usize; n];
    for _ in 0..PICKS {
        let p = pool.pick(&PickRequest::new(), &mut rng, 0).unwrap();
        counts[index(p.name())] += 1;
    }
    counts.iter().map(|&c| c as f64 / PICKS as f64).collect()
}

/// Picks `picks` times holding every pick (load builds up); returns in-flight shares.
fn shares_held(pool: &Pool, n: usize, picks: usize) -> Vec<f64> {
    let mut rng = SmallRng::seed_from_u64(11);
    let held: Vec<Picked> = (0..picks)
        .map(|_| pool.pick(&PickRequest::new(), &mut rng, 0).unwrap())
        .collect();
    let mut counts = vec![0usize; n];
    held.iter().for_each(|p| counts[index(p.name())] += 1);
    counts.iter().map(|&c| c as f64 / picks as f64).collect()
}

fn expected(weights: &[u32]) -> Vec<f64> {
    let total: u32 = weights.iter().sum();
    weights.iter().map(|&w| w as f64 / total as f64).collect()
}

/// Each share within `rel` (relative) of its expectation.
fn assert_close(alg: &str, got: &[f64], want: &[f64], rel: f64) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rel * w,
            "{alg}: server {i} share {g:.4}, expected {w:.4} ± {:.0}%",
            rel * 100.0
        );
    }
}

#[test]
fn round_robin_is_exactly_even() {
    let pool = up_pool(Algorithm::RoundRobin, &[1, 5, 1, 1]);
    assert_close(
        "round_robin",
        &shares_released(&pool, 4, 1),
        &[0.25; 4],
        0.0,
    );
}

#[test]
fn weighted_round_robin_is_exact_per_cycle() {
    let weights = [5, 1, 1, 3];
    let pool = up_pool(Algorithm::WeightedRoundRobin, &weights);
    // 100,000 is a whole number of 10-pick cycles.
    assert_close(
        "wrr",
        &shares_released(&pool, 4, 1),
        &expected(&weights),
        1e-9,
    );
}

#[test]
fn random_follows_weights() {
    let weights = [1, 2, 3, 4];
    let pool = up_pool(Algorithm::Random, &weights);
    assert_close(
        "random",
        &shares_released(&pool, 4, 2),
        &expected(&weights),
        0.03,
    );
}

#[test]
fn least_connections_balances_held_load_and_spreads_ties() {
    let pool = up_pool(Algorithm::LeastConnections, &[1, 9, 1, 1]);
    assert_close("lc held", &shares_held(&pool, 4, 10_000), &[0.25; 4], 0.001);
    assert_close("lc ties", &shares_released(&pool, 4, 3), &[0.25; 4], 0.03);
}

#[test]
fn weighted_least_connections_balances_load_per_weight() {
    let weights = [1, 2, 3, 4];
    let pool = up_pool(Algorithm::WeightedLeastConnections, &weights);
    assert_close(
        "wlc held",
        &shares_held(&pool, 4, 10_000),
        &expected(&weights),
        0.002,
    );
    // Idle servers tie; ties are broken by weight.
    assert_close(
        "wlc ties",
        &shares_released(&pool, 4, 4),
        &expected(&weights),
        0.03,
    );
}

#[test]
fn power_of_two_follows_weights_idle_and_loaded() {
    let weights = [1, 2, 3, 4];
    let pool = up_pool(Algorithm::PowerOfTwo, &weights);
    assert_close(
        "p2c idle",
        &shares_released(&pool, 4, 5),
        &expected(&weights),
        0.03,
    );
    assert_close(
        "p2c held",
        &shares_held(&pool, 4, 10_000),
        &expected(&weights),
        0.02,
    );
}

/// A backed-up server (requests stuck on it) beside idle ones: `random` keeps sending it
/// its full share, the load-aware algorithms send it nothing while the others are idle.
#[test]
fn load_aware_algorithms_avoid_a_backed_up_server_that_random_keeps_feeding() {
    for alg in [
        Algorithm::Random,
        Algorithm::PowerOfTwo,
        Algorithm::LeastConnections,
        Algorithm::WeightedLeastConnections,
    ] {
        // Twenty requests stuck on s0: picked while the others are disabled.
        let pool = up_pool(alg, &[1; 4]);
        for s in ["s1", "s2", "s3"] {
            pool.set_admin(s, AdminState::Disabled).unwrap();
        }
        let mut rng = SmallRng::seed_from_u64(21);
        let stuck: Vec<Picked> = (0..20)
            .map(|_| pool.pick(&PickRequest::new(), &mut rng, 0).unwrap())
            .collect();
        assert!(stuck.iter().all(|p| p.name() == "s0"));
        for s in ["s1", "s2", "s3"] {
            pool.set_admin(s, AdminState::Normal).unwrap();
        }
        let shares = shares_released(&pool, 4, 22);
        if alg == Algorithm::Random {
            assert_close("random stuck", &shares, &[0.25; 4], 0.03);
        } else {
            assert_eq!(
                shares[0], 0.0,
                "{alg} sent {:.4} to the stuck server",
                shares[0]
            );
        }
    }
}

#[test]
fn peak_ewma_prefers_the_faster_server_without_starving_the_slower() {
    let pool = up_pool(Algorithm::PeakEwma, &[1, 1, 1]);
    let mut rng = SmallRng::seed_from_u64(6);
    let latency = [1u64, 5, 20]; // ms
    let mut counts = [0usize; 3];
    let mut now = 0u64;
    for _ in 0..PICKS {
        let p = pool.pick(&PickRequest::new(), &mut rng, now).unwrap();
        let i = index(p.name());
        counts[i] += 1;
        now += 10_000_000; // 100 requests per second, 1000 s in all
        p.finish(true, Duration::from_millis(latency[i]), now);
    }
    let share = |i: usize| counts[i] as f64 / PICKS as f64;
    assert!(share(0) > 0.6, "{counts:?}");
    assert!(share(0) > share(1) && share(1) > share(2), "{counts:?}");
    // P2C never sends to the worst of three while estimates hold, but the idle decay
    // brings the slow server back every ~14 s (20 ms · e^(-t/10 s) < 5 ms).
    assert!(counts[2] >= 50, "slow server starved: {counts:?}");
}

/// A server that dies and refuses at once (its failures take 50 µs) while its health
/// check has not noticed yet: peak_ewma must not take the instant failures for speed.
#[test]
fn peak_ewma_avoids_a_server_failing_at_once() {
    let pool = up_pool(Algorithm::PeakEwma, &[1, 1, 1]);
    let mut rng = SmallRng::seed_from_u64(23);
    let mut dead_picks = 0;
    for k in 0..3000u64 {
        let now = k * 1_000_000;
        let p = pool.pick(&PickRequest::new(), &mut rng, now).unwrap();
        let dead = p.name() == "s0" && k >= 1000;
        if dead {
            dead_picks += 1;
            p.finish(false, Duration::from_micros(50), now);
        } else {
            p.finish(true, Duration::from_millis(2), now);
        }
    }
    // Random would send it about 667 of the last 2000; a few failures must be enough.
    assert!(
        dead_picks < 40,
        "the dead server took {dead_picks} of 2000 picks"
    );
}

/// The same server back up (health down, then up): it is costed afresh, not at its
/// failures, and takes its share again.
#[test]
fn peak_ewma_serves_a_server_back_from_down_at_once() {
    let pool = up_pool(Algorithm::PeakEwma, &[1, 1, 1]);
    let mut rng = SmallRng::seed_from_u64(24);
    let mut counts = [0usize; 3];
    for k in 0..4000u64 {
        let now = k * 1_000_000;
        if k == 1000 {
            pool.set_health("s0", false, now).unwrap();
            pool.set_health("s0", true, now).unwrap();
        }
        let p = pool.pick(&PickRequest::new(), &mut rng, now).unwrap();
        let i = index(p.name());
        if k < 1000 && i == 0 {
            p.finish(false, Duration::from_micros(50), now);
        } else {
            if k >= 1000 {
                counts[i] += 1;
            }
            p.finish(true, Duration::from_millis(2), now);
        }
    }
    let shares: Vec<f64> = counts.iter().map(|&c| c as f64 / 3000.0).collect();
    assert!(shares[0] > 0.2, "back from down, s0 took {:.3}", shares[0]);
}

#[test]
fn peak_ewma_with_equal_latency_spreads_evenly() {
    let pool = up_pool(Algorithm::PeakEwma, &[1, 1, 1, 1]);
    let mut rng = SmallRng::seed_from_u64(8);
    let mut counts = [0usize; 4];
    for k in 0..PICKS as u64 {
        let p = pool.pick(&PickRequest::new(), &mut rng, k * 1000).unwrap();
        counts[index(p.name())] += 1;
        p.finish(true, Duration::from_millis(2), k * 1000 + 500);
    }
    let shares: Vec<f64> = counts.iter().map(|&c| c as f64 / PICKS as f64).collect();
    assert_close("peak_ewma", &shares, &[0.25; 4], 0.03);
}

#[test]
fn hash_algorithms_follow_weights_over_many_keys() {
    let weights = [1, 3];
    for (alg, tolerance) in [(Algorithm::Maglev, 0.02), (Algorithm::RingHash, 0.15)] {
        let pool = up_pool(alg, &weights);
        let mut rng = SmallRng::seed_from_u64(9);
        let mut counts = [0usize; 2];
        for k in 0..PICKS as u64 {
            let req = PickRequest::new().with_hash(hash_bytes(&k.to_le_bytes()));
            counts[index(pool.pick(&req, &mut rng, 0).unwrap().name())] += 1;
        }
        let shares: Vec<f64> = counts.iter().map(|&c| c as f64 / PICKS as f64).collect();
        assert_close(alg.as_str(), &shares, &expected(&weights), tolerance);
        // No key: a random one, same distribution.
        assert_close(
            alg.as_str(),
            &shares_released(&pool, 2, 10),
            &expected(&weights),
            tolerance,
        );
    }
}

#[test]
fn hash_algorithms_are_sticky_per_key() {
    for alg in [Algorithm::Maglev, Algorithm::RingHash] {
        let pool = up_pool(alg, &[1; 8]);
        let mut rng = SmallRng::seed_from_u64(12);
        for k in 0..1000u64 {
            let req = PickRequest::new().with_hash(hash_bytes(&k.to_be_bytes()));
            let a = pool.pick(&req, &mut rng, 0).unwrap().name().to_string();
            let b = pool.pick(&req, &mut rng, 0).unwrap().name().to_string();
            assert_eq!(a, b, "{alg}");
        }
    }
}

#[test]
fn hash_placement_ignores_listing_order() {
    for alg in [Algorithm::Maglev, Algorithm::RingHash] {
        let forward = up_pool(alg, &[1, 2, 3, 1, 2, 3, 1, 2]);
        let mut reversed = common::spec(alg, &[1, 2, 3, 1, 2, 3, 1, 2]);
        reversed.servers.reverse();
        let reversed = Pool::new_all_up(reversed, 0).unwrap();
        let mut rng = SmallRng::seed_from_u64(13);
        for k in 0..5000u64 {
            let req = PickRequest::new().with_hash(hash_bytes(&k.to_le_bytes()));
            let a = forward.pick(&req, &mut rng, 0).unwrap();
            let b = reversed.pick(&req, &mut rng, 0).unwrap();
            assert_eq!(a.name(), b.name(), "{alg} key {k}");
        }
    }
}
