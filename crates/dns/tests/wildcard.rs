//! Wildcards (RFC 4592) and the additional section (glue) over real UDP and TCP sockets.

mod common;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData as H, Record as HRecord, RecordType as T};
use switchyard_balance::{clock, Algorithm, Pool, PoolSpec, ServerSpec};
use switchyard_config::{BalancePolicy, Config, RData, RecordData, RecordType};

const Z: &str = "example.com";

fn a(s: &str) -> RData {
    RData::A(s.parse().unwrap())
}

fn mx(preference: u16, exchange: &str) -> RData {
    RData::Mx {
        preference,
        exchange: exchange.into(),
    }
}

fn cfg() -> Config {
    use RecordType::*;
    let r = static_record;
    let mut many_mx = Vec::new();
    let mut records = vec![
        r(Z, "*", A, vec![a("192.0.2.100")]),
        r(Z, "*", Mx, vec![mx(10, "mail.example.com")]),
        r(Z, "www", A, vec![a("192.0.2.1")]),
        r(Z, "a.b.deep", A, vec![a("192.0.2.9")]),
        r(
            Z,
            "*.alias",
            Cname,
            vec![RData::Cname("www.example.com".into())],
        ),
        r(Z, "*.txt", Txt, vec![RData::Txt("wild".into())]),
        record(
            Z,
            "*.lb",
            A,
            30,
            RecordData::Balanced {
                pool: "app".into(),
                policy: BalancePolicy::All,
                max_answers: None,
            },
        ),
        r(Z, "ns1", A, vec![a("192.0.2.53")]),
        r(
            Z,
            "ns1",
            Aaaa,
            vec![RData::Aaaa("2001:db8::53".parse().unwrap())],
        ),
        r(Z, "mail", A, vec![a("192.0.2.25")]),
        r(
            Z,
            "mail",
            Aaaa,
            vec![RData::Aaaa("2001:db8::25".parse().unwrap())],
        ),
        r(
            Z,
            "@",
            Mx,
            vec![mx(10, "mail.example.com"), mx(20, "mx.example.net")],
        ),
        r(
            Z,
            "_sip._tcp",
            Srv,
            vec![RData::Srv {
                priority: 10,
                weight: 5,
                port: 5060,
                target: "sip.example.com".into(),
            }],
        ),
        r(Z, "sip", A, vec![a("192.0.2.60")]),
        r(
            Z,
            "sub",
            Ns,
            vec![
                RData::Ns("ns.sub.example.com".into()),
                RData::Ns("ns1.example.com".into()),
            ],
        ),
        r(Z, "ns.sub", A, vec![a("192.0.2.77")]),
        r(
            Z,
            "to-sub",
            Cname,
            vec![RData::Cname("host.sub.example.com".into())],
        ),
        r(Z, "big", Ns, vec![RData::Ns("ns.big.example.com".into())]),
        r(
            Z,
            "ns.big",
            A,
            (0..40).map(|i| a(&format!("198.51.100.{i}"))).collect(),
        ),
    ];
    // Ten exchanges with eight addresses each: the MX records fit in 512 bytes, the
    // addresses of more than one exchange do not.
    for i in 0..10 {
        many_mx.push(mx(i, &format!("m{i}.example.com")));
        records.push(r(
            Z,
            &format!("m{i}"),
            A,
            (0..8)
                .map(|j| a(&format!("203.0.113.{}", i * 10 + j)))
                .collect(),
        ));
    }
    records.push(r(Z, "many", Mx, many_mx));
    let mut z = zone(Z, records);
    z.ns = vec!["ns1.example.com".into(), "ns2.example.net".into()];
    config(vec![z])
}

fn app() -> Arc<Pool> {
    let specs = vec![
        ServerSpec::new("a", "192.0.2.201:80".parse().unwrap()),
        ServerSpec::new("b", "192.0.2.202:80".parse().unwrap()),
    ];
    let spec = PoolSpec::new("app", Algorithm::RoundRobin, specs);
    Arc::new(Pool::new_all_up(spec, clock::now()).expect("pool builds"))
}

async fn server() -> TestServer {
    let pools = HashMap::from([("app".to_string(), app())]);
    start(&cfg(), &pools).await
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `(owner, address)` of every A/AAAA record in the additional section.
fn glue(m: &Message) -> Vec<(String, IpAddr)> {
    m.additionals
        .iter()
        .filter_map(|r: &HRecord| match &r.data {
            H::A(x) => Some((r.name.to_ascii(), IpAddr::V4(x.0))),
            H::AAAA(x) => Some((r.name.to_ascii(), IpAddr::V6(x.0))),
            _ => None,
        })
        .collect()
}

fn assert_nodata(r: &Message) {
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty(), "{:?}", r.answers);
    assert_eq!(r.authorities[0].record_type(), T::SOA);
}

fn assert_nxdomain(r: &Message) {
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(r.answers.is_empty(), "{:?}", r.answers);
    assert_eq!(r.authorities[0].record_type(), T::SOA);
}

#[tokio::test]
async fn wildcard_answers_missing_names_with_the_query_name_as_owner() {
    let s = server().await;
    for name in ["NoSuch.Example.COM.", "x.y.z.example.com."] {
        for r in [
            udp(s.addr, &query(name, T::A)).await,
            tcp(s.addr, &query(name, T::A)).await,
        ] {
            assert_eq!(r.metadata.response_code, ResponseCode::NoError);
            assert!(r.metadata.authoritative);
            assert_eq!(addresses(&r), vec![ip("192.0.2.100")]);
            // The owner is the query name, letter case kept, not "*.example.com".
            assert_eq!(r.answers[0].name.to_ascii(), name);
            assert_eq!(r.answers[0].ttl, 120);
        }
    }
}

#[tokio::test]
async fn existing_names_and_empty_non_terminals_are_not_matched() {
    let s = server().await;
    // www exists: no wildcard for its missing type.
    assert_nodata(&udp(s.addr, &query("www.example.com.", T::AAAA)).await);
    // deep and b.deep exist as empty non-terminals: NODATA, not the wildcard.
    assert_nodata(&udp(s.addr, &query("deep.example.com.", T::A)).await);
    assert_nodata(&udp(s.addr, &query("b.deep.example.com.", T::A)).await);
    // Below an empty non-terminal the closest encloser is deep.example.com, which has no
    // wildcard child: NXDOMAIN.
    assert_nxdomain(&udp(s.addr, &query("x.deep.example.com.", T::A)).await);
    // Below the wildcard itself the closest encloser is *.example.com: no *.*.
    assert_nxdomain(&udp(s.addr, &query("x.*.example.com.", T::A)).await);
    // The wildcard queried by its own name answers as itself.
    let r = udp(s.addr, &query("*.example.com.", T::A)).await;
    assert_eq!(addresses(&r), vec![ip("192.0.2.100")]);
}

#[tokio::test]
async fn wildcard_without_the_type_is_nodata() {
    let s = server().await;
    assert_nodata(&udp(s.addr, &query("nosuch.example.com.", T::AAAA)).await);
    assert_nodata(&tcp(s.addr, &query("nosuch.example.com.", T::TXT)).await);
    let r = udp(s.addr, &query("nosuch.example.com.", T::ANY)).await;
    assert_eq!(r.answers.len(), 1);
    assert_eq!(r.answers[0].record_type(), T::HINFO);
    assert_eq!(r.answers[0].name.to_ascii(), "nosuch.example.com.");
}

#[tokio::test]
async fn deeper_wildcards_and_wildcard_cnames() {
    let s = server().await;
    let r = udp(s.addr, &query("Hello.txt.example.com.", T::TXT)).await;
    assert_eq!(r.answers.len(), 1);
    assert_eq!(r.answers[0].name.to_ascii(), "Hello.txt.example.com.");
    // txt.example.com is an empty non-terminal: NODATA, not *.example.com.
    assert_nodata(&udp(s.addr, &query("txt.example.com.", T::A)).await);
    // A wildcard CNAME: owner is the query name, the chain is followed to www.
    let r = udp(s.addr, &query("App.alias.example.com.", T::A)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(r.answers[0].record_type(), T::CNAME);
    assert_eq!(r.answers[0].name.to_ascii(), "App.alias.example.com.");
    assert_eq!(addresses(&r), vec![ip("192.0.2.1")]);
}

#[tokio::test]
async fn balanced_wildcard_answers_from_the_pool() {
    let s = server().await;
    let r = udp(s.addr, &query("any.Thing.lb.example.com.", T::A)).await;
    let mut got = addresses(&r);
    got.sort();
    assert_eq!(got, vec![ip("192.0.2.201"), ip("192.0.2.202")]);
    assert!(r
        .answers
        .iter()
        .all(|x| x.name.to_ascii() == "any.Thing.lb.example.com." && x.ttl == 30));
}

#[tokio::test]
async fn delegations_are_not_overridden_by_the_wildcard() {
    let s = server().await;
    let r = udp(s.addr, &query("host.sub.example.com.", T::A)).await;
    assert!(!r.metadata.authoritative);
    assert!(r.answers.is_empty());
    assert_eq!(r.authorities.len(), 2);
    // Glue: the name server below the cut and the in-zone sibling.
    let mut g = glue(&r);
    g.sort();
    assert_eq!(
        g,
        vec![
            ("ns.sub.example.com.".into(), ip("192.0.2.77")),
            ("ns1.example.com.".into(), ip("192.0.2.53")),
            ("ns1.example.com.".into(), ip("2001:db8::53")),
        ]
    );
}

#[tokio::test]
async fn cname_into_a_delegation_is_left_to_the_resolver() {
    let s = server().await;
    let r = udp(s.addr, &query("to-sub.example.com.", T::A)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(r.answers.len(), 1);
    assert_eq!(r.answers[0].record_type(), T::CNAME);
    assert!(
        r.authorities.is_empty(),
        "neither NXDOMAIN nor a wildcard answer for a delegated name"
    );
}

#[tokio::test]
async fn ns_answers_carry_in_zone_addresses() {
    let s = server().await;
    for r in [
        udp(s.addr, &query("example.com.", T::NS)).await,
        tcp(s.addr, &query("example.com.", T::NS)).await,
    ] {
        assert_eq!(r.answers.len(), 2);
        assert_eq!(
            glue(&r),
            vec![
                ("ns1.example.com.".into(), ip("192.0.2.53")),
                ("ns1.example.com.".into(), ip("2001:db8::53")),
            ],
            "ns2.example.net is outside the zone: no address for it"
        );
    }
}

#[tokio::test]
async fn mx_and_srv_answers_carry_their_targets_addresses() {
    let s = server().await;
    let r = udp(s.addr, &query_edns("example.com.", T::MX, 1232)).await;
    assert_eq!(r.answers.len(), 2);
    assert_eq!(
        glue(&r),
        vec![
            ("mail.example.com.".into(), ip("192.0.2.25")),
            ("mail.example.com.".into(), ip("2001:db8::25")),
        ]
    );
    assert!(r.edns.is_some(), "the OPT record follows the glue");
    let r = udp(s.addr, &query("_sip._tcp.example.com.", T::SRV)).await;
    assert_eq!(
        glue(&r),
        vec![("sip.example.com.".into(), ip("192.0.2.60"))]
    );
    // An MX synthesized from the wildcard gets the glue too.
    let r = udp(s.addr, &query("Whatever.example.com.", T::MX)).await;
    assert_eq!(r.answers[0].name.to_ascii(), "Whatever.example.com.");
    assert_eq!(glue(&r).len(), 2);
}

#[tokio::test]
async fn additional_data_that_does_not_fit_is_dropped_never_truncating() {
    let s = server().await;
    let (r, size) = udp_sized(s.addr, &query("many.example.com.", T::MX)).await;
    assert!(size <= 512, "{size}");
    assert!(!r.metadata.truncation, "additional data never sets TC");
    assert_eq!(r.answers.len(), 10, "every MX record is there");
    let g = glue(&r);
    assert!(!g.is_empty() && g.len() < 80, "{}", g.len());
    assert!(g.len().is_multiple_of(8), "whole RRsets only: {}", g.len());
    // The client's EDNS size leaves room for more; TCP for all of them.
    let (r, size) = udp_sized(s.addr, &query_edns("many.example.com.", T::MX, 1232)).await;
    assert!(size <= 1232 && !r.metadata.truncation);
    assert!(glue(&r).len() > g.len());
    let r = tcp(s.addr, &query("many.example.com.", T::MX)).await;
    assert_eq!(glue(&r).len(), 80);
}

#[tokio::test]
async fn referral_glue_below_the_cut_truncates_when_it_does_not_fit() {
    let s = server().await;
    // 40 addresses of ns.big.example.com cannot be left out (RFC 9471): TC over UDP...
    let r = udp(s.addr, &query("www.big.example.com.", T::A)).await;
    assert!(r.metadata.truncation);
    // ...and the whole referral over TCP.
    let r = tcp(s.addr, &query("www.big.example.com.", T::A)).await;
    assert!(!r.metadata.truncation);
    assert_eq!(r.authorities.len(), 1);
    assert_eq!(glue(&r).len(), 40);
}

mod generated {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;
    use switchyard_dns::{DnsListenerState, DnsStats, Transport, Worker};

    const LABELS: [&str; 12] = [
        "www", "WWW", "deep", "b", "a", "*", "alias", "lb", "sub", "nosuch", "Mail", "many",
    ];
    const TYPES: [T; 8] = [
        T::A,
        T::AAAA,
        T::MX,
        T::NS,
        T::TXT,
        T::SRV,
        T::CNAME,
        T::ANY,
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        /// Names made of existing, missing and wildcard labels, every type, every size:
        /// the answer decodes, fits, keeps the query name as the owner of its first
        /// record, and only referrals (whose glue below the cut must go in) set TC.
        #[test]
        fn wildcard_and_glue_answers_are_well_formed(
            labels in proptest::collection::vec(0..LABELS.len(), 0..5),
            qtype in 0..TYPES.len(),
            size in prop_oneof![Just(None), Just(Some(512u16)), Just(Some(1232u16)), Just(Some(4096u16))],
            tcp in any::<bool>(),
        ) {
            let mut name: String = labels.iter().map(|&i| format!("{}.", LABELS[i])).collect();
            name.push_str("example.com.");
            let m = match size {
                Some(s) => query_edns(&name, TYPES[qtype], s),
                None => query(&name, TYPES[qtype]),
            };
            let packet = m.to_vec().unwrap();
            let l = listener(None, 8, Duration::from_secs(1));
            let pools = HashMap::from([("app".to_string(), app())]);
            let st = DnsListenerState::build(&l, &cfg(), &pools).unwrap();
            let mut w = Worker::new();
            let transport = if tcp { Transport::Tcp } else { Transport::Udp };
            prop_assert!(w.handle(&st, &DnsStats::default(), &packet, ip("127.0.0.1"), transport, None));
            let limit = match (tcp, size) {
                (true, _) => 65535,
                (false, None) => 512,
                (false, Some(s)) => usize::from(s.clamp(512, 1232)),
            };
            prop_assert!(w.out.len() <= limit, "{} > {limit}", w.out.len());
            let r = Message::from_vec(&w.out).expect("decodes");
            if let Some(first) = r.answers.first() {
                prop_assert_eq!(first.name.to_ascii(), name.clone());
            }
            if r.metadata.truncation {
                prop_assert!(!r.metadata.authoritative && !tcp, "only a UDP referral truncates: {name}");
            }
        }
    }
}
