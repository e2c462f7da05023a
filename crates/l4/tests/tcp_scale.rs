//! Ten thousand concurrent connections through the TCP proxy, all open at once.
//!
//! The clients and the two backends run in child processes (this test binary started
//! again in a helper role), so the proxy's process holds only its own two descriptors per
//! connection, like a real deployment: 10,000 connections need about 20,500. Where the
//! hard RLIMIT_NOFILE is lower and cannot be raised (a container without
//! CAP_SYS_RESOURCE), the largest count that fits runs instead and the reason is printed.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use switchyard_balance::Algorithm;
use switchyard_l4::ConnTable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNS: usize = 10_000;
/// Connections opened at once: below the listen backlog, so no handshake is lost to a
/// full accept queue while the client waits for the server to speak.
const WAVE: usize = 100;
/// The proxy's accepted and connected sockets (no pipes: these connections move a few
/// bytes, below the splice threshold).
const FDS_PER_CONN: u64 = 2;
/// Descriptors for everything else in the proxy's process.
const SPARE_FDS: u64 = 300;
/// The environment variable that makes the helper test act as a child.
const ROLE: &str = "SWITCHYARD_SCALE_ROLE";

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

/// This test binary again, running only [`scale_child`] in `role`.
fn child(role: &str) -> (Child, BufReader<ChildStdout>) {
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "scale_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(ROLE, role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start a helper process");
    let out = BufReader::new(c.stdout.take().unwrap());
    (c, out)
}

/// What the child said next (`SCALE ...`).
fn report(out: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "helper ended early");
        // libtest may have printed `test scale_child ... ` on the same line.
        if let Some(at) = line.find("SCALE ") {
            return line[at + 6..].trim().to_string();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_connections() {
    let want = CONNS as u64 * FDS_PER_CONN + SPARE_FDS;
    let limit = raise_nofile(want);
    let conns = if limit >= want {
        CONNS
    } else {
        let fit = (limit.saturating_sub(SPARE_FDS) / FDS_PER_CONN) as usize / WAVE * WAVE;
        eprintln!(
            "SKIPPED the {CONNS}-connection run: RLIMIT_NOFILE hard limit is {limit} and \
             cannot be raised here, {want} descriptors are needed; running {fit} concurrent \
             connections instead"
        );
        fit
    };
    let n = conns as u64;
    let (mut a, mut a_out) = child("backend:a");
    let (mut b, mut b_out) = child("backend:b");
    let a_addr: SocketAddr = report(&mut a_out).parse().unwrap();
    let b_addr: SocketAddr = report(&mut b_out).parse().unwrap();
    let p = pool(
        "scale",
        Algorithm::LeastConnections,
        &[("a", a_addr), ("b", b_addr)],
    );
    let proxy = start_tcp(build(&listener("scale", Some("scale"), tcp_kind()), &[&p])).await;

    let start = Instant::now();
    let (mut clients, mut c_out) = child(&format!("client:{}:{conns}", proxy.addr));
    let said = tokio::task::spawn_blocking(move || (report(&mut c_out), c_out))
        .await
        .unwrap();
    let (said, _c_out) = said;
    assert_eq!(said, format!("open {conns}"), "stats {:?}", proxy.stats());
    let opened = start.elapsed();
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
    // Closing the client's stdin tells it to close every connection and exit.
    drop(clients.stdin.take());
    let exit = tokio::task::spawn_blocking(move || clients.wait()).await;
    assert!(exit.unwrap().unwrap().success(), "client helper failed");
    eventually("all connections closed", || {
        proxy.stats().connections_active == 0
    })
    .await;
    eprintln!(
        "{conns} concurrent connections through one proxy opened in {opened:?} \
         (RLIMIT_NOFILE={limit}), all closed after {:?}",
        start.elapsed()
    );
    assert_eq!(ConnTable::global().count_listener("scale"), 0);
    for c in [&mut a, &mut b] {
        drop(c.stdin.take());
        let _ = c.wait();
    }
}

/// A helper role for [`ten_thousand_concurrent_connections`]; does nothing when run by
/// the test harness itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    raise_nofile(CONNS as u64 + SPARE_FDS);
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).unwrap_or(0) > 0 {}
    });
    if let Some(name) = role.strip_prefix("backend:") {
        let name: &'static str = Box::leak(name.to_string().into_boxed_str());
        say(&named_echo(name).await.to_string());
        let _ = stdin_closed.await;
    } else if let Some(rest) = role.strip_prefix("client:") {
        let (addr, count) = rest.rsplit_once(':').unwrap();
        let addr: SocketAddr = addr.parse().unwrap();
        let count: usize = count.parse().unwrap();
        let open = open_all(addr, count).await;
        say(&format!("open {}", open.len()));
        let _ = stdin_closed.await;
        drop(open);
    }
}

fn say(what: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "SCALE {what}");
    let _ = out.flush();
}

/// Open `count` connections through the proxy in waves, each checked end to end (the
/// server's name, then an echo), and keep them all open.
async fn open_all(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut open = Vec::with_capacity(count);
    for wave in 0..count / WAVE {
        let mut tasks = Vec::new();
        for i in 0..WAVE {
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
                Err(_) => panic!("wave {wave}: {} open", open.len()),
            }
        }
    }
    open
}
