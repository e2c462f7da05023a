//! Pool behaviour: states, eligibility, sticky, retries, backups, panic mode, slow start,
//! reloads and counters.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{addr, index, spec, up_pool};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchyard_balance::{
    AdminState, Algorithm, PickRequest, Pool, ServerId, ServerSpec, ServerState,
};

const SEC: u64 = 1_000_000_000;

fn rng() -> SmallRng {
    SmallRng::seed_from_u64(7)
}

fn pick_name(pool: &Pool, req: &PickRequest<'_>, rng: &mut SmallRng) -> Option<String> {
    pool.pick(req, rng, 0).map(|p| p.name().to_string())
}

#[test]
fn pool_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pool>();
    assert_send_sync::<switchyard_balance::Picked>();
}

#[test]
fn servers_start_down_until_health_says_up() {
    let pool = Pool::new(spec(Algorithm::RoundRobin, &[1, 1]), 0).unwrap();
    let mut rng = rng();
    assert!(pool.pick(&PickRequest::new(), &mut rng, 0).is_none());
    assert_eq!(pool.state_of("s0"), Some(ServerState::Down));
    assert!(pool.set_health("s1", true, 5).unwrap());
    assert!(!pool.set_health("s1", true, 6).unwrap());
    for _ in 0..10 {
        assert_eq!(
            pick_name(&pool, &PickRequest::new(), &mut rng).unwrap(),
            "s1"
        );
    }
}

#[test]
fn unknown_server_is_an_operator_worded_error() {
    let pool = up_pool(Algorithm::RoundRobin, &[1]);
    let err = pool.set_health("x", true, 0).unwrap_err().to_string();
    assert_eq!(err, "unknown server \"x\" in pool \"app\"");
    assert!(pool.set_admin("x", AdminState::Draining).is_err());
    assert!(pool.set_weight("x", 2).is_err());
    let err = pool.set_weight("s0", 0).unwrap_err().to_string();
    assert!(err.contains("weight 0") && err.contains("\"s0\""), "{err}");
}

#[test]
fn draining_and_disabled_servers_take_no_new_traffic() {
    let pool = up_pool(Algorithm::RoundRobin, &[1, 1, 1]);
    pool.set_admin("s0", AdminState::Draining).unwrap();
    pool.set_admin("s1", AdminState::Disabled).unwrap();
    assert_eq!(pool.state_of("s0"), Some(ServerState::Draining));
    assert_eq!(pool.state_of("s1"), Some(ServerState::Disabled));
    let mut rng = rng();
    for _ in 0..20 {
        assert_eq!(
            pick_name(&pool, &PickRequest::new(), &mut rng).unwrap(),
            "s2"
        );
    }
    pool.set_admin("s1", AdminState::Normal).unwrap();
    let seen: std::collections::HashSet<String> = (0..20)
        .filter_map(|_| pick_name(&pool, &PickRequest::new(), &mut rng))
        .collect();
    assert_eq!(seen.len(), 2);
}

#[test]
fn sticky_keeps_up_and_draining_servers_but_not_down_or_disabled() {
    let pool = up_pool(Algorithm::RoundRobin, &[1, 1, 1]);
    let mut rng = rng();
    let s1 = ServerId::of_name("s1");
    let req = PickRequest::new().with_sticky(s1);
    for _ in 0..5 {
        let p = pool.pick(&req, &mut rng, 0).unwrap();
        assert_eq!((p.name(), p.is_sticky()), ("s1", true));
    }
    pool.set_admin("s1", AdminState::Draining).unwrap();
    assert_eq!(pick_name(&pool, &req, &mut rng).unwrap(), "s1");
    pool.set_health("s1", false, 1).unwrap();
    for _ in 0..10 {
        assert_ne!(pick_name(&pool, &req, &mut rng).unwrap(), "s1");
    }
    pool.set_health("s1", true, 2).unwrap();
    pool.set_admin("s1", AdminState::Disabled).unwrap();
    for _ in 0..10 {
        assert_ne!(pick_name(&pool, &req, &mut rng).unwrap(), "s1");
    }
    // A sticky server already tried (retry) is not returned again.
    pool.set_admin("s1", AdminState::Normal).unwrap();
    let ex = [s1];
    let retry = PickRequest::new().with_sticky(s1).with_exclude(&ex);
    assert_ne!(pick_name(&pool, &retry, &mut rng).unwrap(), "s1");
    // An unknown sticky id is ignored.
    let bogus = PickRequest::new().with_sticky(ServerId::from_u64(1));
    assert!(pool.pick(&bogus, &mut rng, 0).is_some());
}

#[test]
fn every_algorithm_respects_the_exclude_list() {
    for alg in Algorithm::ALL {
        let pool = up_pool(alg, &[1, 2, 3, 4]);
        let mut rng = rng();
        let ids: Vec<ServerId> = (0..4)
            .map(|i| ServerId::of_name(&format!("s{i}")))
            .collect();
        for keep in 0..4 {
            let ex: Vec<ServerId> = (0..4).filter(|&i| i != keep).map(|i| ids[i]).collect();
            for k in 0..50u64 {
                let req = PickRequest::new().with_exclude(&ex).with_hash(k * 7919);
                let got = pick_name(&pool, &req, &mut rng).unwrap();
                assert_eq!(index(&got), keep, "{alg}");
            }
        }
        let req = PickRequest::new().with_exclude(&ids);
        assert!(pool.pick(&req, &mut rng, 0).is_none(), "{alg}");
    }
}

#[test]
fn backups_serve_only_when_no_primary_is_up() {
    let mut s = spec(Algorithm::RoundRobin, &[1, 1]);
    s.servers
        .push(ServerSpec::new("b", addr(9)).with_backup(true));
    let pool = Pool::new_all_up(s, 0).unwrap();
    let mut rng = rng();
    for _ in 0..20 {
        assert_ne!(
            pick_name(&pool, &PickRequest::new(), &mut rng).unwrap(),
            "b"
        );
    }
    pool.set_health("s0", false, 1).unwrap();
    pool.set_health("s1", false, 1).unwrap();
    assert!(!pool.snapshot().panic());
    for _ in 0..5 {
        assert_eq!(
            pick_name(&pool, &PickRequest::new(), &mut rng).unwrap(),
            "b"
        );
    }
    pool.set_admin("s0", AdminState::Disabled).unwrap();
    pool.set_health("s1", true, 2).unwrap();
    assert_eq!(
        pick_name(&pool, &PickRequest::new(), &mut rng).unwrap(),
        "s1"
    );
}

#[test]
fn panic_mode_spreads_over_all_in_service_servers() {
    let pool = up_pool(Algorithm::RoundRobin, &[1; 10]);
    let mut rng = rng();
    for i in 0..5 {
        pool.set_health(&format!("s{i}"), false, 1).unwrap();
    }
    // 5 of 10 up: exactly the threshold, not below it.
    assert!(!pool.snapshot().panic());
    pool.set_health("s5", false, 1).unwrap();
    let snap = pool.snapshot();
    assert!(snap.panic());
    assert_eq!(snap.eligible().len(), 10);
    let mut seen = [0u32; 10];
    for _ in 0..100 {
        seen[index(&pick_name(&pool, &PickRequest::new(), &mut rng).unwrap())] += 1;
    }
    assert!(seen.iter().all(|&c| c == 10), "{seen:?}");
    // Disabled and draining servers stay out even in panic mode (and out of the count:
    // 3 up of 8 in service).
    pool.set_admin("s0", AdminState::Disabled).unwrap();
    pool.set_admin("s9", AdminState::Draining).unwrap();
    let snap = pool.snapshot();
    assert!(snap.panic());
    assert_eq!(snap.eligible().len(), 8);
    assert!(snap
        .eligible()
        .iter()
        .all(|s| s.name() != "s0" && s.name() != "s9"));
    // With no server up at all the pool is down: no pick (HTTP 503).
    for i in 6..9 {
        pool.set_health(&format!("s{i}"), false, 1).unwrap();
    }
    assert!(!pool.snapshot().panic());
    assert!(pool.pick(&PickRequest::new(), &mut rng, 0).is_none());
}

/// In panic mode the first pick spreads over every in-service server, down ones too; a
/// retry after a failure goes to a server that is up while one is left, instead of to
/// another down one (3 of 5 down: 28 of 300 requests got 502 through the real proxy).
#[test]
fn a_retry_in_panic_mode_prefers_servers_that_are_up() {
    for algorithm in Algorithm::ALL {
        let pool = up_pool(algorithm, &[1; 5]);
        for i in 0..3 {
            pool.set_health(&format!("s{i}"), false, 1).unwrap();
        }
        let snap = pool.snapshot();
        assert!(snap.panic(), "{algorithm:?}");
        let mut rng = rng();
        for k in 0..200u64 {
            let first = pool
                .pick(&PickRequest::new().with_hash(k * 7919), &mut rng, 0)
                .unwrap();
            let tried = [first.id()];
            let req = PickRequest::new().with_hash(k * 7919).with_exclude(&tried);
            let retry = pool.pick(&req, &mut rng, 0).unwrap();
            assert_eq!(
                retry.server().state(),
                ServerState::Up,
                "{algorithm:?}: retry after {} went to {}",
                first.name(),
                retry.name()
            );
        }
    }
}

#[test]
fn panic_threshold_zero_disables_panic_mode() {
    let mut s = spec(Algorithm::RoundRobin, &[1; 10]);
    s.panic_threshold = 0;
    let pool = Pool::new_all_up(s, 0).unwrap();
    for i in 0..9 {
        pool.set_health(&format!("s{i}"), false, 1).unwrap();
    }
    assert!(!pool.snapshot().panic());
    assert_eq!(pool.snapshot().eligible().len(), 1);
}

#[test]
fn slow_start_ramps_weight_from_ten_percent_to_full() {
    let mut s = spec(Algorithm::WeightedRoundRobin, &[10, 10]);
    s.slow_start = Some(Duration::from_secs(10));
    let pool = Pool::new_all_up(s, 0).unwrap();
    assert_eq!(pool.next_refresh(), None);
    pool.set_health("s1", false, SEC).unwrap();
    pool.set_health("s1", true, 100 * SEC).unwrap();
    let w = |pool: &Pool| pool.snapshot().server("s1").unwrap().effective_weight();
    assert!((w(&pool) - 1.0).abs() < 1e-9, "floor: {}", w(&pool));
    let due = pool.next_refresh().unwrap();
    assert_eq!(due, 100 * SEC + SEC / 2);
    pool.refresh(105 * SEC);
    assert!((w(&pool) - 5.0).abs() < 1e-9, "half-way: {}", w(&pool));
    // Half-way, s1 gets 5 of every 15 picks.
    let mut rng = rng();
    let s1 = (0..1500)
        .filter(|_| pick_name(&pool, &PickRequest::new(), &mut rng).unwrap() == "s1")
        .count();
    assert_eq!(s1, 500);
    pool.refresh(110 * SEC);
    assert_eq!(w(&pool), 10.0);
    assert_eq!(pool.next_refresh(), None);
}

#[test]
fn round_robin_and_least_connections_ramp_a_slow_starting_server_too() {
    // The SPEC's example pairs least_connections with slow_start: the ramp must act.
    for algorithm in [Algorithm::RoundRobin, Algorithm::LeastConnections] {
        // Configured weights are still ignored: s1's 10 does not give it more.
        let mut s = spec(algorithm, &[1, 10]);
        s.slow_start = Some(Duration::from_secs(10));
        let pool = Pool::new_all_up(s, 0).unwrap();
        pool.set_health("s1", false, SEC).unwrap();
        pool.set_health("s1", true, 100 * SEC).unwrap();
        assert!(pool.next_refresh().is_some(), "{algorithm}: no ramp");
        pool.refresh(105 * SEC);
        // Half-way, s1 takes 0.5 / 1.5 of the picks.
        let mut rng = rng();
        let s1 = (0..1500)
            .filter(|_| pick_name(&pool, &PickRequest::new(), &mut rng).unwrap() == "s1")
            .count();
        assert!(
            (450..=550).contains(&s1),
            "{algorithm}: s1 took {s1} of 1500"
        );
        // Fully ramped, they share equally again.
        pool.refresh(110 * SEC);
        assert_eq!(pool.next_refresh(), None);
        let s1 = (0..1000)
            .filter(|_| pick_name(&pool, &PickRequest::new(), &mut rng).unwrap() == "s1")
            .count();
        assert!(
            (450..=550).contains(&s1),
            "{algorithm}: s1 took {s1} of 1000"
        );
    }
}

#[test]
fn hash_algorithms_ignore_slow_start() {
    let mut s = spec(Algorithm::Maglev, &[1, 1]);
    s.slow_start = Some(Duration::from_secs(10));
    let pool = Pool::new(s, 0).unwrap();
    pool.set_health("s0", true, SEC).unwrap();
    pool.set_health("s1", true, SEC).unwrap();
    assert_eq!(pool.next_refresh(), None);
    pool.set_algorithm(Algorithm::Random).unwrap();
    assert!(pool.next_refresh().is_some());
}

#[test]
fn counters_survive_update_and_set_algorithm() {
    let pool = up_pool(Algorithm::LeastConnections, &[1, 1]);
    let mut rng = rng();
    let stats = Arc::clone(pool.snapshot().server("s0").unwrap().stats());
    let held = pool
        .pick(
            &PickRequest::new().with_sticky(ServerId::of_name("s0")),
            &mut rng,
            0,
        )
        .unwrap();
    assert_eq!(stats.in_flight(), 1);
    pool.set_algorithm(Algorithm::Maglev).unwrap();
    let mut s = spec(Algorithm::LeastConnections, &[1, 1]);
    s.servers.push(ServerSpec::new("s2", addr(2)));
    pool.update(s, 10).unwrap();
    let snap = pool.snapshot();
    assert!(Arc::ptr_eq(&stats, snap.server("s0").unwrap().stats()));
    // The configured algorithm did not change, so the operator's choice stays.
    assert_eq!(snap.algorithm(), Algorithm::Maglev);
    held.finish(false, Duration::from_millis(5), 20);
    assert_eq!(
        (
            stats.in_flight(),
            stats.requests_total(),
            stats.failures_total()
        ),
        (0, 1, 1)
    );
    assert_eq!(
        snap.server("s0").unwrap().latency_ewma(20),
        Some(Duration::from_millis(5))
    );
}

#[test]
fn reload_keeps_states_and_operator_weights_unless_config_changes_them() {
    let pool = Pool::new(spec(Algorithm::WeightedRoundRobin, &[1, 1, 1]), 0).unwrap();
    pool.set_health("s0", true, 1).unwrap();
    pool.set_admin("s1", AdminState::Draining).unwrap();
    pool.set_weight("s0", 7).unwrap();
    pool.set_weight("s2", 9).unwrap();
    pool.set_algorithm(Algorithm::Random).unwrap();
    // s2's configured weight changes; s3 is new; same configured algorithm.
    let mut s = spec(Algorithm::WeightedRoundRobin, &[1, 1, 4, 1]);
    s.servers.remove(1);
    pool.update(s.clone(), 2).unwrap();
    let snap = pool.snapshot();
    assert_eq!(snap.algorithm(), Algorithm::Random);
    assert!(snap.server("s1").is_none());
    let s0 = snap.server("s0").unwrap();
    assert_eq!((s0.state(), s0.weight()), (ServerState::Up, 7));
    assert_eq!(snap.server("s2").unwrap().weight(), 4);
    assert_eq!(snap.server("s3").unwrap().state(), ServerState::Down);
    // The configured algorithm changed: the config wins.
    s.algorithm = Algorithm::Maglev;
    pool.update(s.clone(), 3).unwrap();
    assert_eq!(pool.snapshot().algorithm(), Algorithm::Maglev);
    // A reload that fails validation changes nothing.
    s.params.maglev_table_size = 65536;
    assert!(pool.update(s, 4).is_err());
    assert_eq!(pool.snapshot().servers().len(), 3);
    // Admin state survives a reload that keeps the server.
    pool.set_admin("s2", AdminState::Disabled).unwrap();
    pool.update(spec(Algorithm::Maglev, &[1, 1, 4]), 5).unwrap();
    assert_eq!(pool.state_of("s2"), Some(ServerState::Disabled));
}

#[test]
fn all_up_pools_add_reloaded_servers_up() {
    let pool = up_pool(Algorithm::RoundRobin, &[1]);
    pool.update(spec(Algorithm::RoundRobin, &[1, 1]), 5)
        .unwrap();
    assert_eq!(pool.state_of("s1"), Some(ServerState::Up));
}

#[test]
fn picked_counts_in_flight_until_dropped() {
    let pool = up_pool(Algorithm::LeastConnections, &[1, 1]);
    let mut rng = rng();
    let a = pool.pick(&PickRequest::new(), &mut rng, 0).unwrap();
    let b = pool.pick(&PickRequest::new(), &mut rng, 0).unwrap();
    assert_ne!(
        a.name(),
        b.name(),
        "least connections spreads held requests"
    );
    let snap = pool.snapshot();
    assert_eq!(
        snap.servers()
            .iter()
            .map(|s| s.stats().in_flight())
            .sum::<u64>(),
        2
    );
    drop(a);
    b.finish(true, Duration::from_millis(1), 1);
    assert_eq!(
        snap.servers()
            .iter()
            .map(|s| s.stats().in_flight())
            .sum::<u64>(),
        0
    );
}

#[test]
fn empty_pool_picks_nothing() {
    let pool = up_pool(Algorithm::Maglev, &[]);
    assert!(pool.pick(&PickRequest::new(), &mut rng(), 0).is_none());
}
