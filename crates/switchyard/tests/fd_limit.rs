//! A process at its open-file limit: the listener pauses accepting and warns now and then
//! (not once per retry), and serves again once descriptors are free.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, sigterm, wait_exit};

/// The child's hard and soft open-file limit: its own descriptors plus a few dozen
/// connections.
const LIMIT: u64 = 64;

/// `GET /hi` on a fresh connection: the body, or `None` when not answered within 2 s.
fn get_hi(port: u16) -> Option<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /hi HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.ends_with("hi").then_some(out)
}

fn served_within(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if get_hi(port).is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn a_listener_out_of_descriptors_warns_rarely_and_serves_again_when_they_free() {
    let port = free_port();
    let udp_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            "[global]\nworkers = 1\nshutdown_timeout = \"2s\"\n\
             [[pool]]\nname = \"app\"\n[pool.health]\ncheck = \"none\"\n\
             [[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:9\"\n\
             [[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:{port}\"\npool = \"app\"\n\
             [[listener.route]]\npath = \"/hi\"\nrespond = {{ status = 200, body = \"hi\" }}\n\
             [[listener]]\nname = \"syslog\"\nprotocol = \"udp\"\nlisten = \"127.0.0.1:{udp_port}\"\npool = \"app\"\n"
        ),
    )
    .unwrap();
    let log_path = dir.path().join("stderr.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(["run", "-c"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    // SAFETY: the closure runs in the forked child before exec and only calls
    // setrlimit, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: LIMIT,
                rlim_max: LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        served_within(port, Duration::from_secs(10)),
        "never served\n{}",
        log()
    );
    assert!(
        log().contains("the open-file limit is 64"),
        "a low limit is worth a warning at start\n{}",
        log()
    );
    assert!(
        log().contains("udp listener syslog: max_flows 65536 is not below the open-file limit 64"),
        "a udp listener whose flows could take every descriptor is worth one too\n{}",
        log()
    );

    // Twice as many idle connections as the child has descriptors: the kernel completes
    // every handshake, and the listener runs out of descriptors accepting them.
    let held: Vec<TcpStream> = (0..2 * LIMIT)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert!(held.len() as u64 > LIMIT);
    std::thread::sleep(Duration::from_secs(2));
    let text = log();
    let warned = text.matches("accept failed").count();
    assert!(warned >= 1, "the limit was reached\n{text}");
    assert!(
        warned <= 2,
        "{warned} warnings in 2 s: the loop warns per retry instead of now and then\n{text}"
    );

    drop(held);
    assert!(
        served_within(port, Duration::from_secs(10)),
        "not served again after the connections closed\n{}",
        log()
    );
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(10)).expect("did not stop on SIGTERM");
    assert!(status.success(), "exited with {status}");
}
