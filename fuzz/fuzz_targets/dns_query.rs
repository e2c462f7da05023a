//! Fuzz the DNS query path: parse any bytes as a query and answer it (static, balanced,
//! geo and wildcard records, additional-section glue, EDNS and ECS), over UDP and TCP
//! limits. Nothing may panic, and any answer must be a well-formed DNS message that
//! echoes the query id.
#![no_main]

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use switchyard_balance::{clock, Algorithm, Pool, PoolSpec, ServerSpec};
use switchyard_config as config;
use switchyard_dns::ratelimit::RateLimiter;
use switchyard_dns::{DnsListenerState, DnsStats, Transport, Worker};

struct Fixture {
    state: DnsListenerState,
    stats: DnsStats,
    limiter: RateLimiter,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let spec = PoolSpec::new(
            "app",
            Algorithm::RoundRobin,
            vec![
                ServerSpec::new("a", "192.0.2.1:80".parse().unwrap()),
                ServerSpec::new("b", "[2001:db8::1]:80".parse().unwrap()).with_weight(3),
            ],
        );
        let pool = Arc::new(Pool::new_all_up(spec, clock::now()).unwrap());
        let pools = HashMap::from([("app".to_string(), pool)]);
        let z = "example.com";
        let rec = |name: &str, rtype, data| config::Record {
            name: name.into(),
            owner: format!("{name}.{z}"),
            rtype,
            ttl: 60,
            data,
        };
        let a = |s: &str| config::RData::A(s.parse().unwrap());
        let zone = config::Zone {
            name: z.into(),
            ttl: 300,
            ns: vec!["ns1.example.com".into()],
            soa: config::Soa {
                primary: "ns1.example.com".into(),
                contact: "hostmaster.example.com".into(),
                serial: 1,
                refresh: 7200,
                retry: 1800,
                expire: 1_209_600,
                minimum: 60,
            },
            records: vec![
                rec(
                    "www",
                    config::RecordType::A,
                    config::RecordData::Static(vec![a("192.0.2.1"), a("192.0.2.2")]),
                ),
                rec(
                    "alias",
                    config::RecordType::Cname,
                    config::RecordData::Static(vec![config::RData::Cname(
                        "www.example.com".into(),
                    )]),
                ),
                rec(
                    "txt",
                    config::RecordType::Txt,
                    config::RecordData::Static(vec![config::RData::Txt("x".repeat(600))]),
                ),
                rec(
                    "lb",
                    config::RecordType::A,
                    config::RecordData::Balanced {
                        pool: "app".into(),
                        policy: config::BalancePolicy::Weighted,
                        max_answers: Some(2),
                    },
                ),
                rec(
                    "lb",
                    config::RecordType::Aaaa,
                    config::RecordData::Balanced {
                        pool: "app".into(),
                        policy: config::BalancePolicy::RoundRobin,
                        max_answers: None,
                    },
                ),
                rec(
                    "geo",
                    config::RecordType::A,
                    config::RecordData::Geo {
                        datacenters: vec!["eu".into(), "us".into()],
                        max_answers: 1,
                        default_order: vec![],
                    },
                ),
                rec(
                    "*",
                    config::RecordType::A,
                    config::RecordData::Static(vec![a("192.0.2.100")]),
                ),
                rec(
                    "*.wild",
                    config::RecordType::Mx,
                    config::RecordData::Static(vec![config::RData::Mx {
                        preference: 10,
                        exchange: "www.example.com".into(),
                    }]),
                ),
                rec(
                    "sub",
                    config::RecordType::Ns,
                    config::RecordData::Static(vec![config::RData::Ns(
                        "ns.sub.example.com".into(),
                    )]),
                ),
            ],
        };
        let dc = |name: &str, lat, lon, addr: &str| config::Datacenter {
            name: name.into(),
            latitude: lat,
            longitude: lon,
            addresses: vec![addr.parse().unwrap()],
            pool: None,
            countries: vec![],
        };
        let cfg = config::Config {
            zones: vec![zone],
            datacenters: vec![
                dc("eu", 50.1, 8.7, "198.51.100.1"),
                dc("us", 38.9, -77.4, "198.51.100.2"),
            ],
            geoip: Some(config::GeoIp {
                database: concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../shared/data/geoip/GeoLite2-City-Test.mmdb"
                )
                .into(),
            }),
            ..config::Config::default()
        };
        let listener = config::Listener {
            name: "dns".into(),
            listen: "127.0.0.1:5353".parse().unwrap(),
            pool: None,
            max_connections: None,
            timeouts: config::Timeouts {
                idle: Duration::from_secs(5),
                ..config::Timeouts::default()
            },
            kind: config::ListenerKind::Dns {
                rate_limit: Some(1_000_000),
                max_tcp_connections: 8,
            },
        };
        Fixture {
            state: DnsListenerState::build(&listener, &cfg, &pools).expect("fixture builds"),
            stats: DnsStats::default(),
            limiter: RateLimiter::default(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let mut w = Worker::new();
    for (transport, limit) in [(Transport::Udp, 1232), (Transport::Tcp, 65535)] {
        if w.handle(
            &f.state,
            &f.stats,
            data,
            IpAddr::from([81, 2, 69, 142]),
            transport,
            Some(&f.limiter),
        ) {
            assert!(w.out.len() >= 12 && w.out.len() <= limit);
            assert_eq!(&w.out[..2], &data[..2]);
            assert!(hickory_proto::op::Message::from_vec(&w.out).is_ok());
        }
    }
});
