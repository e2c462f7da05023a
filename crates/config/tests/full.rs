//! The complete example file parses, and its values land typed in the model.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use switchyard_config::*;

fn full() -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/full.toml");
    load(&path).unwrap_or_else(|e| panic!("full.toml should be valid:\n{e}"))
}

#[test]
fn full_example_parses_every_section() {
    let c = full();
    assert_eq!(c.global.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(c.global.access_log.target, LogTarget::Stdout);
    assert_eq!(c.global.access_log.format, LogFormat::Json);
    let admin = c.admin.as_ref().unwrap();
    assert_eq!(
        admin.listen,
        "127.0.0.1:9900".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(admin.token.as_deref(), Some("change-me"));
    assert_eq!(c.pools.len(), 9);
    assert_eq!(c.listeners.len(), 6);
    assert_eq!(c.zones.len(), 1);
    assert_eq!(c.datacenters.len(), 3);
    assert!(c
        .geoip
        .as_ref()
        .unwrap()
        .database
        .ends_with("GeoLite2-City-Test.mmdb"));
    assert_eq!(c.anycast.as_ref().unwrap().announces.len(), 2);
}

#[test]
fn full_example_pools_are_typed() {
    let c = full();
    let app = c.pool("app").unwrap();
    assert_eq!(app.algorithm, Algorithm::LeastConnections);
    assert_eq!(app.slow_start, Some(Duration::from_secs(30)));
    assert_eq!(app.panic_threshold, 40);
    assert_eq!(app.drain_timeout, Some(Duration::from_secs(120)));
    assert_eq!(app.health.check, CheckKind::Http);
    assert_eq!(app.health.method, "GET");
    assert!(app.health.expect_status.matches(204));
    assert_eq!(app.health.expect_body.as_deref(), Some("ok"));
    assert_eq!(app.outlier.as_ref().unwrap().consecutive_failures, 5);
    assert_eq!(
        app.affinity,
        Affinity::Cookie {
            name: "SYD_SRV".into(),
            ttl: Some(Duration::from_secs(3600))
        }
    );
    assert_eq!(app.servers[0].weight, 3);
    assert_eq!(
        app.servers[1].check_target(),
        "127.0.0.1:9102".parse::<SocketAddr>().unwrap()
    );
    assert!(app.servers[2].backup && app.servers[2].address.is_ipv6());

    let canary = c.pool("canary").unwrap();
    assert_eq!(canary.hash_key, HashKey::Header("x-user-id".into()));
    assert_eq!(canary.params.ring_vnodes, 100);
    assert_eq!(canary.params.hash_balance_factor, Some(125));
    assert_eq!(canary.health, Health::default());
    assert!(canary.outlier.is_none());

    let grpc = c.pool("grpc").unwrap();
    assert_eq!(grpc.backend_protocol, BackendProtocol::Http2);
    assert_eq!(grpc.health.check, CheckKind::Grpc);
    assert_eq!(grpc.health.service, "helloworld.Greeter");
    assert!(grpc.health.tls);
    assert_eq!(grpc.params.ewma_decay, Duration::from_secs(5));
    assert_eq!(c.pool("db").unwrap().params.maglev_table_size, 65537);
    assert_eq!(c.pool("db").unwrap().hash_key, HashKey::SourceIp);
    assert_eq!(
        c.pool("default_tls").unwrap().algorithm,
        Algorithm::WeightedRoundRobin
    );
}

#[test]
fn full_example_listeners_and_routes_are_typed() {
    let c = full();
    let web = c.listener("web").unwrap();
    assert_eq!(web.max_connections, Some(10000));
    assert_eq!(web.timeouts.handshake, Duration::from_secs(5));
    assert_eq!(web.pools(), ["app", "canary", "grpc"]);
    let ListenerKind::Http { routes } = &web.kind else {
        panic!("web is http")
    };
    assert_eq!(routes.len(), 4);
    let m = &routes[0].matchers;
    assert_eq!(m.host, Some(HostMatch::Exact("api.example.com".into())));
    assert_eq!(m.path, Some(PathMatch::Prefix("/api/v2".into())));
    assert_eq!(m.methods, ["GET", "HEAD"]);
    assert_eq!(m.headers, [("x-canary".to_string(), "1".to_string())]);
    assert_eq!(m.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        routes[0].action,
        RouteAction::Forward {
            pool: "canary".into(),
            strip_prefix: true,
            set_headers: vec![("x-env".into(), "prod".into())],
            remove_headers: vec!["x-debug".into()],
        }
    );
    assert!(matches!(&routes[1].matchers.path, Some(PathMatch::Regex(r)) if r.is_match("/u/7")));
    assert_eq!(
        routes[2].action,
        RouteAction::Redirect {
            template: "https://{host}{path}".into(),
            status: 301
        }
    );
    assert_eq!(
        routes[3].action,
        RouteAction::Respond {
            status: 403,
            body: "forbidden".into()
        }
    );

    let tls = c.listener("web-tls").unwrap();
    assert_eq!(tls.timeouts.handshake, Duration::from_secs(3));
    let ListenerKind::Https { tls, .. } = &tls.kind else {
        panic!("https")
    };
    assert_eq!(tls.certificates.len(), 3);
    assert!(tls.certificates.iter().all(|c| !c.chain.is_empty()));
    assert_eq!(tls.alpn, ["h2", "http/1.1"]);
    assert_eq!(tls.min_version, TlsVersion::Tls12);
    let backend = tls.backend_tls.as_ref().unwrap();
    assert_eq!(backend.roots.len(), 1);
    assert_eq!(backend.server_name.as_deref(), Some("a.example.com"));

    assert!(matches!(
        c.listener("db").unwrap().kind,
        ListenerKind::Tcp {
            proxy_protocol: ProxyProtocol::V2,
            accept_proxy_protocol: false,
            splice: false,
        }
    ));
    let syslog = c.listener("syslog").unwrap();
    assert_eq!(syslog.timeouts.idle, Duration::from_secs(30));
    assert!(matches!(
        syslog.kind,
        ListenerKind::Udp { max_flows: 10000 }
    ));
    let ListenerKind::Tls { sni_routes, .. } = &c.listener("edge").unwrap().kind else {
        panic!()
    };
    assert!(sni_routes[0].sni.matches("www.shop.example.com"));
    assert!(matches!(
        c.listener("dns").unwrap().kind,
        ListenerKind::Dns {
            rate_limit: Some(100),
            max_tcp_connections: 256
        }
    ));
}

#[test]
fn full_example_zone_records_are_typed() {
    let c = full();
    let z = c.zone("example.com").unwrap();
    assert_eq!(z.ns, ["ns1.example.com"]);
    assert_eq!(z.soa.serial, 2026112701);
    assert_eq!(
        (z.soa.refresh, z.soa.retry, z.soa.expire, z.soa.minimum),
        (7200, 1800, 1_209_600, 300)
    );
    assert_eq!(c.zone_for("www.example.com").unwrap().name, "example.com");
    let www: Vec<_> = z.records_at("www.example.com").collect();
    assert_eq!(www.len(), 2);
    assert_eq!(
        www[0].data,
        RecordData::Static(vec![
            RData::A([192, 0, 2, 1].into()),
            RData::A([192, 0, 2, 2].into()),
            RData::A([192, 0, 2, 3].into()),
        ])
    );
    let mx = z
        .records_at("example.com")
        .find(|r| r.rtype == RecordType::Mx)
        .unwrap();
    assert_eq!(
        mx.data,
        RecordData::Static(vec![
            RData::Mx {
                preference: 10,
                exchange: "mail.example.com".into()
            },
            RData::Mx {
                preference: 20,
                exchange: "mail.backup.example.net".into()
            },
        ])
    );
    let app = z.records_at("app.example.com").next().unwrap();
    assert_eq!(app.ttl, 30);
    assert_eq!(
        app.data,
        RecordData::Balanced {
            pool: "app".into(),
            policy: BalancePolicy::RoundRobin,
            max_answers: Some(2),
        }
    );
    let global = z.records_at("global.example.com").next().unwrap();
    assert_eq!(global.ttl, 60);
    assert_eq!(
        global.data,
        RecordData::Geo {
            datacenters: vec!["virginia".into(), "frankfurt".into(), "tokyo".into()],
            max_answers: 2,
            default_order: vec!["frankfurt".into(), "virginia".into(), "tokyo".into()],
        }
    );
    let docs = z.records_at("docs.example.com").next().unwrap();
    assert_eq!(docs.ttl, 300);
    assert_eq!(
        docs.data,
        RecordData::Static(vec![RData::Cname("www.example.com".into())])
    );
}

#[test]
fn full_example_gslb_is_typed() {
    let c = full();
    let v = c.datacenter("virginia").unwrap();
    assert_eq!(v.countries, ["US", "CA"]);
    assert_eq!(v.pool.as_deref(), Some("virginia_edge"));
    let f = c.datacenter("frankfurt").unwrap();
    assert!(f
        .addresses
        .contains(&"2001:db8:f::20".parse::<IpAddr>().unwrap()));
    let a = c.anycast.as_ref().unwrap();
    assert_eq!(a.hold_down, Duration::from_secs(10));
    assert_eq!(a.withdraw_delay, Duration::from_secs(2));
    assert_eq!(a.announces[0].prefix.to_string(), "203.0.113.10/32");
    assert_eq!(a.announces[1].pools, ["app", "grpc"]);
    assert_eq!(a.announces[1].min_healthy, 2);
}

#[test]
fn reloading_the_same_file_is_an_empty_diff() {
    let d = diff(&full(), &full());
    assert!(d.is_empty(), "{d:?}");
    let d = diff(&Config::default(), &full());
    assert_eq!(d.pools.added.len(), 9);
    assert_eq!(d.zones.added, ["example.com"]);
    assert_eq!(d.datacenters.added, ["virginia", "frankfurt", "tokyo"]);
    assert!(d.geoip && d.anycast && d.admin && d.global);
}

#[test]
fn an_empty_file_is_a_valid_empty_config() {
    assert_eq!(parse("", "empty.toml").unwrap(), Config::default());
}
