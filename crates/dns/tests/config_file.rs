//! A configuration written as users write it (TOML, parsed by switchyard-config) serves
//! the answers it describes.

mod common;

use std::collections::HashMap;
use std::net::IpAddr;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData as H, RecordType as T};

fn toml() -> String {
    format!(
        r#"
[[listener]]
name = "dns"
protocol = "dns"
listen = "127.0.0.1:5353"
rate_limit = 100

[[zone]]
name = "example.com"
ttl = 300
ns = ["ns1"]
[zone.soa]
primary = "ns1"
contact = "hostmaster"
serial = 42
refresh = "2h"
retry = "30m"
expire = "14d"
minimum = "5m"

[[zone.record]]
name = "ns1"
type = "A"
values = ["192.0.2.53"]

[[zone.record]]
name = "www"
type = "A"
values = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
ttl = 30

[[zone.record]]
name = "alias"
type = "CNAME"
values = ["www"]

[[zone.record]]
name = "@"
type = "MX"
values = ["10 mail.example.net."]

[[zone.record]]
name = "global"
type = "A"
policy = "geo"
datacenters = ["virginia", "frankfurt", "tokyo"]
ttl = 60

[[datacenter]]
name = "virginia"
latitude = 38.95
longitude = -77.45
addresses = ["198.51.100.10"]
countries = ["US", "CA"]

[[datacenter]]
name = "frankfurt"
latitude = 50.11
longitude = 8.68
addresses = ["198.51.100.20"]

[[datacenter]]
name = "tokyo"
latitude = 35.68
longitude = 139.69
addresses = ["198.51.100.30"]

[geoip]
database = "{}"
"#,
        geoip_path("GeoLite2-City-Test.mmdb").display()
    )
}

#[tokio::test]
async fn a_parsed_configuration_answers_as_written() {
    let cfg = switchyard_config::parse(&toml(), "dns.toml").expect("the example parses");
    let listener = cfg.listeners[0].clone();
    let s = start_with(&cfg, &HashMap::new(), listener).await;

    let r = udp(s.addr, &query("example.com.", T::SOA)).await;
    let H::SOA(soa) = &r.answers[0].data else {
        panic!("{r:?}")
    };
    assert_eq!(soa.mname.to_ascii(), "ns1.example.com.");
    assert_eq!(soa.rname.to_ascii(), "hostmaster.example.com.");
    assert_eq!((soa.serial, soa.minimum), (42, 300));

    let r = udp(s.addr, &query("alias.example.com.", T::A)).await;
    assert_eq!(r.answers.len(), 4, "the CNAME and the three addresses");
    assert_eq!(r.answers[1].ttl, 30);

    let r = udp(s.addr, &query("example.com.", T::MX)).await;
    let H::MX(mx) = &r.answers[0].data else {
        panic!("{r:?}")
    };
    assert_eq!(mx.exchange.to_ascii(), "mail.example.net.");

    let r = udp(
        s.addr,
        &query_ecs(
            "global.example.com.",
            T::A,
            "81.2.69.142".parse().unwrap(),
            32,
        ),
    )
    .await;
    assert_eq!(addresses(&r), ["198.51.100.20".parse::<IpAddr>().unwrap()]);

    let r = udp(s.addr, &query("nope.example.com.", T::A)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(r.authorities[0].ttl, 300, "min(ttl 300, minimum 5m)");
}

#[tokio::test]
async fn a_null_mx_is_accepted_and_answered_as_the_root() {
    // RFC 7505: `0 .` says a domain takes no mail; zone files and BIND accept it.
    let text = toml().replace("values = [\"10 mail.example.net.\"]", "values = [\"0 .\"]");
    let cfg = switchyard_config::parse(&text, "dns.toml").expect("a null MX parses");
    let listener = cfg.listeners[0].clone();
    let s = start_with(&cfg, &HashMap::new(), listener).await;
    let r = udp(s.addr, &query("example.com.", T::MX)).await;
    let H::MX(mx) = &r.answers[0].data else {
        panic!("{r:?}")
    };
    assert_eq!((mx.preference, mx.exchange.to_ascii().as_str()), (0, "."));
    assert!(r.additionals.is_empty(), "no addresses for the root");
}

#[tokio::test]
async fn a_contact_mail_address_outside_the_zone_is_absolute() {
    // "admin@mycorp.internal" became admin.mycorp.internal.example.com, and
    // "admin@example.net" was refused as a relative name missing its trailing dot.
    for (contact, rname) in [
        ("admin@mycorp.internal", "admin.mycorp.internal."),
        ("admin@example.net", "admin.example.net."),
        ("hostmaster@example.com", "hostmaster.example.com."),
    ] {
        let text = toml().replace(
            "contact = \"hostmaster\"",
            &format!("contact = \"{contact}\""),
        );
        let cfg = switchyard_config::parse(&text, "dns.toml").expect("the contact parses");
        let listener = cfg.listeners[0].clone();
        let s = start_with(&cfg, &HashMap::new(), listener).await;
        let r = udp(s.addr, &query("example.com.", T::SOA)).await;
        let H::SOA(soa) = &r.answers[0].data else {
            panic!("{r:?}")
        };
        assert_eq!(soa.rname.to_ascii(), rname, "{contact}");
    }
}
