//! Hostile clients: ones that stop reading, abort downloads, hold HTTP/2 flow control
//! shut, reset streams in a loop or open more streams than allowed. Each must cost a
//! bounded time, must not be taken for a server failure, and must not keep others out.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use switchyard_config as config;
use switchyard_testkit::backends::{self, Backend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Which engine serves HTTP/1 clients of the listener.
#[derive(Clone, Copy, Debug)]
enum Engine {
    /// The HTTP/1 engine (listeners whose pools all speak HTTP/1.1).
    H1,
    /// hyper (a route, never matched here, reaches an HTTP/2 pool).
    Hyper,
}

/// A listener on the echo backend `be`, served by `engine`, with `idle` and `max`.
async fn behind(be: &Backend, engine: Engine, idle: Duration, max: Option<u32>) -> Harness {
    let (mut l, pools) = setup(be, engine);
    l.timeouts.idle = idle;
    l.max_connections = max;
    start(l, pools).await
}

/// The listener (default pool `app`: `be`) and pools for `engine`.
fn setup(be: &Backend, engine: Engine) -> (config::Listener, Vec<config::Pool>) {
    let mut pools = vec![pool("app", "round_robin", &[("a", be.addr)])];
    let mut routes = vec![];
    if let Engine::Hyper = engine {
        let mut h2 = pool("h2", "round_robin", &[("a", be.addr)]);
        h2.backend_protocol = config::BackendProtocol::Http2;
        pools.push(h2);
        let never = config::Matchers {
            path: Some(config::PathMatch::Exact("/never".into())),
            ..Default::default()
        };
        routes.push(route(never, forward("h2")));
    }
    (listener(Some("app"), routes), pools)
}

/// A connection whose receive buffer is small, so a writer to it blocks early.
async fn tight(addr: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    s.connect(addr).await.unwrap()
}

async fn a_client_that_stops_reading_is_disconnected(engine: Engine) {
    let be = backends::echo().await;
    let idle = Duration::from_millis(400);
    let h = behind(&be, engine, idle, Some(1)).await;
    // 1 GiB, of which the client reads nothing: the proxy's writes to it block.
    let mut stuck = tight(h.addr).await;
    stuck
        .write_all(b"GET /bytes/1073741824 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // It holds the listener's only connection slot until it is disconnected.
    let t0 = Instant::now();
    let other = tokio::time::timeout(
        Duration::from_secs(8),
        client().get(h.url("/bytes/10")).send(),
    )
    .await;
    let waited = t0.elapsed();
    assert!(
        matches!(&other, Ok(Ok(r)) if r.status() == 200),
        "{engine:?}: another client was kept out for {waited:?}: {other:?}"
    );
    assert!(waited < Duration::from_secs(4), "{engine:?}: {waited:?}");
    // The stuck client finds its connection closed short of the body.
    let mut got = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stuck.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n as u64,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "{engine:?}: the stuck connection stays open");
    assert!(got < 1 << 30, "{engine:?}: {got} bytes");
    let snap = h.pool("app").snapshot();
    let stats = snap.server("a").unwrap().stats();
    assert_eq!(stats.in_flight(), 0, "{engine:?}: the server is released");
    h.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_after_the_idle_timeout() {
    a_client_that_stops_reading_is_disconnected(Engine::H1).await;
    a_client_that_stops_reading_is_disconnected(Engine::Hyper).await;
}

async fn aborted_downloads_are_not_server_failures(engine: Engine) {
    let be = backends::echo().await;
    let h = behind(&be, engine, Duration::from_secs(60), None).await;
    for _ in 0..3 {
        let mut s = TcpStream::connect(h.addr).await.unwrap();
        s.write_all(b"GET /bytes/104857600 HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        assert!(s.read(&mut buf).await.unwrap() > 0);
        drop(s);
    }
    let snap = h.pool("app").snapshot();
    let stats = snap.server("a").unwrap().stats();
    for _ in 0..100 {
        if stats.requests_total() == 3 && stats.in_flight() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.requests_total(), 3, "{engine:?}");
    assert_eq!(
        stats.failures_total(),
        0,
        "{engine:?}: a client going away is no fault of the server"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_client_aborting_downloads_is_not_a_server_failure() {
    aborted_downloads_are_not_server_failures(Engine::H1).await;
    aborted_downloads_are_not_server_failures(Engine::Hyper).await;
}

// --- HTTP/2 by hand: frames written and read on a raw socket ---

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;
const REFUSED_STREAM: u32 = 7;
const ENHANCE_YOUR_CALM: u32 = 11;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in pairs {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &p)
}

/// A GET of `path` in HPACK without indexing or Huffman coding.
fn get(stream: u32, path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86]; // :method GET, :scheme http
    for (index, value) in [(4u8, path), (1, "a.test")] {
        block.push(index); // literal without indexing, indexed name (:path, :authority)
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    frame(HEADERS, END_HEADERS | END_STREAM, stream, &block)
}

/// Frames read from an HTTP/2 connection.
struct Frames {
    s: TcpStream,
    buf: Vec<u8>,
    closed: bool,
}

impl Frames {
    /// Read for up to `wait`; the frames that arrived (type, stream, payload).
    async fn read(&mut self, wait: Duration) -> Vec<(u8, u32, Vec<u8>)> {
        let mut chunk = vec![0u8; 1 << 16];
        let _ = tokio::time::timeout(wait, async {
            while !self.closed {
                match self.s.read(&mut chunk).await {
                    Ok(0) | Err(_) => self.closed = true,
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await;
        let mut out = Vec::new();
        while self.buf.len() >= 9 {
            let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
            if self.buf.len() < 9 + len {
                break;
            }
            let stream = u32::from_be_bytes(self.buf[5..9].try_into().unwrap()) & 0x7fff_ffff;
            out.push((self.buf[3], stream, self.buf[9..9 + len].to_vec()));
            self.buf.drain(..9 + len);
        }
        out
    }
}

async fn h2c(addr: SocketAddr, client_settings: &[(u16, u32)]) -> Frames {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(PREFACE).await.unwrap();
    s.write_all(&settings(client_settings)).await.unwrap();
    Frames {
        s,
        buf: Vec::new(),
        closed: false,
    }
}

fn code(payload: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(payload[at..at + 4].try_into().unwrap())
}

#[tokio::test]
async fn an_h2_client_that_keeps_its_flow_control_window_shut_is_disconnected() {
    let be = backends::echo().await;
    let idle = Duration::from_millis(400);
    let h = behind(&be, Engine::H1, idle, None).await;
    // SETTINGS_INITIAL_WINDOW_SIZE = 0 and never a WINDOW_UPDATE: no DATA may be sent,
    // while the server has 1 GiB for each of 10 streams.
    let mut c = h2c(h.addr, &[(4, 0)]).await;
    let mut req = Vec::new();
    for i in 0..10 {
        req.extend(get(1 + 2 * i, "/bytes/1073741824"));
    }
    c.s.write_all(&req).await.unwrap();
    // The client stays busy otherwise: a PING every 100 ms.
    let t0 = Instant::now();
    while !c.closed && t0.elapsed() < Duration::from_secs(6) {
        let _ = c.s.write_all(&frame(PING, 0, 0, b"01234567")).await;
        let frames = c.read(Duration::from_millis(100)).await;
        assert!(frames.iter().all(|f| f.0 != DATA), "DATA beyond the window");
    }
    assert!(
        c.closed,
        "a connection with shut windows was kept {:?}",
        t0.elapsed()
    );
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    let snap = h.pool("app").snapshot();
    let stats = snap.server("a").unwrap().stats();
    for _ in 0..100 {
        if stats.in_flight() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.in_flight(), 0, "the server is released");
    h.stop().await;
}

#[tokio::test]
async fn h2_streams_beyond_200_are_refused_and_rapid_reset_is_cut_off() {
    let be = backends::echo().await;
    let h = behind(&be, Engine::H1, Duration::from_secs(60), None).await;

    // The server announces at most 200 concurrent streams and refuses the rest.
    let mut c = h2c(h.addr, &[]).await;
    let mut req = Vec::new();
    for i in 0..250 {
        req.extend(get(1 + 2 * i, "/bytes/10"));
    }
    c.s.write_all(&req).await.unwrap();
    let mut frames = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        frames.extend(c.read(Duration::from_millis(200)).await);
        let answered = frames.iter().filter(|f| f.0 == HEADERS).count();
        let refused = frames.iter().filter(|f| f.0 == RST_STREAM).count();
        if answered + refused >= 250 || c.closed {
            break;
        }
    }
    let limit = frames.iter().find_map(|(kind, _, p)| {
        (*kind == SETTINGS)
            .then(|| p.chunks(6).find(|s| s[..2] == [0, 3]).map(|s| code(s, 2)))
            .flatten()
    });
    assert_eq!(limit, Some(200), "SETTINGS_MAX_CONCURRENT_STREAMS");
    let answered = frames.iter().filter(|f| f.0 == HEADERS).count();
    let refused: Vec<u32> = frames
        .iter()
        .filter(|f| f.0 == RST_STREAM)
        .map(|f| code(&f.2, 0))
        .collect();
    assert_eq!(answered, 200);
    assert_eq!(refused.len(), 50);
    assert!(refused.iter().all(|&c| c == REFUSED_STREAM), "{refused:?}");

    // HEADERS then RST_STREAM, over and over (CVE-2023-44487): the connection is ended
    // with ENHANCE_YOUR_CALM long before the 5000 streams are through.
    let mut c = h2c(h.addr, &[]).await;
    let mut sent = 0;
    let mut goaway = None;
    for batch in 0..50u32 {
        let mut out = Vec::new();
        for i in 0..100 {
            let id = 1 + 2 * (batch * 100 + i);
            out.extend(get(id, "/"));
            out.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes()));
        }
        if c.s.write_all(&out).await.is_err() {
            break;
        }
        sent += 100;
        let frames = c.read(Duration::from_millis(5)).await;
        if let Some(f) = frames.iter().find(|f| f.0 == GOAWAY) {
            goaway = Some(code(&f.2, 4));
            break;
        }
        if c.closed {
            break;
        }
    }
    if goaway.is_none() {
        let frames = c.read(Duration::from_secs(2)).await;
        goaway = frames.iter().find(|f| f.0 == GOAWAY).map(|f| code(&f.2, 4));
    }
    assert_eq!(goaway, Some(ENHANCE_YOUR_CALM), "after {sent} resets");
    assert!(sent < 5000, "{sent}");
    // Everyone else is still served.
    let res = client().get(h.url("/bytes/5")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    h.stop().await;
}

async fn a_slow_upload_is_the_clients_fault(engine: Engine) {
    let be = backends::echo().await;
    let (mut l, pools) = setup(&be, engine);
    l.timeouts.backend = Duration::from_millis(500);
    let h = start(l, pools).await;
    // 1000 bytes announced, 10 sent every 100 ms: the body takes 10 s, the server (which
    // answers once it has read it) is given 500 ms.
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(b"POST /count HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    let t0 = Instant::now();
    let mut reply = Vec::new();
    let mut buf = vec![0u8; 4096];
    while t0.elapsed() < Duration::from_secs(5) && !reply.ends_with(b"\n") {
        if s.write_all(&[b'x'; 10]).await.is_err() {
            break;
        }
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buf[..n]);
        }
    }
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.starts_with("HTTP/1.1 408"),
        "{engine:?}: after {:?}: {reply}",
        t0.elapsed()
    );
    let snap = h.pool("app").snapshot();
    let stats = snap.server("a").unwrap().stats();
    assert_eq!(
        stats.failures_total(),
        0,
        "{engine:?}: a slow client is no fault of the server"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_body_sent_too_slowly_gets_408_and_is_no_server_failure() {
    a_slow_upload_is_the_clients_fault(Engine::H1).await;
    a_slow_upload_is_the_clients_fault(Engine::Hyper).await;
}

#[tokio::test]
async fn h2_connections_left_half_open_are_closed_after_the_idle_timeout() {
    let be = backends::echo().await;
    let idle = Duration::from_millis(300);
    let h = behind(&be, Engine::H1, idle, None).await;
    // A header block never finished (no END_HEADERS, no CONTINUATION), and a preface
    // never followed by the client's SETTINGS: hyper's graceful close (GOAWAY) waits for
    // the client, which never comes.
    let mut partial = h2c(h.addr, &[]).await;
    let mut head = get(1, "/");
    head[4] = 0; // flags: neither END_HEADERS nor END_STREAM
    head.truncate(9 + 3);
    head[..3].copy_from_slice(&3u32.to_be_bytes()[1..]);
    partial.s.write_all(&head).await.unwrap();
    let mut mute = TcpStream::connect(h.addr).await.unwrap();
    mute.write_all(PREFACE).await.unwrap();
    let mut mute = Frames {
        s: mute,
        buf: Vec::new(),
        closed: false,
    };
    let t0 = Instant::now();
    for c in [&mut partial, &mut mute] {
        while !c.closed && t0.elapsed() < Duration::from_secs(5) {
            c.read(Duration::from_millis(100)).await;
        }
    }
    assert!(
        partial.closed,
        "a half-sent header block kept its connection open"
    );
    assert!(
        mute.closed,
        "a preface without SETTINGS kept its connection open"
    );
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    h.stop().await;
}
