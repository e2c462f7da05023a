//! Geo records over real sockets, with MaxMind's test databases: the client's place from
//! ECS (IPv4 and IPv6) or its source address, the returned ECS scope, and datacenter
//! failover when a datacenter's pool goes down.

mod common;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use common::*;
use hickory_proto::op::Message;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::RecordType as T;
use switchyard_balance::{clock, Algorithm, Pool, PoolSpec, ServerSpec};
use switchyard_config::{Config, Datacenter, GeoIp, RecordData, RecordType};

const Z: &str = "geo.test";

fn dc(name: &str, lat: f64, lon: f64, n: u8, pool: Option<&str>, countries: &[&str]) -> Datacenter {
    Datacenter {
        name: name.into(),
        latitude: lat,
        longitude: lon,
        addresses: vec![
            IpAddr::from([198, 51, 100, n]),
            format!("2001:db8:{n}::{n}").parse().unwrap(),
        ],
        pool: pool.map(Into::into),
        countries: countries.iter().map(|c| c.to_string()).collect(),
    }
}

fn geo(
    name: &str,
    rtype: RecordType,
    dcs: &[&str],
    max: usize,
    default: &[&str],
) -> switchyard_config::Record {
    record(
        Z,
        name,
        rtype,
        60,
        RecordData::Geo {
            datacenters: dcs.iter().map(|d| d.to_string()).collect(),
            max_answers: max,
            default_order: default.iter().map(|d| d.to_string()).collect(),
        },
    )
}

fn cfg(database: &str) -> Config {
    let all = ["virginia", "frankfurt", "tokyo"];
    let default = ["tokyo", "frankfurt", "virginia"];
    let mut c = config(vec![zone(
        Z,
        vec![
            geo("global", RecordType::A, &all, 1, &default),
            geo("global", RecordType::Aaaa, &all, 1, &default),
            geo("two", RecordType::A, &all, 2, &default),
            geo("west", RecordType::A, &["virginia", "frankfurt"], 1, &[]),
            geo("*.edge", RecordType::A, &all, 1, &default),
        ],
    )]);
    c.datacenters = vec![
        dc(
            "virginia",
            38.95,
            -77.45,
            10,
            Some("virginia_edge"),
            &["US", "CA"],
        ),
        dc("frankfurt", 50.11, 8.68, 20, Some("frankfurt_edge"), &[]),
        dc("tokyo", 35.68, 139.69, 30, None, &[]),
    ];
    c.geoip = Some(GeoIp {
        database: geoip_path(database),
    });
    c
}

fn pool(name: &str, addr: &str) -> Arc<Pool> {
    let spec = PoolSpec::new(
        name,
        Algorithm::RoundRobin,
        vec![ServerSpec::new("edge", addr.parse().unwrap())],
    );
    Arc::new(Pool::new_all_up(spec, clock::now()).unwrap())
}

struct Setup {
    server: TestServer,
    virginia: Arc<Pool>,
    frankfurt: Arc<Pool>,
}

async fn setup(database: &str) -> Setup {
    let virginia = pool("virginia_edge", "10.0.0.1:80");
    let frankfurt = pool("frankfurt_edge", "10.0.0.2:80");
    let pools = HashMap::from([
        ("virginia_edge".to_string(), Arc::clone(&virginia)),
        ("frankfurt_edge".to_string(), Arc::clone(&frankfurt)),
    ]);
    let server = start(&cfg(database), &pools).await;
    Setup {
        server,
        virginia,
        frankfurt,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The ECS option of an answer: (source prefix, scope prefix, address).
fn ecs(m: &Message) -> Option<(u8, u8, IpAddr)> {
    let e = m.edns.as_ref()?;
    match e.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(s) => Some((s.source_prefix(), s.scope_prefix(), s.addr())),
        _ => None,
    }
}

const CITY: &str = "GeoLite2-City-Test.mmdb";

#[tokio::test]
async fn ecs_london_gets_frankfurt_with_the_geoip_network_as_scope() {
    let s = setup(CITY).await;
    let r = udp(
        s.server.addr,
        &query_ecs("global.geo.test.", T::A, ip("81.2.69.142"), 32),
    )
    .await;
    assert_eq!(addresses(&r), [ip("198.51.100.20")]);
    assert_eq!(r.answers[0].ttl, 60);
    assert_eq!(
        ecs(&r),
        Some((32, 31, ip("81.2.69.142"))),
        "scope = the /31 London network"
    );
}

#[tokio::test]
async fn ecs_country_pin_wins_over_distance() {
    let s = setup(CITY).await;
    let r = udp(
        s.server.addr,
        &query_ecs("global.geo.test.", T::A, ip("216.160.83.56"), 32),
    )
    .await;
    assert_eq!(
        addresses(&r),
        [ip("198.51.100.10")],
        "Milton, WA is pinned to virginia"
    );
    assert_eq!(ecs(&r).map(|e| e.1), Some(29));
}

#[tokio::test]
async fn ecs_subnet_in_china_gets_tokyo() {
    let s = setup(CITY).await;
    let r = udp(
        s.server.addr,
        &query_ecs("global.geo.test.", T::A, ip("175.16.199.0"), 24),
    )
    .await;
    assert_eq!(addresses(&r), [ip("198.51.100.30")]);
    let (source, scope, addr) = ecs(&r).expect("ECS echoed");
    assert_eq!((source, addr), (24, ip("175.16.199.0")));
    assert!(
        scope <= 24,
        "scope {scope} is no longer than the GeoIP network"
    );
}

#[tokio::test]
async fn ecs_over_ipv6_locates_japan() {
    let s = setup(CITY).await;
    let r = udp(
        s.server.addr,
        &query_ecs("global.geo.test.", T::AAAA, ip("2001:218::"), 48),
    )
    .await;
    assert_eq!(addresses(&r), [ip("2001:db8:30::30")]);
    assert_eq!(ecs(&r), Some((48, 32, ip("2001:218::"))));
}

#[tokio::test]
async fn without_ecs_the_source_address_decides_and_no_ecs_is_returned() {
    let s = setup(CITY).await;
    // 127.0.0.1 is nowhere: the record's default order (tokyo first)
    let r = udp(s.server.addr, &query_edns("global.geo.test.", T::A, 1232)).await;
    assert_eq!(addresses(&r), [ip("198.51.100.30")]);
    assert_eq!(ecs(&r), None);
}

#[tokio::test]
async fn unknown_place_gets_the_default_order() {
    let s = setup(CITY).await;
    let r = udp(
        s.server.addr,
        &query_ecs("global.geo.test.", T::A, ip("10.1.0.0"), 16),
    )
    .await;
    assert_eq!(addresses(&r), [ip("198.51.100.30")]);
    let r = udp(
        s.server.addr,
        &query_ecs("west.geo.test.", T::A, ip("10.1.0.0"), 16),
    )
    .await;
    assert_eq!(
        addresses(&r),
        [ip("198.51.100.10")],
        "default order = datacenters"
    );
}

#[tokio::test]
async fn datacenter_whose_pool_is_down_is_skipped() {
    let s = setup(CITY).await;
    let london = query_ecs("global.geo.test.", T::A, ip("81.2.69.142"), 32);
    s.frankfurt.set_health("edge", false, clock::now()).unwrap();
    let r = udp(s.server.addr, &london).await;
    assert_eq!(
        addresses(&r),
        [ip("198.51.100.10")],
        "next nearest: virginia"
    );
    s.virginia.set_health("edge", false, clock::now()).unwrap();
    let r = udp(s.server.addr, &london).await;
    assert_eq!(
        addresses(&r),
        [ip("198.51.100.30")],
        "then tokyo (no pool: always up)"
    );
    s.frankfurt.set_health("edge", true, clock::now()).unwrap();
    let r = udp(s.server.addr, &london).await;
    assert_eq!(addresses(&r), [ip("198.51.100.20")], "back to frankfurt");
}

#[tokio::test]
async fn no_datacenter_up_fails_open() {
    let s = setup(CITY).await;
    s.frankfurt.set_health("edge", false, clock::now()).unwrap();
    s.virginia.set_health("edge", false, clock::now()).unwrap();
    let r = udp(
        s.server.addr,
        &query_ecs("west.geo.test.", T::A, ip("81.2.69.142"), 32),
    )
    .await;
    let mut got = addresses(&r);
    got.sort();
    assert_eq!(got, [ip("198.51.100.10"), ip("198.51.100.20")]);
}

#[tokio::test]
async fn max_answers_takes_the_nearest_datacenters() {
    let s = setup(CITY).await;
    let r = udp(
        s.server.addr,
        &query_ecs("two.geo.test.", T::A, ip("81.2.69.142"), 32),
    )
    .await;
    assert_eq!(addresses(&r), [ip("198.51.100.20"), ip("198.51.100.10")]);
}

#[tokio::test]
async fn geo_answers_over_tcp_too() {
    let s = setup(CITY).await;
    let r = tcp(
        s.server.addr,
        &query_ecs("global.geo.test.", T::A, ip("175.16.199.0"), 24),
    )
    .await;
    assert_eq!(addresses(&r), [ip("198.51.100.30")]);
}

#[tokio::test]
async fn country_database_pins_by_country() {
    let s = setup("GeoLite2-Country-Test.mmdb").await;
    let r = udp(
        s.server.addr,
        &query_ecs("global.geo.test.", T::A, ip("216.160.83.56"), 32),
    )
    .await;
    assert_eq!(addresses(&r), [ip("198.51.100.10")]);
    assert_eq!(ecs(&r).map(|e| e.1), Some(29));
    // GB without coordinates: no pin, so the default order
    let r = udp(
        s.server.addr,
        &query_ecs("global.geo.test.", T::A, ip("81.2.69.142"), 32),
    )
    .await;
    assert_eq!(addresses(&r), [ip("198.51.100.30")]);
}

#[tokio::test]
async fn ecs_source_prefix_zero_uses_the_source_address_and_scope_zero() {
    let s = setup(CITY).await;
    let r = udp(
        s.server.addr,
        &query_ecs("global.geo.test.", T::A, ip("0.0.0.0"), 0),
    )
    .await;
    assert_eq!(addresses(&r), [ip("198.51.100.30")]);
    assert_eq!(ecs(&r).map(|e| (e.0, e.1)), Some((0, 0)));
}

#[tokio::test]
async fn static_answers_return_ecs_scope_zero() {
    let mut c = cfg(CITY);
    c.zones[0].records.push(static_record(
        Z,
        "fixed",
        RecordType::A,
        vec![switchyard_config::RData::A("192.0.2.1".parse().unwrap())],
    ));
    let s = start(
        &c,
        &HashMap::from([
            (
                "virginia_edge".to_string(),
                pool("virginia_edge", "10.0.0.1:80"),
            ),
            (
                "frankfurt_edge".to_string(),
                pool("frankfurt_edge", "10.0.0.2:80"),
            ),
        ]),
    )
    .await;
    let r = udp(
        s.addr,
        &query_ecs("fixed.geo.test.", T::A, ip("81.2.69.142"), 32),
    )
    .await;
    assert_eq!(ecs(&r).map(|e| e.1), Some(0));
}

#[tokio::test]
async fn geo_wildcard_answers_with_the_query_name_and_the_ecs_scope() {
    let s = setup(CITY).await;
    for m in [
        query_ecs("Cdn-42.Edge.geo.test.", T::A, ip("81.2.69.142"), 32),
        query_ecs("x.y.edge.geo.test.", T::A, ip("81.2.69.142"), 32),
    ] {
        let r = udp(s.server.addr, &m).await;
        assert_eq!(addresses(&r), [ip("198.51.100.20")], "London: frankfurt");
        assert_eq!(r.answers[0].name.to_ascii(), m.queries[0].name().to_ascii());
        assert_eq!(ecs(&r), Some((32, 31, ip("81.2.69.142"))));
    }
    let r = tcp(
        s.server.addr,
        &query_ecs("tokyo-please.edge.geo.test.", T::A, ip("175.16.199.1"), 24),
    )
    .await;
    assert_eq!(addresses(&r), [ip("198.51.100.30")], "Changchun: tokyo");
    assert_eq!(r.answers[0].name.to_ascii(), "tokyo-please.edge.geo.test.");
}
