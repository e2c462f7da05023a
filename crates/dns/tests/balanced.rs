//! Balanced records over real sockets: answers follow the pool's health.

mod common;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use common::*;
use hickory_proto::rr::RecordType as T;
use switchyard_balance::{clock, Algorithm, Pool, PoolSpec, ServerSpec};
use switchyard_config::{BalancePolicy, Config, RecordData, RecordType};

const Z: &str = "lb.test";

fn pool(servers: &[(&str, &str, u32, bool)]) -> Arc<Pool> {
    let specs = servers
        .iter()
        .map(|(name, addr, weight, backup)| {
            ServerSpec::new(*name, addr.parse().unwrap())
                .with_weight(*weight)
                .with_backup(*backup)
        })
        .collect();
    let spec = PoolSpec::new("app", Algorithm::RoundRobin, specs);
    Arc::new(Pool::new_all_up(spec, clock::now()).expect("pool builds"))
}

fn app() -> Arc<Pool> {
    pool(&[
        ("a", "192.0.2.1:80", 1, false),
        ("b", "192.0.2.2:80", 1, false),
        ("c", "192.0.2.3:80", 8, false),
        ("v6", "[2001:db8::1]:80", 1, false),
        ("bk", "192.0.2.9:80", 1, true),
    ])
}

fn balanced(
    name: &str,
    rtype: RecordType,
    policy: BalancePolicy,
    max: Option<usize>,
) -> switchyard_config::Record {
    record(
        Z,
        name,
        rtype,
        30,
        RecordData::Balanced {
            pool: "app".into(),
            policy,
            max_answers: max,
        },
    )
}

fn cfg() -> Config {
    use BalancePolicy::*;
    config(vec![zone(
        Z,
        vec![
            balanced("rr", RecordType::A, RoundRobin, Some(2)),
            balanced("w", RecordType::A, Weighted, Some(2)),
            balanced("fo", RecordType::A, Failover, None),
            balanced("all", RecordType::A, All, None),
            balanced("all", RecordType::Aaaa, All, None),
        ],
    )])
}

async fn server(p: &Arc<Pool>) -> TestServer {
    let pools = HashMap::from([("app".to_string(), Arc::clone(p))]);
    start(&cfg(), &pools).await
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn round_robin_rotates_over_up_servers_with_max_answers() {
    let p = app();
    let s = server(&p).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let r = udp(s.addr, &query("rr.lb.test.", T::A)).await;
        let got = addresses(&r);
        assert_eq!(got.len(), 2);
        assert_ne!(got[0], got[1]);
        assert_eq!(r.answers[0].ttl, 30);
        seen.push(got[0]);
    }
    seen.sort();
    assert_eq!(seen, [ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3")]);
}

#[tokio::test]
async fn answers_follow_health() {
    let p = app();
    let s = server(&p).await;
    p.set_health("a", false, clock::now()).unwrap();
    p.set_health("c", false, clock::now()).unwrap();
    for _ in 0..4 {
        let r = udp(s.addr, &query("rr.lb.test.", T::A)).await;
        assert_eq!(addresses(&r), [ip("192.0.2.2")]);
    }
    p.set_health("a", true, clock::now()).unwrap();
    let r = udp(s.addr, &query("all.lb.test.", T::A)).await;
    assert_eq!(addresses(&r), [ip("192.0.2.1"), ip("192.0.2.2")]);
}

#[tokio::test]
async fn weighted_picks_by_weight_without_repetition() {
    let p = app();
    let s = server(&p).await;
    let mut first_c = 0;
    for _ in 0..60 {
        let r = udp(s.addr, &query("w.lb.test.", T::A)).await;
        let got = addresses(&r);
        assert_eq!(got.len(), 2);
        assert_ne!(got[0], got[1], "no repetition");
        if got[0] == ip("192.0.2.3") {
            first_c += 1;
        }
    }
    // c has weight 8 of 10: first about 80% of the time
    assert!(first_c > 30, "c first only {first_c} of 60 times");
}

#[tokio::test]
async fn failover_answers_the_first_up_server_then_backups() {
    let p = app();
    let s = server(&p).await;
    let r = udp(s.addr, &query("fo.lb.test.", T::A)).await;
    assert_eq!(addresses(&r), [ip("192.0.2.1")]);
    p.set_health("a", false, clock::now()).unwrap();
    let r = udp(s.addr, &query("fo.lb.test.", T::A)).await;
    assert_eq!(addresses(&r), [ip("192.0.2.2")]);
    for name in ["b", "c"] {
        p.set_health(name, false, clock::now()).unwrap();
    }
    let r = udp(s.addr, &query("fo.lb.test.", T::A)).await;
    assert_eq!(addresses(&r), [ip("192.0.2.9")], "the backup, last");
}

#[tokio::test]
async fn all_answers_every_up_server_and_backups_only_when_needed() {
    let p = app();
    let s = server(&p).await;
    let r = udp(s.addr, &query("all.lb.test.", T::A)).await;
    assert_eq!(
        addresses(&r),
        [ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3")]
    );
    for name in ["a", "b", "c"] {
        p.set_health(name, false, clock::now()).unwrap();
    }
    let r = udp(s.addr, &query("all.lb.test.", T::A)).await;
    assert_eq!(addresses(&r), [ip("192.0.2.9")]);
}

#[tokio::test]
async fn aaaa_takes_the_ipv6_servers() {
    let p = app();
    let s = server(&p).await;
    let r = udp(s.addr, &query("all.lb.test.", T::AAAA)).await;
    assert_eq!(addresses(&r), [ip("2001:db8::1")]);
    let r = udp(s.addr, &query("rr.lb.test.", T::AAAA)).await;
    assert!(r.answers.is_empty(), "rr has no AAAA record: NODATA");
}

#[tokio::test]
async fn no_server_up_fails_open_with_every_address() {
    let p = app();
    let s = server(&p).await;
    for name in ["a", "b", "c", "v6", "bk"] {
        p.set_health(name, false, clock::now()).unwrap();
    }
    let every = [
        ip("192.0.2.1"),
        ip("192.0.2.2"),
        ip("192.0.2.3"),
        ip("192.0.2.9"),
    ];
    // Whatever the policy and max_answers: every configured address of the family.
    for name in ["all", "fo", "rr", "w"] {
        let r = udp(s.addr, &query(&format!("{name}.lb.test."), T::A)).await;
        let mut got = addresses(&r);
        got.sort();
        assert_eq!(got, every, "{name} fails open with every address");
    }
}

#[tokio::test]
async fn servers_sharing_an_address_are_answered_once() {
    // Two servers on one host (different ports) are one address to DNS: answering it
    // twice made duplicate records in one RRset and wasted max_answers on it.
    let p = pool(&[
        ("a1", "192.0.2.1:8001", 1, false),
        ("a2", "192.0.2.1:8002", 1, false),
        ("b", "192.0.2.2:80", 1, false),
        ("v6", "[2001:db8::1]:80", 1, false),
        ("bk", "192.0.2.9:80", 1, true),
    ]);
    let s = server(&p).await;
    let r = udp(s.addr, &query("all.lb.test.", T::A)).await;
    assert_eq!(addresses(&r), [ip("192.0.2.1"), ip("192.0.2.2")]);
    for name in ["rr.lb.test.", "w.lb.test."] {
        for _ in 0..6 {
            let got = addresses(&udp(s.addr, &query(name, T::A)).await);
            assert_eq!(got.len(), 2, "{name}: {got:?}");
            assert_ne!(got[0], got[1], "{name}: {got:?}");
        }
    }
    // one of the host's two servers down: the host is still answered, once
    p.set_health("a1", false, clock::now()).unwrap();
    let r = udp(s.addr, &query("all.lb.test.", T::A)).await;
    assert_eq!(addresses(&r), [ip("192.0.2.1"), ip("192.0.2.2")]);
    // every server down: fail open, each address once
    for n in ["a2", "b", "bk"] {
        p.set_health(n, false, clock::now()).unwrap();
    }
    let r = udp(s.addr, &query("all.lb.test.", T::A)).await;
    assert_eq!(
        addresses(&r),
        [ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.9")]
    );
}
