//! The user-space cost of answering, without sockets: parse + answer + count for the
//! bench/dns.sh query mix, in nanoseconds per query (the kernel's share of a UDP query is
//! measured by bench/dns.sh; this isolates ours).
//!
//! `cargo run --release -p switchyard-dns --example answer_cost -- [MILLIONS]`

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use switchyard_dns::{DnsListenerState, DnsStats, Transport, Worker};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let millions: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5);
    let zone = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/dns/switchyard.toml"
    ))?;
    let src = format!(
        "[[listener]]\nname = \"dns\"\nprotocol = \"dns\"\nlisten = \"127.0.0.1:5300\"\n{zone}"
    );
    let config = switchyard_config::parse(&src, "bench.toml").map_err(|e| e.to_string())?;
    let state = DnsListenerState::build(&config.listeners[0], &config, &HashMap::new())?;
    let stats = DnsStats::default();
    let mix = [
        ("www.example.com.", RecordType::A),
        ("ns1.example.com.", RecordType::A),
        ("www.example.com.", RecordType::AAAA),
        ("example.com.", RecordType::MX),
        ("alias.example.com.", RecordType::A),
        ("nope.example.com.", RecordType::A),
        ("mail.example.com.", RecordType::A),
        ("www.example.com.", RecordType::A),
    ];
    let packets: Vec<Vec<u8>> = mix
        .iter()
        .map(|(n, t)| {
            let mut m = Message::query();
            m.add_query(Query::query(Name::from_ascii(n).unwrap(), *t));
            m.to_vec().unwrap()
        })
        .collect();
    let client = IpAddr::from([127, 0, 0, 1]);
    let mut w = Worker::new();
    let n = millions as usize * 1_000_000;
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        for i in 0..n {
            let p = &packets[i % packets.len()];
            if w.answer(&state, p, client, Transport::Udp, None) {
                std::hint::black_box(&w.out);
            }
            if i % 32 == 31 {
                w.tally.flush(&stats);
            }
        }
        best = best.min(start.elapsed());
    }
    println!(
        "{:.1} ns per query (best of 3 runs of {n})",
        best.as_nanos() as f64 / n as f64
    );
    Ok(())
}
