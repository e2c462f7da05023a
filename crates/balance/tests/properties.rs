//! Property tests: invariants that hold for every algorithm, pool shape, state mix,
//! sticky id, retry list and seed.

mod common;

use std::time::Duration;

use common::{addr, index, spec};
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchyard_balance::{
    AdminState, Algorithm, PickRequest, Pool, PoolSpec, ServerId, ServerSpec, ServerState,
};

#[derive(Debug, Clone)]
struct ServerCase {
    weight: u32,
    backup: bool,
    up: bool,
    admin: AdminState,
}

fn admin() -> impl Strategy<Value = AdminState> {
    prop_oneof![
        6 => Just(AdminState::Normal),
        1 => Just(AdminState::Draining),
        1 => Just(AdminState::Disabled),
    ]
}

fn server_case() -> impl Strategy<Value = ServerCase> {
    (
        1u32..=20,
        proptest::bool::weighted(0.2),
        any::<bool>(),
        admin(),
    )
        .prop_map(|(weight, backup, up, admin)| ServerCase {
            weight,
            backup,
            up,
            admin,
        })
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    proptest::sample::select(Algorithm::ALL.to_vec())
}

fn build(alg: Algorithm, cases: &[ServerCase], threshold: u8, bounded: bool) -> Pool {
    let servers = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            ServerSpec::new(format!("s{i}"), addr(i))
                .with_weight(c.weight)
                .with_backup(c.backup)
        })
        .collect();
    let mut spec = PoolSpec::new("app", alg, servers);
    spec.panic_threshold = threshold;
    spec.params.hash_balance_factor = bounded.then_some(125);
    let pool = Pool::new(spec, 0).unwrap();
    for (i, c) in cases.iter().enumerate() {
        let name = format!("s{i}");
        pool.set_health(&name, c.up, 1).unwrap();
        pool.set_admin(&name, c.admin).unwrap();
    }
    pool
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Never a disabled server; never a non-up server except sticky-to-draining or panic
    /// mode; backups only when no primary is up; never an excluded server; `None` only
    /// when nothing else is eligible.
    #[test]
    fn picks_respect_states_backups_and_retries(
        alg in algorithm(),
        cases in proptest::collection::vec(server_case(), 1..10),
        threshold in prop_oneof![Just(0u8), Just(50u8), 0u8..=100],
        seed in any::<u64>(),
        sticky in proptest::option::of(0usize..12),
        excluded in proptest::collection::vec(0usize..12, 0..4),
        bounded in any::<bool>(),
    ) {
        let pool = build(alg, &cases, threshold, bounded);
        let snap = pool.snapshot();
        let ids: Vec<ServerId> = excluded.iter().map(|i| ServerId::of_name(&format!("s{i}"))).collect();
        let sticky_id = sticky.map(|i| ServerId::of_name(&format!("s{i}")));
        let mut req = PickRequest::new().with_exclude(&ids);
        req.sticky = sticky_id;
        let primary_up = snap.servers().iter().any(|s| !s.is_backup() && s.state() == ServerState::Up);
        let mut rng = SmallRng::seed_from_u64(seed);
        // Hold some picks so load-aware algorithms and bounded loads see in-flight work.
        let mut held = Vec::new();
        for k in 0..50u64 {
            req.hash = (k % 2 == 0).then_some(k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            match pool.pick(&req, &mut rng, 2) {
                Some(p) => {
                    let s = p.server();
                    prop_assert_ne!(s.state(), ServerState::Disabled);
                    prop_assert!(!ids.contains(&s.id()));
                    if p.is_sticky() {
                        prop_assert_eq!(Some(s.id()), sticky_id);
                        prop_assert!(matches!(s.state(), ServerState::Up | ServerState::Draining));
                    } else if snap.panic() {
                        prop_assert_eq!(s.admin(), AdminState::Normal);
                        prop_assert!(!s.is_backup());
                    } else {
                        prop_assert_eq!(s.state(), ServerState::Up);
                        prop_assert!(!s.is_backup() || !primary_up);
                    }
                    if k % 3 == 0 {
                        held.push(p);
                    }
                }
                None => {
                    let other = snap.eligible().iter().any(|s| !ids.contains(&s.id()));
                    prop_assert!(!other, "None although an eligible server was not excluded");
                }
            }
        }
    }

    /// The same seed and the same requests give the same picks.
    #[test]
    fn picks_are_deterministic_for_a_seed(
        alg in algorithm(),
        weights in proptest::collection::vec(1u32..=10, 1..8),
        seed in any::<u64>(),
    ) {
        let run = || {
            let pool = Pool::new_all_up(spec(alg, &weights), 0).unwrap();
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut held = Vec::new();
            let mut out = Vec::new();
            for k in 0..200u64 {
                let p = pool.pick(&PickRequest::new(), &mut rng, k * 1000).unwrap();
                out.push(index(p.name()));
                if k % 3 == 0 {
                    p.finish(true, Duration::from_micros(100 + out.len() as u64 % 7 * 50), k * 1000 + 10);
                } else {
                    held.push(p);
                }
            }
            out
        };
        prop_assert_eq!(run(), run());
    }

    /// Weighted round-robin over whole cycles gives every server exactly its weight.
    #[test]
    fn weighted_round_robin_honours_weights_exactly(
        weights in proptest::collection::vec(1u32..=20, 1..8),
        cycles in 1usize..4,
    ) {
        let pool = Pool::new_all_up(spec(Algorithm::WeightedRoundRobin, &weights), 0).unwrap();
        let g = weights.iter().fold(0, |g, &w| gcd(g, w));
        let cycle: u32 = weights.iter().map(|w| w / g).sum();
        let mut rng = SmallRng::seed_from_u64(0);
        let mut counts = vec![0u32; weights.len()];
        for _ in 0..cycle as usize * cycles {
            counts[index(pool.pick(&PickRequest::new(), &mut rng, 0).unwrap().name())] += 1;
        }
        let want: Vec<u32> = weights.iter().map(|w| w / g * cycles as u32).collect();
        prop_assert_eq!(counts, want);
    }

    /// Slow start: the effective weight never falls as time passes, starts at 10% and
    /// reaches the full weight at the end of the ramp.
    #[test]
    fn slow_start_ramp_is_monotone_and_bounded(
        weight in 1u32..=1000,
        ramp_ms in 100u64..100_000,
        steps in proptest::collection::vec(0u64..5_000_000_000, 1..20),
    ) {
        let mut s = spec(Algorithm::PowerOfTwo, &[weight, 1]);
        s.slow_start = Some(Duration::from_millis(ramp_ms));
        let pool = Pool::new(s, 0).unwrap();
        pool.set_health("s1", true, 0).unwrap();
        pool.set_health("s0", true, 1_000).unwrap();
        let w = || pool.snapshot().server("s0").unwrap().effective_weight();
        let full = weight as f64;
        prop_assert!((w() - (full * 0.1).max(0.001)).abs() <= 0.001);
        let mut now = 1_000u64;
        let mut last = w();
        for step in steps {
            now += step;
            pool.refresh(now);
            let cur = w();
            prop_assert!(cur >= last && cur <= full);
            last = cur;
        }
        pool.refresh(1_000 + ramp_ms * 1_000_000);
        prop_assert_eq!(w(), full);
        prop_assert_eq!(pool.next_refresh(), None);
    }

    /// Reloads and algorithm switches keep every surviving server's counters.
    #[test]
    fn counters_survive_reloads_and_switches(
        algs in proptest::collection::vec(algorithm(), 1..5),
        n in 1usize..6,
    ) {
        let pool = Pool::new_all_up(spec(Algorithm::RoundRobin, &vec![1; n]), 0).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..10 {
            pool.pick(&PickRequest::new(), &mut rng, 0).unwrap().finish(true, Duration::from_millis(1), 1);
        }
        let held = pool.pick(&PickRequest::new(), &mut rng, 0).unwrap();
        for alg in algs {
            pool.set_algorithm(alg).unwrap();
            pool.update(spec(Algorithm::RoundRobin, &vec![2; n]), 2).unwrap();
        }
        let snap = pool.snapshot();
        let total: u64 = snap.servers().iter().map(|s| s.stats().requests_total()).sum();
        let flying: u64 = snap.servers().iter().map(|s| s.stats().in_flight()).sum();
        prop_assert_eq!((total, flying), (10, 1));
        drop(held);
        let flying: u64 = snap.servers().iter().map(|s| s.stats().in_flight()).sum();
        prop_assert_eq!(flying, 0);
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
