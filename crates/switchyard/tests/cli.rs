//! The command line as a user meets it: exit codes, messages, the demo end to end.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, sigterm, wait_exit};

fn switchyard() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
}

/// `switchyard check -c path`, which must exit 0 (its stderr is shown otherwise).
fn check_passes(path: &std::path::Path) -> std::process::Output {
    let out = switchyard()
        .args(["check", "-c"])
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn version_prints_the_version() {
    let out = switchyard().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("switchyard {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_accepts_a_valid_file_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "[[pool]]\nname = \"app\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:9001\"\n\
         [[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:8080\"\npool = \"app\"\n",
    );
    let out = check_passes(&path);
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration is valid"));
}

#[test]
fn check_reports_every_error_located_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "[[pool]]\nname = \"app\"\nalgorithm = \"fastest\"\n[[pool.server]]\nname = \"a\"\n\
         address = \"127.0.0.1:9001\"\nweight = 0\n[[listener]]\nname = \"web\"\nprotocol = \"http\"\n\
         listen = \"127.0.0.1:8080\"\npool = \"nowhere\"\n",
    );
    let out = switchyard()
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    assert!(
        err.contains(&format!(
            "{file}:3:13: unknown algorithm \"fastest\"; expected one of round_robin"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}:7:10: weight 0 is out of range 1..=1000")),
        "{err}"
    );
    assert!(
        err.contains("pool \"nowhere\" is not defined; pools are: app"),
        "{err}"
    );
    assert!(err.contains("3 errors"), "{err}");
}

/// The example configurations users start from stay valid, with nothing to warn about.
#[test]
fn every_example_configuration_passes_check() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = check_passes(&path);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!err.contains("warning"), "{}: {err}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} examples in {}", dir.display());
}

/// An empty file is a valid configuration, but one that serves nothing: `check` says so.
#[test]
fn check_warns_about_a_configuration_that_serves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "# nothing yet\n");
    let out = check_passes(&path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: the configuration defines no [[listener]]"),
        "{err}"
    );
    let with_admin = write(&dir, "[admin]\nlisten = \"127.0.0.1:9\"\n");
    let out = check_passes(&with_admin);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
}

#[test]
fn check_of_a_missing_file_exits_2() {
    let out = switchyard()
        .args(["check", "-c", "/nonexistent/switchyard.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn an_unknown_command_is_a_usage_error() {
    let out = switchyard().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn run_with_an_invalid_file_exits_2_and_serves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "[[pool]]\nname = \"BAD NAME\"\n");
    let out = switchyard()
        .args(["run", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn demo_print_config_is_a_valid_configuration() {
    let out = switchyard()
        .args(["demo", "--print-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[[pool]]") && text.contains("demo.test"));
    // What the README and the file's own header say to do with it: save it, then check it
    // (in an empty directory: the demo's embedded GeoIP database is not there).
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, &text);
    check_passes(&path);
}

#[test]
fn demo_with_a_bad_traffic_rate_is_a_usage_error() {
    for rate in ["0", "-5", "abc", "20000"] {
        let out = switchyard()
            .args(["demo", "--traffic", rate])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--traffic {rate}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--traffic"), "{err}");
    }
}

#[test]
fn run_on_a_port_in_use_says_why_once_and_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        &format!(
            "[[pool]]\nname = \"app\"\n[pool.health]\ncheck = \"none\"\n\
             [[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:9\"\n\
             [[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:{port}\"\npool = \"app\"\n"
        ),
    );
    let out = switchyard()
        .args(["run", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("listener web: cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    assert_eq!(err.matches("in use").count(), 1, "{err}");
    // Logs into a pipe or file (journald, a log collector) carry no terminal colour codes.
    assert!(
        !err.contains('\x1b'),
        "colour codes in logs written to a pipe: {err:?}"
    );
    drop(taken);
}

#[test]
fn generate_writes_completions_and_a_man_page() {
    for (what, needle) in [("bash", "switchyard"), ("man", ".TH")] {
        let out = switchyard().args(["generate", what]).output().unwrap();
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(needle),
            "{what}"
        );
    }
}

#[test]
fn printing_into_a_closed_pipe_ends_quietly_without_a_panic() {
    // `switchyard generate bash | head -1`: the reader is gone before the output is.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        &dir,
        "[[pool]]\nname = \"app\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:9001\"\n",
    );
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/heterogeneous.toml"
    );
    let config = config.to_str().unwrap();
    for args in [
        &["generate", "bash"][..],
        &["generate", "zsh"],
        &["generate", "fish"],
        &["generate", "man"],
        &["check", "-c", config],
        &["demo", "--print-config"],
        &["simulate", scenario],
    ] {
        let out = switchyard()
            .args(args)
            .stdout(writer.try_clone().unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// The README's main command: the demo serves HTTP, DNS and the admin API, and stops
/// cleanly on SIGTERM. It uses the demo's fixed ports, so it is the only test that does.
#[test]
fn demo_serves_http_dns_and_admin_then_stops_on_sigterm() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = switchyard()
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let stderr = || std::fs::read_to_string(log.path()).unwrap_or_default();
    let http = wait_http("http://127.0.0.1:9900/readyz", 200, Duration::from_secs(20));
    assert!(http.is_some(), "the demo never became ready:\n{}", stderr());
    // Another process on the demo's ports would answer too: make sure it is ours.
    assert!(
        child.try_wait().unwrap().is_none(),
        "the demo exited at start:\n{}",
        stderr()
    );
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..40 {
        if let Some((200, body)) = fetch("http://127.0.0.1:8080/") {
            names.insert(body.trim().to_string());
        }
    }
    assert!(names.len() >= 3, "the demo balanced over only {names:?}");
    assert_eq!(
        fetch("http://127.0.0.1:8080/hello").map(|r| r.1),
        Some("hello from switchyard\n".into())
    );
    let state = fetch("http://127.0.0.1:9900/api/v1/state")
        .expect("state")
        .1;
    assert!(state.contains("\"name\":\"demo\""), "{state}");

    // DNS over UDP with a raw query for app.demo.test A.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut query = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["app", "demo", "test"] {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    socket.send_to(&query, "127.0.0.1:5353").unwrap();
    let mut answer = [0u8; 512];
    let n = socket.recv(&mut answer).unwrap();
    assert!(n > query.len(), "short DNS answer");
    assert_eq!(&answer[..2], &[0x12, 0x34]);
    assert_eq!(answer[3] & 0x0f, 0, "rcode not NOERROR");
    let answers = u16::from_be_bytes([answer[6], answer[7]]);
    assert!(answers >= 1, "no A records for app.demo.test");

    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(15))
        .unwrap_or_else(|| panic!("the demo did not stop on SIGTERM:\n{}", stderr()));
    assert!(status.success(), "demo exited with {status}:\n{}", stderr());
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(out.contains("http://127.0.0.1:9900/"), "{out}");
}

/// A blocking HTTP/1.1 GET with curl-like simplicity: (status, body).
fn fetch(url: &str) -> Option<(u16, String)> {
    use std::io::Write;
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn wait_http(url: &str, status: u16, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if fetch(url).is_some_and(|(s, _)| s == status) {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// `global.workers = 1` runs every listener on one thread (the current-thread runtime).
#[test]
fn run_serves_on_a_single_worker_and_stops_on_sigterm() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        &format!(
            "[global]\nworkers = 1\nshutdown_timeout = \"2s\"\n\
             [[pool]]\nname = \"app\"\n[pool.health]\ncheck = \"none\"\n\
             [[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:9\"\n\
             [[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:{port}\"\npool = \"app\"\n\
             [[listener.route]]\npath = \"/hi\"\nrespond = {{ status = 200, body = \"hi\" }}\n"
        ),
    );
    let mut child = switchyard()
        .args(["run", "-c"])
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/hi");
    assert!(
        wait_http(&url, 200, Duration::from_secs(10)).is_some(),
        "never served"
    );
    assert_eq!(fetch(&url).map(|r| r.1), Some("hi".to_string()));
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(10)).expect("did not stop on SIGTERM");
    assert!(status.success(), "exited with {status}");
}

/// SIGTERM waits for the request in flight; a second SIGTERM ends that wait at once
/// instead of after `shutdown_timeout`.
#[test]
fn a_second_sigterm_stops_waiting_for_requests_in_flight() {
    use std::io::Write;
    // A backend that accepts and never answers, so the request stays in flight.
    let backend = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let backend_addr = backend.local_addr().unwrap();
    backend.set_nonblocking(true).unwrap();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until && held.is_empty() {
            match backend.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        held
    });
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        &format!(
            "[global]\nshutdown_timeout = \"30s\"\n\
             [[pool]]\nname = \"app\"\n[pool.health]\ncheck = \"none\"\n\
             [[pool.server]]\nname = \"a\"\naddress = \"{backend_addr}\"\n\
             [[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:{port}\"\npool = \"app\"\n\
             timeouts = {{ backend = \"60s\" }}\n\
             [[listener.route]]\npath = \"/hi\"\nrespond = {{ status = 200, body = \"hi\" }}\n"
        ),
    );
    let mut child = switchyard()
        .args(["run", "-c"])
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_http(
            &format!("http://127.0.0.1:{port}/hi"),
            200,
            Duration::from_secs(10)
        )
        .is_some(),
        "never served"
    );
    let mut in_flight = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(in_flight, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&child);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first SIGTERM did not wait for the request in flight"
    );
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(5))
        .expect("a second SIGTERM did not end the shutdown");
    assert!(status.success(), "exited with {status}");
    drop(holder.join().unwrap());
}

/// An admin API reachable from other machines without `admin.token` lets anyone who can
/// reach it drain servers: `run` says so at start; on loopback, or with a token, it
/// does not.
#[test]
fn an_admin_api_off_loopback_without_a_token_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    for (admin, warned) in [
        ("listen = \"0.0.0.0:{port}\"", true),
        ("listen = \"0.0.0.0:{port}\"\ntoken = \"t0ken\"", false),
        ("listen = \"127.0.0.1:{port}\"", false),
    ] {
        let port = free_port();
        let admin = admin.replace("{port}", &port.to_string());
        let path = write(
            &dir,
            &format!(
                "[global]\nshutdown_timeout = \"1s\"\n[admin]\n{admin}\n\
                 [[pool]]\nname = \"app\"\n[pool.health]\ncheck = \"none\"\n\
                 [[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:9\"\n\
                 [[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:{}\"\npool = \"app\"\n",
                free_port()
            ),
        );
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = switchyard()
            .args(["run", "-c"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/readyz");
        assert!(
            wait_http(&url, 200, Duration::from_secs(10)).is_some(),
            "never ready"
        );
        sigterm(&child);
        let status = wait_exit(&mut child, Duration::from_secs(10)).expect("did not stop");
        assert!(status.success(), "exited with {status}");
        let err = std::fs::read_to_string(log.path()).unwrap();
        let warning = err
            .lines()
            .find(|l| l.contains("WARN") && l.contains("admin.token"));
        assert_eq!(warning.is_some(), warned, "{admin}:\n{err}");
        if let Some(line) = warning {
            assert!(line.contains(&format!("0.0.0.0:{port}")), "{line}");
        }
    }
}
