//! Shared test helpers: configuration builders, a server on 127.0.0.1 (UDP and TCP on the
//! same port), and hickory-proto clients.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RData as HRData, RecordType as HType};
use switchyard_balance::Pool;
use switchyard_config::{
    Config, Listener, ListenerKind, RData, Record, RecordData, RecordType, Soa, Timeouts, Zone,
};
use switchyard_dns::{DnsListenerState, DnsStats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub stats: Arc<DnsStats>,
    pub state: Arc<ArcSwap<DnsListenerState>>,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

/// The GeoIP test databases.
pub fn geoip_path(file: &str) -> std::path::PathBuf {
    format!(
        "{}/../../../shared/data/geoip/{file}",
        env!("CARGO_MANIFEST_DIR")
    )
    .into()
}

/// A zone with SOA minimum 60 s and TTL 300 s.
pub fn zone(name: &str, records: Vec<Record>) -> Zone {
    Zone {
        name: name.into(),
        ttl: 300,
        ns: vec![format!("ns1.{name}")],
        soa: Soa {
            primary: format!("ns1.{name}"),
            contact: format!("hostmaster.{name}"),
            serial: 7,
            refresh: 7200,
            retry: 1800,
            expire: 1_209_600,
            minimum: 60,
        },
        records,
    }
}

/// A record `name` (relative, "@" = apex) of `zone`.
pub fn record(zone: &str, name: &str, rtype: RecordType, ttl: u32, data: RecordData) -> Record {
    Record {
        name: name.into(),
        owner: if name == "@" {
            zone.into()
        } else {
            format!("{name}.{zone}")
        },
        rtype,
        ttl,
        data,
    }
}

/// A static record.
pub fn static_record(zone: &str, name: &str, rtype: RecordType, values: Vec<RData>) -> Record {
    record(zone, name, rtype, 120, RecordData::Static(values))
}

/// A dns listener.
pub fn listener(rate_limit: Option<u32>, max_tcp_connections: u32, idle: Duration) -> Listener {
    Listener {
        name: "dns".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        pool: None,
        max_connections: None,
        timeouts: Timeouts {
            idle,
            ..Timeouts::default()
        },
        kind: ListenerKind::Dns {
            rate_limit,
            max_tcp_connections,
        },
    }
}

/// Start a server for `config` with a default listener.
pub async fn start(config: &Config, pools: &HashMap<String, Arc<Pool>>) -> TestServer {
    start_with(config, pools, listener(None, 16, Duration::from_secs(5))).await
}

/// Start a server for `config` and `listener`.
pub async fn start_with(
    config: &Config,
    pools: &HashMap<String, Arc<Pool>>,
    listener: Listener,
) -> TestServer {
    let state = DnsListenerState::build(&listener, config, pools).expect("state builds");
    let state = Arc::new(ArcSwap::from_pointee(state));
    let (udp, tcp) = bind_pair().await;
    let addr = udp.local_addr().unwrap();
    let stats = Arc::new(DnsStats::default());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(switchyard_dns::serve(
        udp,
        tcp,
        Arc::clone(&state),
        Arc::clone(&stats),
        shutdown.clone(),
    ));
    TestServer {
        addr,
        stats,
        state,
        shutdown,
        task,
    }
}

/// A UDP socket and a TCP listener on the same 127.0.0.1 port.
async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// A query for `name`/`rtype` with RD set and no EDNS.
pub fn query(name: &str, rtype: HType) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m
}

/// The same with EDNS (payload size `size`).
pub fn query_edns(name: &str, rtype: HType, size: u16) -> Message {
    let mut m = query(name, rtype);
    let mut e = Edns::new();
    e.set_max_payload(size);
    m.set_edns(e);
    m
}

/// The same with EDNS and Client Subnet `addr/prefix`.
pub fn query_ecs(name: &str, rtype: HType, addr: IpAddr, prefix: u8) -> Message {
    let mut m = query_edns(name, rtype, 1232);
    let edns = m.edns.as_mut().unwrap();
    edns.options_mut()
        .insert(EdnsOption::Subnet(ClientSubnet::new(addr, prefix, 0)));
    m
}

/// Send raw bytes over UDP; the raw answer, or `None` after 500 ms of silence.
pub async fn udp_raw(addr: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    udp_raw_within(addr, packet, Duration::from_millis(500)).await
}

/// Send raw bytes over UDP; the raw answer, or `None` after `wait` of silence.
pub async fn udp_raw_within(addr: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(packet, addr).await.unwrap();
    let mut buf = vec![0u8; 65535];
    match tokio::time::timeout(wait, sock.recv(&mut buf)).await {
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

/// Ask over UDP and decode the answer.
pub async fn udp(addr: SocketAddr, m: &Message) -> Message {
    let raw = udp_raw_within(addr, &m.to_vec().unwrap(), Duration::from_secs(3))
        .await
        .expect("an answer over UDP");
    let answer = Message::from_vec(&raw).expect("the answer decodes");
    assert_eq!(
        answer.metadata.id, m.metadata.id,
        "the answer echoes the id"
    );
    answer
}

/// Ask over UDP; the raw size too.
pub async fn udp_sized(addr: SocketAddr, m: &Message) -> (Message, usize) {
    let raw = udp_raw_within(addr, &m.to_vec().unwrap(), Duration::from_secs(3))
        .await
        .expect("an answer over UDP");
    (
        Message::from_vec(&raw).expect("the answer decodes"),
        raw.len(),
    )
}

/// Send one framed message on an open TCP stream and read the framed answer.
pub async fn tcp_exchange(stream: &mut TcpStream, m: &Message) -> Message {
    let bytes = m.to_vec().unwrap();
    stream
        .write_all(&(bytes.len() as u16).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(&bytes).await.unwrap();
    let mut len = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut len))
        .await
        .expect("answer in time")
        .unwrap();
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).await.unwrap();
    Message::from_vec(&buf).expect("the answer decodes")
}

/// Ask over a new TCP connection.
pub async fn tcp(addr: SocketAddr, m: &Message) -> Message {
    let mut s = TcpStream::connect(addr).await.unwrap();
    tcp_exchange(&mut s, m).await
}

/// The IP addresses in the answer section, in order.
pub fn addresses(m: &Message) -> Vec<IpAddr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            HRData::A(a) => Some(IpAddr::V4(a.0)),
            HRData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// A config with these zones.
pub fn config(zones: Vec<Zone>) -> Config {
    Config {
        zones,
        ..Config::default()
    }
}
