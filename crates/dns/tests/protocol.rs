//! Protocol behaviour over real UDP and TCP sockets on 127.0.0.1, one rule per test.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use common::*;
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::{RData as H, RecordType as T};
use switchyard_config::{Config, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const Z: &str = "example.com";

fn a(s: &str) -> RData {
    RData::A(s.parse().unwrap())
}

fn txt(n: usize, len: usize) -> Vec<RData> {
    (0..n)
        .map(|i| RData::Txt(format!("{i:03}{}", "x".repeat(len - 3))))
        .collect()
}

fn example() -> Config {
    use RecordType::*;
    let r = static_record;
    config(vec![zone(
        Z,
        vec![
            r(Z, "ns1", A, vec![a("192.0.2.53")]),
            r(
                Z,
                "www",
                A,
                vec![a("192.0.2.1"), a("192.0.2.2"), a("192.0.2.3")],
            ),
            r(
                Z,
                "www",
                Aaaa,
                vec![RData::Aaaa("2001:db8::1".parse().unwrap())],
            ),
            r(
                Z,
                "alias",
                Cname,
                vec![RData::Cname("www.example.com".into())],
            ),
            r(
                Z,
                "chain",
                Cname,
                vec![RData::Cname("alias.example.com".into())],
            ),
            r(
                Z,
                "dangling",
                Cname,
                vec![RData::Cname("nothere.example.com".into())],
            ),
            r(
                Z,
                "out",
                Cname,
                vec![RData::Cname("www.example.net".into())],
            ),
            r(
                Z,
                "loop1",
                Cname,
                vec![RData::Cname("loop2.example.com".into())],
            ),
            r(
                Z,
                "loop2",
                Cname,
                vec![RData::Cname("loop1.example.com".into())],
            ),
            r(Z, "txt", Txt, vec![RData::Txt("hello world".into())]),
            r(
                Z,
                "@",
                Mx,
                vec![RData::Mx {
                    preference: 10,
                    exchange: "mail.example.com".into(),
                }],
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
            r(
                Z,
                "@",
                Caa,
                vec![RData::Caa {
                    flags: 0,
                    tag: "issue".into(),
                    value: "letsencrypt.org".into(),
                }],
            ),
            r(Z, "sub", Ns, vec![RData::Ns("ns.sub.example.com".into())]),
            r(Z, "a.b.deep", A, vec![a("192.0.2.9")]),
            r(Z, "medium", Txt, txt(8, 100)),
            r(Z, "huge", Txt, txt(30, 100)),
        ],
    )])
}

async fn server() -> TestServer {
    start(&example(), &HashMap::new()).await
}

#[tokio::test]
async fn static_a_is_authoritative_with_its_ttl_rd_copied_and_ra_clear() {
    let s = server().await;
    let r = udp(s.addr, &query("ns1.example.com.", T::A)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    assert!(r.metadata.recursion_desired);
    assert!(!r.metadata.recursion_available);
    assert_eq!(addresses(&r), [IpAddr::from([192, 0, 2, 53])]);
    assert_eq!(r.answers[0].ttl, 120);
    let mut q = query("ns1.example.com.", T::A);
    q.metadata.recursion_desired = false;
    assert!(!udp(s.addr, &q).await.metadata.recursion_desired);
}

#[tokio::test]
async fn rrset_with_several_values_rotates_per_answer() {
    let s = server().await;
    let mut firsts = Vec::new();
    for _ in 0..3 {
        let r = udp(s.addr, &query("www.example.com.", T::A)).await;
        let got = addresses(&r);
        assert_eq!(got.len(), 3);
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [[192, 0, 2, 1], [192, 0, 2, 2], [192, 0, 2, 3]].map(IpAddr::from)
        );
        firsts.push(got[0]);
    }
    firsts.sort();
    firsts.dedup();
    assert_eq!(
        firsts.len(),
        3,
        "each answer starts with a different address"
    );
}

#[tokio::test]
async fn every_static_type_is_answered() {
    let s = server().await;
    let r = udp(s.addr, &query("www.example.com.", T::AAAA)).await;
    assert_eq!(
        addresses(&r),
        [IpAddr::V6("2001:db8::1".parse::<Ipv6Addr>().unwrap())]
    );
    let r = udp(s.addr, &query("txt.example.com.", T::TXT)).await;
    let H::TXT(t) = &r.answers[0].data else {
        panic!("{r:?}")
    };
    assert_eq!(t.to_string(), "hello world");
    let r = udp(s.addr, &query("example.com.", T::MX)).await;
    let H::MX(mx) = &r.answers[0].data else {
        panic!("{r:?}")
    };
    assert_eq!(
        (mx.preference, mx.exchange.to_ascii()),
        (10, "mail.example.com.".into())
    );
    let r = udp(s.addr, &query("_sip._tcp.example.com.", T::SRV)).await;
    let H::SRV(srv) = &r.answers[0].data else {
        panic!("{r:?}")
    };
    assert_eq!((srv.priority, srv.weight, srv.port), (10, 5, 5060));
    assert_eq!(srv.target.to_ascii(), "sip.example.com.");
    let r = udp(s.addr, &query("example.com.", T::CAA)).await;
    assert!(matches!(&r.answers[0].data, H::CAA(_)), "{r:?}");
    let r = udp(s.addr, &query("example.com.", T::NS)).await;
    let H::NS(ns) = &r.answers[0].data else {
        panic!("{r:?}")
    };
    assert_eq!(ns.0.to_ascii(), "ns1.example.com.");
    let r = udp(s.addr, &query("example.com.", T::SOA)).await;
    let H::SOA(soa) = &r.answers[0].data else {
        panic!("{r:?}")
    };
    assert_eq!((soa.serial, soa.minimum), (7, 60));
    assert_eq!(soa.rname.to_ascii(), "hostmaster.example.com.");
    assert_eq!(r.answers[0].ttl, 300);
}

#[tokio::test]
async fn query_name_letter_case_is_preserved() {
    let s = server().await;
    let r = udp(s.addr, &query("WwW.ExAmPlE.cOm.", T::A)).await;
    assert_eq!(r.queries[0].name().to_ascii(), "WwW.ExAmPlE.cOm.");
    assert_eq!(r.answers[0].name.to_ascii(), "WwW.ExAmPlE.cOm.");
    assert_eq!(addresses(&r).len(), 3);
}

#[tokio::test]
async fn names_outside_our_zones_are_refused() {
    let s = server().await;
    for name in ["example.net.", "com.", ".", "badexample.com."] {
        let r = udp(s.addr, &query(name, T::A)).await;
        assert_eq!(r.metadata.response_code, ResponseCode::Refused, "{name}");
        assert!(!r.metadata.authoritative);
        assert!(r.answers.is_empty());
    }
}

#[tokio::test]
async fn nxdomain_has_the_soa_with_the_negative_ttl() {
    let s = server().await;
    let r = udp(s.addr, &query("nope.Example.com.", T::A)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(r.metadata.authoritative);
    assert!(r.answers.is_empty());
    assert_eq!(r.authorities.len(), 1);
    let soa = &r.authorities[0];
    assert_eq!(soa.record_type(), T::SOA);
    assert_eq!(soa.name.to_ascii().to_lowercase(), "example.com.");
    assert_eq!(soa.ttl, 60, "min(SOA TTL 300, SOA minimum 60)");
}

#[tokio::test]
async fn nodata_has_the_soa_and_noerror() {
    let s = server().await;
    let r = udp(s.addr, &query("www.example.com.", T::MX)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert_eq!(r.authorities[0].record_type(), T::SOA);
    assert_eq!(r.authorities[0].ttl, 60);
}

#[tokio::test]
async fn empty_non_terminal_is_nodata_not_nxdomain() {
    let s = server().await;
    for name in ["b.deep.example.com.", "deep.example.com."] {
        let r = udp(s.addr, &query(name, T::A)).await;
        assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{name}");
        assert!(r.answers.is_empty());
        assert_eq!(r.authorities.len(), 1);
    }
    let r = udp(s.addr, &query("a.b.deep.example.com.", T::A)).await;
    assert_eq!(addresses(&r), [IpAddr::from([192, 0, 2, 9])]);
}

#[tokio::test]
async fn cname_chain_is_followed_inside_the_zone() {
    let s = server().await;
    let r = udp(s.addr, &query("Chain.example.com.", T::A)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    let types: Vec<T> = r.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types, [T::CNAME, T::CNAME, T::A, T::A, T::A]);
    assert_eq!(r.answers[0].name.to_ascii(), "Chain.example.com.");
    assert_eq!(r.answers[1].name.to_ascii(), "alias.example.com.");
    assert_eq!(r.answers[2].name.to_ascii(), "www.example.com.");
    let r = udp(s.addr, &query("alias.example.com.", T::CNAME)).await;
    assert_eq!(r.answers.len(), 1, "a CNAME query gets the CNAME itself");
}

#[tokio::test]
async fn cname_to_a_missing_name_is_nxdomain_with_the_cname() {
    let s = server().await;
    let r = udp(s.addr, &query("dangling.example.com.", T::A)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(r.answers.len(), 1);
    assert_eq!(r.authorities[0].record_type(), T::SOA);
}

#[tokio::test]
async fn cname_out_of_zone_answers_the_cname_only() {
    let s = server().await;
    let r = udp(s.addr, &query("out.example.com.", T::A)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(r.answers.len(), 1);
    assert!(r.authorities.is_empty());
}

#[tokio::test]
async fn cname_loop_ends_after_a_bounded_chain() {
    let s = server().await;
    let r = udp(s.addr, &query("loop1.example.com.", T::A)).await;
    assert!(r.answers.len() <= 8, "{}", r.answers.len());
    assert!(r.answers.iter().all(|r| r.record_type() == T::CNAME));
}

#[tokio::test]
async fn delegation_gets_a_referral_without_aa() {
    let s = server().await;
    let r = udp(s.addr, &query("host.sub.example.com.", T::A)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(!r.metadata.authoritative);
    assert!(r.answers.is_empty());
    assert_eq!(r.authorities[0].record_type(), T::NS);
    assert_eq!(r.authorities[0].name.to_ascii(), "sub.example.com.");
}

#[tokio::test]
async fn ds_at_a_delegation_is_answered_by_the_parent_side() {
    // RFC 4035 §3.1.4.1: the DS RRset of sub.example.com belongs to example.com; the
    // parent answers it (here NODATA, we sign nothing) instead of referring to the child
    let s = server().await;
    let r = udp(s.addr, &query("sub.example.com.", T::DS)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authoritative, "{r:?}");
    assert!(r.answers.is_empty());
    assert_eq!(r.authorities.len(), 1);
    assert_eq!(r.authorities[0].record_type(), T::SOA);
    assert_eq!(r.authorities[0].name.to_ascii(), "example.com.");
    // below the cut, DS is the child's: a referral as for any other type
    let r = udp(s.addr, &query("deeper.sub.example.com.", T::DS)).await;
    assert!(!r.metadata.authoritative);
    assert_eq!(r.authorities[0].record_type(), T::NS);
}

#[tokio::test]
async fn edns_answer_has_opt_with_our_size() {
    let s = server().await;
    let r = udp(s.addr, &query_edns("www.example.com.", T::A, 4096)).await;
    let e = r.edns.expect("OPT in the answer");
    assert_eq!(e.max_payload(), 1232);
    assert_eq!(e.version(), 0);
    let r = udp(s.addr, &query("www.example.com.", T::A)).await;
    assert!(r.edns.is_none(), "no OPT without one in the query");
}

#[tokio::test]
async fn edns_version_above_zero_is_badvers() {
    let s = server().await;
    let mut q = query_edns("www.example.com.", T::A, 1232);
    q.edns.as_mut().unwrap().set_version(1);
    let r = udp(s.addr, &q).await;
    assert_eq!(u16::from(r.metadata.response_code), 16, "BADVERS");
    assert!(r.answers.is_empty());
    assert_eq!(r.edns.expect("OPT").version(), 0);
}

#[tokio::test]
async fn answer_larger_than_512_without_edns_is_truncated() {
    let s = server().await;
    let (r, size) = udp_sized(s.addr, &query("medium.example.com.", T::TXT)).await;
    assert!(r.metadata.truncation);
    assert!(r.answers.is_empty());
    assert!(size <= 512);
    let (r, size) = udp_sized(s.addr, &query_edns("medium.example.com.", T::TXT, 1232)).await;
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 8);
    assert!(size > 512 && size <= 1232);
}

#[tokio::test]
async fn client_udp_size_is_honoured_between_512_and_1232() {
    let s = server().await;
    // 600 is below the medium answer's size: truncated
    let (r, size) = udp_sized(s.addr, &query_edns("medium.example.com.", T::TXT, 600)).await;
    assert!(r.metadata.truncation && size <= 600);
    // below 512 counts as 512
    let (r, _) = udp_sized(s.addr, &query_edns("www.example.com.", T::A, 100)).await;
    assert!(!r.metadata.truncation);
    // 4096 is capped at 1232: the huge answer does not fit
    let (r, size) = udp_sized(s.addr, &query_edns("huge.example.com.", T::TXT, 4096)).await;
    assert!(r.metadata.truncation && size <= 1232);
}

#[tokio::test]
async fn tcp_carries_the_whole_answer() {
    let s = server().await;
    let r = tcp(s.addr, &query("huge.example.com.", T::TXT)).await;
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 30);
}

#[tokio::test]
async fn tcp_answers_several_queries_on_one_connection() {
    let s = server().await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    for name in ["www.example.com.", "ns1.example.com.", "nope.example.com."] {
        let q = query(name, T::A);
        let r = tcp_exchange(&mut conn, &q).await;
        assert_eq!(r.metadata.id, q.metadata.id);
        assert_eq!(r.queries[0].name().to_ascii(), name);
    }
    assert_eq!(s.stats.snapshot().tcp_queries, 3);
}

#[tokio::test]
async fn tcp_idle_connections_are_closed() {
    let s = start_with(
        &example(),
        &HashMap::new(),
        listener(None, 8, Duration::from_millis(200)),
    )
    .await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf))
        .await
        .expect("closed by the server in time")
        .unwrap_or(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn tcp_connections_beyond_the_limit_are_closed() {
    let s = start_with(
        &example(),
        &HashMap::new(),
        listener(None, 2, Duration::from_secs(5)),
    )
    .await;
    let mut keep = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        tcp_exchange(&mut c, &query("www.example.com.", T::A)).await;
        keep.push(c);
    }
    let mut third = TcpStream::connect(s.addr).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(2), third.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert_eq!(s.stats.snapshot().tcp_refused, 1);
    drop(keep);
}

#[tokio::test]
async fn malformed_question_is_formerr_and_short_packets_get_silence() {
    let s = server().await;
    let mut two = query("www.example.com.", T::A);
    two.add_query(hickory_proto::op::Query::query(
        "ns1.example.com.".parse().unwrap(),
        T::A,
    ));
    let r = udp(s.addr, &two).await;
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
    let mut none = Message::query();
    none.metadata.id = 7;
    let r = udp(s.addr, &none).await;
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(
        udp_raw(s.addr, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]).await,
        None
    );
    assert_eq!(s.stats.snapshot().dropped_malformed, 1);
}

#[tokio::test]
async fn unsupported_opcodes_are_notimp() {
    let s = server().await;
    for op in [OpCode::Status, OpCode::Notify, OpCode::Update] {
        let mut q = query("www.example.com.", T::A);
        q.metadata.op_code = op;
        let r = udp(s.addr, &q).await;
        assert_eq!(r.metadata.response_code, ResponseCode::NotImp, "{op:?}");
        assert_eq!(r.metadata.op_code, op);
    }
}

#[tokio::test]
async fn error_answers_to_edns_queries_carry_our_opt() {
    // RFC 6891 §7: a query with OPT gets an answer with OPT, errors included; without it
    // dig warns "EDNS query returned status NOTIMP - retry with '+noedns'" and resolvers
    // take the server for one without EDNS.
    let s = server().await;
    let mut q = query_edns("www.example.com.", T::A, 1232);
    q.metadata.op_code = OpCode::Notify;
    let r = udp(s.addr, &q).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NotImp);
    let edns = r.edns.as_ref().expect("an OPT in the NOTIMP answer");
    assert_eq!((edns.version(), edns.max_payload()), (0, 1232));

    // an ECS option with bits set beyond its prefix is FORMERR (RFC 7871 §6), with OPT
    let mut bad_ecs = query_edns("www.example.com.", T::A, 1232).to_vec().unwrap();
    let rdlen = bad_ecs.len() - 2;
    bad_ecs.extend_from_slice(&[0, 8, 0, 7, 0, 1, 20, 0, 216, 160, 83]);
    let len = u16::from_be_bytes([bad_ecs[rdlen], bad_ecs[rdlen + 1]]) + 11;
    bad_ecs[rdlen..rdlen + 2].copy_from_slice(&len.to_be_bytes());
    let raw = udp_raw(s.addr, &bad_ecs).await.expect("an answer");
    let r = Message::from_vec(&raw).expect("decodes");
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
    assert!(r.edns.is_some(), "an OPT in the FORMERR answer: {raw:?}");

    // without OPT in the query, none in the answer
    let mut q = query("www.example.com.", T::A);
    q.metadata.op_code = OpCode::Update;
    let raw = udp_raw(s.addr, &q.to_vec().unwrap())
        .await
        .expect("an answer");
    assert_eq!(raw.len(), 12, "header only");
    assert_eq!(raw[3] & 0xF, 4, "NOTIMP");
}

#[tokio::test]
async fn any_is_answered_minimally_with_hinfo() {
    let s = server().await;
    let r = udp(s.addr, &query("www.example.com.", T::ANY)).await;
    assert_eq!(r.answers.len(), 1);
    let H::HINFO(h) = &r.answers[0].data else {
        panic!("{r:?}")
    };
    assert_eq!(&*h.cpu, b"RFC8482");
    let r = udp(s.addr, &query("nope.example.com.", T::ANY)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn zone_transfers_are_refused() {
    let s = server().await;
    for t in [T::AXFR, T::IXFR] {
        let r = tcp(s.addr, &query("example.com.", t)).await;
        assert_eq!(r.metadata.response_code, ResponseCode::Refused, "{t:?}");
        assert!(r.answers.is_empty());
    }
}

#[tokio::test]
async fn other_classes_are_refused() {
    let s = server().await;
    let mut q = query("www.example.com.", T::A);
    q.queries[0].set_query_class(hickory_proto::rr::DNSClass::CH);
    let r = udp(s.addr, &q).await;
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test]
async fn nothing_amplifies_beyond_512_without_edns() {
    let s = server().await;
    let names = [
        "huge.example.com.",
        "medium.example.com.",
        "www.example.com.",
        "example.com.",
    ];
    for name in names {
        for t in [T::TXT, T::A, T::ANY, T::NS, T::SOA, T::MX, T::CAA] {
            let (_, size) = udp_sized(s.addr, &query(name, t)).await;
            assert!(size <= 512, "{name} {t:?}: {size}");
        }
    }
}

#[tokio::test]
async fn rate_limit_answers_with_empty_truncated_responses() {
    let s = start_with(
        &example(),
        &HashMap::new(),
        listener(Some(5), 8, Duration::from_secs(5)),
    )
    .await;
    let mut limited = 0;
    for _ in 0..20 {
        let r = udp(s.addr, &query("www.example.com.", T::A)).await;
        if r.metadata.truncation {
            assert!(r.answers.is_empty());
            limited += 1;
        }
    }
    assert!(limited >= 10, "only {limited} of 20 limited");
    let snap = s.stats.snapshot();
    assert_eq!(snap.rate_limited, limited);
    // TCP is not limited
    let r = tcp(s.addr, &query("www.example.com.", T::A)).await;
    assert_eq!(addresses(&r).len(), 3);
}

#[tokio::test]
async fn stats_count_queries_by_type_and_responses_by_rcode() {
    let s = server().await;
    udp(s.addr, &query("www.example.com.", T::A)).await;
    udp(s.addr, &query("www.example.com.", T::AAAA)).await;
    udp(s.addr, &query("nope.example.com.", T::A)).await;
    udp(s.addr, &query("example.org.", T::A)).await;
    udp(s.addr, &query("www.example.com.", T::PTR)).await;
    let snap = s.stats.snapshot();
    assert_eq!(snap.queries("A"), 3);
    assert_eq!(snap.queries("AAAA"), 1);
    assert_eq!(snap.queries("other"), 1);
    assert_eq!(snap.responses("NOERROR"), 3);
    assert_eq!(snap.responses("NXDOMAIN"), 1);
    assert_eq!(snap.responses("REFUSED"), 1);
    assert_eq!(snap.udp_queries, 5);
}

#[tokio::test]
async fn shutdown_stops_serving_and_returns() {
    let s = server().await;
    udp(s.addr, &query("www.example.com.", T::A)).await;
    s.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), s.task)
        .await
        .expect("serve returns after shutdown")
        .unwrap();
}

/// A client that sent a length prefix and part of its frame, then stalled, held a
/// graceful shutdown for the whole `timeouts.idle` (the frame's body was read without
/// watching for shutdown, unlike the prefix); so did a client that sends queries and
/// never reads the answers (the write). With the default 10 s idle every stop or restart
/// of the process waited 10 s for one such client.
#[tokio::test]
async fn shutdown_does_not_wait_for_stalled_tcp_clients() {
    let s = start_with(
        &example(),
        &HashMap::new(),
        listener(None, 16, Duration::from_secs(30)),
    )
    .await;
    let mut stalled = TcpStream::connect(s.addr).await.unwrap();
    stalled.write_all(&[0x00, 0x20, 0x12]).await.unwrap();
    // Asks for a 3 KB answer again and again and reads none of them.
    let deaf = tokio::net::TcpSocket::new_v4().unwrap();
    deaf.set_recv_buffer_size(4096).unwrap();
    let mut deaf = deaf.connect(s.addr).await.unwrap();
    let q = query("huge.example.com.", T::TXT).to_vec().unwrap();
    let mut frame = (q.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&q);
    let many: Vec<u8> = frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * 2000)
        .collect();
    let writer = tokio::spawn(async move {
        let _ = deaf.write_all(&many).await;
        deaf
    });
    for _ in 0..200 {
        if s.stats.snapshot().tcp_queries >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), s.task)
        .await
        .expect("serve returns although clients stall")
        .unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(2), stalled.read(&mut buf))
        .await
        .expect("closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    writer.abort();
}

#[tokio::test]
async fn reload_swaps_the_zones_for_the_next_query() {
    let s = server().await;
    let mut cfg = example();
    cfg.zones[0].records.push(static_record(
        Z,
        "new",
        RecordType::A,
        vec![a("192.0.2.77")],
    ));
    let l = listener(None, 8, Duration::from_secs(5));
    let st = switchyard_dns::DnsListenerState::build(&l, &cfg, &HashMap::new()).unwrap();
    s.state.store(std::sync::Arc::new(st));
    let r = udp(s.addr, &query("new.example.com.", T::A)).await;
    assert_eq!(addresses(&r), [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77))]);
}
