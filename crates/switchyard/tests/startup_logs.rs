//! What an operator reads in the log when a healthy system starts: no false alarms.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_port, sigterm, wait_exit};

/// An HTTP server on loopback answering `200 ok` to at most 50 requests, each after
/// `delay`. Returns its address.
fn backend(delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                std::thread::sleep(delay);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            });
        }
    });
    address
}

/// The first checks of a pool's servers come back one by one. A healthy pool used to be
/// logged `WARN pool app in panic mode: only 1 of 3 servers up` at every start (and
/// `out of panic mode` right after), which sends an operator looking for an outage.
#[test]
fn a_healthy_pool_is_not_logged_in_panic_mode_while_its_first_checks_come_back() {
    let fast = backend(Duration::ZERO);
    let slow1 = backend(Duration::from_millis(600));
    let slow2 = backend(Duration::from_millis(600));
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    std::fs::write(
        &path,
        format!(
            "[global]\nshutdown_timeout = \"1s\"\n\
             [[pool]]\nname = \"app\"\n\
             [pool.health]\ncheck = \"http\"\npath = \"/\"\ninterval = \"5s\"\ntimeout = \"2s\"\n\
             [[pool.server]]\nname = \"fast\"\naddress = \"{fast}\"\n\
             [[pool.server]]\nname = \"slow1\"\naddress = \"{slow1}\"\n\
             [[pool.server]]\nname = \"slow2\"\naddress = \"{slow2}\"\n\
             [[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:{port}\"\npool = \"app\"\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["run", "-c"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = stderr.read_to_string(&mut log);
        log
    });
    std::thread::sleep(Duration::from_millis(2000));
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(10)).expect("did not stop on SIGTERM");
    assert!(status.success(), "exited with {status}");
    let log = reader.join().unwrap();
    for server in ["fast", "slow1", "slow2"] {
        assert!(
            log.contains(&format!("server app/{server} up: first check succeeded")),
            "{server} never came up:\n{log}"
        );
    }
    assert!(
        !log.contains("panic mode"),
        "a false alarm at start:\n{log}"
    );
}
