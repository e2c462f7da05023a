//! Helpers for `bench/l4.sh` (which runs the proxy itself as `switchyard run`): an echo
//! server and a bounded new-connections-per-second client.
//!
//! ```text
//! l4_bench echo LISTEN
//! l4_bench connrate TARGET SECONDS CONCURRENCY
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn usage() -> ! {
    eprintln!("usage: l4_bench echo LISTEN | connrate TARGET SECONDS CONCURRENCY");
    std::process::exit(2)
}

fn addr(s: Option<&String>) -> SocketAddr {
    s.and_then(|s| s.parse().ok()).unwrap_or_else(|| usage())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("echo") => echo(addr(args.get(1))).await,
        Some("connrate") => {
            let secs: u64 = args
                .get(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| usage());
            let conc: usize = args
                .get(3)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| usage());
            connrate(addr(args.get(1)), secs, conc).await
        }
        _ => usage(),
    }
}

async fn echo(listen: SocketAddr) {
    let l = TcpListener::bind(listen).await.expect("bind");
    while let Ok((mut s, _)) = l.accept().await {
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// `conc` workers each connect, send one byte, read it back and close, until `secs` pass.
async fn connrate(target: SocketAddr, secs: u64, conc: usize) {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = (0..conc)
        .map(|_| {
            let (done, errors, stop) = (done.clone(), errors.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match one(target).await {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    println!("{rate:.0} {}", errors.load(Ordering::Relaxed));
}

async fn one(target: SocketAddr) -> std::io::Result<()> {
    let mut s = TcpStream::connect(target).await?;
    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
    s.write_all(b"x").await?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await?;
    Ok(())
}
