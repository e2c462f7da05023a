//! Ten thousand concurrent connections through the TCP proxy, all open at once.
//!
//! The test process holds every socket (clients, proxy, backends), so it needs about
//! 42,000 descriptors. Where the hard RLIMIT_NOFILE is too low (and cannot be raised), the
//! 10,000 run is skipped with the reason printed, and the largest count that fits runs
//! instead so the path is still exercised at scale.

mod common;

use std::time::{Duration, Instant};

use common::*;
use switchyard_balance::Algorithm;
use switchyard_l4::ConnTable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNS: usize = 10_000;
/// Connections opened at once: below the listen backlog (128 for tokio's `bind`), so no
/// handshake is lost to a full accept queue while the client waits for the server to speak.
const WAVE: usize = 100;
/// Client, proxy's accepted and connected sockets, backend's accepted socket.
const SOCKETS_PER_CONN: u64 = 4;
/// No pipes: these connections move a few bytes, below the splice threshold.
const PIPE_FDS_PER_CONN: u64 = 0;

/// Raises RLIMIT_NOFILE to `want` if allowed (root may raise the hard limit), else to the
/// hard limit. Returns the soft limit in force.
fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: want.max(lim.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            let soft = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &soft);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_connections() {
    let per_conn = SOCKETS_PER_CONN + PIPE_FDS_PER_CONN;
    let want = CONNS as u64 * per_conn + 2000;
    let limit = raise_nofile(want);
    let conns = if limit >= want {
        CONNS
    } else {
        let fit = (limit.saturating_sub(2000) / per_conn) as usize / WAVE * WAVE;
        eprintln!(
            "SKIPPED the {CONNS}-connection run: RLIMIT_NOFILE hard limit is {limit}, \
             {want} descriptors are needed; running {fit} concurrent connections instead"
        );
        fit
    };
    if conns == 0 {
        return;
    }
    let n = conns as u64;
    let (a, b) = (named_echo("a").await, named_echo("b").await);
    let p = pool("scale", Algorithm::LeastConnections, &[("a", a), ("b", b)]);
    let proxy = start_tcp(build(&listener("scale", Some("scale"), tcp_kind()), &[&p])).await;

    let start = Instant::now();
    let mut open: Vec<TcpStream> = Vec::with_capacity(conns);
    // Open in waves (every connection stays open).
    for wave in 0..conns / WAVE {
        let mut tasks = Vec::new();
        for i in 0..WAVE {
            let addr = proxy.addr;
            tasks.push(tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.expect("connect to proxy");
                let mut name = [0u8; 1];
                s.read_exact(&mut name).await.expect("server name");
                let msg = ((wave * WAVE + i) as u32).to_be_bytes();
                s.write_all(&msg).await.unwrap();
                let mut back = [0u8; 4];
                s.read_exact(&mut back).await.expect("echo");
                assert_eq!(back, msg);
                s
            }));
        }
        for t in tasks {
            match tokio::time::timeout(Duration::from_secs(10), t).await {
                Ok(r) => open.push(r.unwrap()),
                Err(_) => panic!(
                    "wave {wave}: {} open, stats {:?}",
                    open.len(),
                    proxy.stats()
                ),
            }
        }
    }
    let opened = start.elapsed();
    assert_eq!(open.len(), conns);
    assert_eq!(proxy.stats().connections_active, n);
    assert_eq!(ConnTable::global().count_listener("scale"), conns);
    let in_flight: Vec<u64> = p
        .snapshot()
        .servers()
        .iter()
        .map(|s| s.stats().in_flight())
        .collect();
    assert_eq!(in_flight.iter().sum::<u64>(), n);
    assert!(
        in_flight.iter().all(|&f| f >= n / 2 - 50),
        "least_connections spread {in_flight:?}"
    );
    drop(open);
    eventually("all connections closed", || {
        proxy.stats().connections_active == 0
    })
    .await;
    eprintln!(
        "{conns} concurrent connections opened in {opened:?} (RLIMIT_NOFILE={limit}), all closed after {:?}",
        start.elapsed()
    );
    assert_eq!(ConnTable::global().count_listener("scale"), 0);
}
