//! Malformed packets: none may crash or hang the server, and it keeps answering.

mod common;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use common::*;
use hickory_proto::rr::RecordType as T;
use proptest::prelude::*;
use switchyard_config::{Config, RData, RecordType};
use switchyard_dns::ratelimit::RateLimiter;
use switchyard_dns::{DnsListenerState, DnsStats, Transport, Worker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn cfg() -> Config {
    config(vec![zone(
        "example.com",
        vec![static_record(
            "example.com",
            "www",
            RecordType::A,
            vec![RData::A("192.0.2.1".parse().unwrap())],
        )],
    )])
}

/// A header: id 0xBEEF, flags, then the four counts.
fn header(flags: u16, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    let mut p = vec![0xBE, 0xEF];
    for v in [flags, qd, an, ns, ar] {
        p.extend_from_slice(&v.to_be_bytes());
    }
    p
}

fn question(name: &[u8]) -> Vec<u8> {
    let mut p = name.to_vec();
    p.extend_from_slice(&[0, 1, 0, 1]);
    p
}

fn with(mut a: Vec<u8>, b: &[u8]) -> Vec<u8> {
    a.extend_from_slice(b);
    a
}

/// The corpus: (description, packet).
fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let www = b"\x03www\x07example\x03com\x00";
    let long_name: Vec<u8> = (0..5)
        .flat_map(|_| {
            let mut l = vec![63u8];
            l.extend(std::iter::repeat_n(b'a', 63));
            l
        })
        .chain([0])
        .collect();
    let opt = |rdata: &[u8]| {
        let mut o = vec![0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0];
        o.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        o.extend_from_slice(rdata);
        o
    };
    let mut garbage = Vec::new();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in 0..64 {
        let len = 12 + (i * 7) % 90;
        let p: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut p = p;
        p[2] &= 0x7F; // a query, so the server reads further than the header
        garbage.push(("random bytes", p));
    }
    let mut list = vec![
        ("empty", vec![]),
        ("eleven bytes", vec![0; 11]),
        ("header only, qdcount 0", header(0x0100, 0, 0, 0, 0)),
        (
            "qdcount 2 with one question",
            with(header(0x0100, 2, 0, 0, 0), &question(www)),
        ),
        ("qdcount 1 and no question", header(0x0100, 1, 0, 0, 0)),
        (
            "question name cut short",
            with(header(0x0100, 1, 0, 0, 0), b"\x03www\x07exa"),
        ),
        (
            "question without type and class",
            with(header(0x0100, 1, 0, 0, 0), www),
        ),
        (
            "label of 64 bytes",
            with(
                header(0, 1, 0, 0, 0),
                &question(&[&[64u8][..], &[b'a'; 64], &[0]].concat()),
            ),
        ),
        (
            "name longer than 255",
            with(header(0, 1, 0, 0, 0), &question(&long_name)),
        ),
        (
            "compression pointer to itself",
            with(header(0, 1, 0, 0, 0), &question(b"\xC0\x0C")),
        ),
        (
            "compression pointer forward",
            with(header(0, 1, 0, 0, 0), &question(b"\x01a\xC0\x20")),
        ),
        (
            "reserved label type 0x40",
            with(header(0, 1, 0, 0, 0), &question(b"\x41a\x00")),
        ),
        (
            "reserved label type 0x80",
            with(header(0, 1, 0, 0, 0), &question(b"\x81a\x00")),
        ),
        (
            "answer count set",
            with(header(0, 1, 1, 0, 0), &question(www)),
        ),
        (
            "arcount 65535 and no records",
            with(header(0, 1, 0, 0, 0xFFFF), &question(www)),
        ),
        (
            "additional with pointer loop",
            with(
                with(header(0, 1, 0, 0, 1), &question(www)),
                b"\xC0\x1D\x00\x01\x00\x01\x00\x00\x00\x00\x00\x00",
            ),
        ),
        (
            "additional cut short",
            with(
                with(header(0, 1, 0, 0, 1), &question(www)),
                b"\x00\x00\x29\x04",
            ),
        ),
        (
            "opt rdata longer than packet",
            with(
                with(header(0, 1, 0, 0, 1), &question(www)),
                b"\x00\x00\x29\x04\xD0\x00\x00\x00\x00\x00\x50",
            ),
        ),
        (
            "opt option length overruns",
            with(
                with(header(0, 1, 0, 0, 1), &question(www)),
                &opt(&[0, 8, 0, 200, 0, 1, 24, 0]),
            ),
        ),
        (
            "ecs family 3",
            with(
                with(header(0, 1, 0, 0, 1), &question(www)),
                &opt(&[0, 8, 0, 4, 0, 3, 0, 0]),
            ),
        ),
        (
            "ecs prefix 33",
            with(
                with(header(0, 1, 0, 0, 1), &question(www)),
                &opt(&[0, 8, 0, 9, 0, 1, 33, 0, 1, 2, 3, 4, 5]),
            ),
        ),
        (
            "ecs address too long",
            with(
                with(header(0, 1, 0, 0, 1), &question(www)),
                &opt(&[0, 8, 0, 8, 0, 1, 8, 0, 1, 2, 3, 4]),
            ),
        ),
        (
            "opt not at the root",
            with(
                with(header(0, 1, 0, 0, 1), &question(www)),
                &[&b"\x01a\x00"[..], &opt(&[])[1..]].concat(),
            ),
        ),
        (
            "a response (QR set)",
            with(header(0x8000, 1, 0, 0, 0), &question(www)),
        ),
        (
            "every flag set",
            with(header(0x7FFF, 1, 0, 0, 0), &question(www)),
        ),
    ];
    list.extend(garbage);
    list
}

#[tokio::test]
async fn malformed_udp_corpus_never_stops_the_server() {
    let s = start(&cfg(), &HashMap::new()).await;
    for (what, packet) in corpus() {
        if let Some(answer) = udp_raw(s.addr, &packet).await {
            assert!(answer.len() >= 12, "{what}: short answer");
            assert_eq!(answer[2] & 0x80, 0x80, "{what}: QR set in answers");
            assert_eq!(&answer[..2], &packet[..2], "{what}: id echoed");
        }
    }
    let r = udp(s.addr, &query("www.example.com.", T::A)).await;
    assert_eq!(addresses(&r), [IpAddr::from([192, 0, 2, 1])]);
    assert!(s.stats.snapshot().dropped_malformed >= 3);
}

#[tokio::test]
async fn malformed_tcp_corpus_never_stops_the_server() {
    let s = start(&cfg(), &HashMap::new()).await;
    for (what, packet) in corpus() {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(&(packet.len() as u16).to_be_bytes())
            .await
            .unwrap();
        c.write_all(&packet).await.unwrap();
        let mut len = [0u8; 2];
        let got = tokio::time::timeout(Duration::from_secs(2), c.read_exact(&mut len)).await;
        let got = got.unwrap_or_else(|_| panic!("{what}: no answer and no close in time"));
        if got.is_ok() {
            let mut body = vec![0; u16::from_be_bytes(len) as usize];
            c.read_exact(&mut body).await.unwrap();
            assert!(body.len() >= 12, "{what}");
        }
    }
    // a length prefix promising more than is sent, then a close
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(&[0xFF, 0xFF, 1, 2, 3]).await.unwrap();
    drop(c);
    let r = tcp(s.addr, &query("www.example.com.", T::A)).await;
    assert_eq!(addresses(&r), [IpAddr::from([192, 0, 2, 1])]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_bytes_get_a_wellformed_answer_or_none(
        packet in proptest::collection::vec(any::<u8>(), 0..600),
        tcp in any::<bool>(),
    ) {
        let l = listener(Some(1000), 8, Duration::from_secs(1));
        let st = DnsListenerState::build(&l, &cfg(), &HashMap::new()).unwrap();
        let stats = DnsStats::default();
        let limiter = RateLimiter::default();
        let mut w = Worker::new();
        let transport = if tcp { Transport::Tcp } else { Transport::Udp };
        if w.handle(&st, &stats, &packet, IpAddr::from([127, 0, 0, 1]), transport, Some(&limiter)) {
            prop_assert!(w.out.len() >= 12);
            prop_assert_eq!(&w.out[..2], &packet[..2]);
            prop_assert!(w.out[2] & 0x80 != 0);
            if !tcp {
                prop_assert!(w.out.len() <= 1232);
            }
            prop_assert!(hickory_proto::op::Message::from_vec(&w.out).is_ok());
        }
    }

    #[test]
    fn mutated_valid_queries_never_panic(
        flips in proptest::collection::vec((0usize..64, any::<u8>()), 1..6),
    ) {
        let base = query_ecs("www.example.com.", T::A, IpAddr::from([81, 2, 69, 0]), 24)
            .to_vec()
            .unwrap();
        let mut packet = base.clone();
        for (at, b) in flips {
            if at < packet.len() {
                packet[at] = b;
            }
        }
        let l = listener(None, 8, Duration::from_secs(1));
        let st = DnsListenerState::build(&l, &cfg(), &HashMap::new()).unwrap();
        let mut w = Worker::new();
        if w.handle(&st, &DnsStats::default(), &packet, IpAddr::from([127, 0, 0, 1]), Transport::Udp, None) {
            prop_assert!(w.out.len() >= 12);
            prop_assert!(hickory_proto::op::Message::from_vec(&w.out).is_ok());
        }
    }
}
