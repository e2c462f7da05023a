//! `global.access_log` through the runtime: HTTP requests and L4 connections are written
//! by the one logger of the process, to one file.

mod support;

use std::time::Duration;

use support::{client, config, free_port, get, wait_for, Flip};
use switchyard_runtime::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_and_tcp_connections_share_one_access_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let server = Flip::start("s").await;
    let (web, tcp, admin) = (free_port(), free_port(), free_port());
    let text = format!(
        "[global]\naccess_log = {{ target = \"{}\", format = \"json\" }}\n\
         [admin]\nlisten = \"127.0.0.1:{admin}\"\n\
         [[pool]]\nname = \"app\"\n[pool.health]\ncheck = \"none\"\n\
         [[pool.server]]\nname = \"s\"\naddress = \"{}\"\n\
         [[listener]]\nname = \"web\"\nprotocol = \"http\"\nlisten = \"127.0.0.1:{web}\"\npool = \"app\"\n\
         [[listener]]\nname = \"raw\"\nprotocol = \"tcp\"\nlisten = \"127.0.0.1:{tcp}\"\npool = \"app\"\n",
        path.display(),
        server.addr
    );
    let runtime = Runtime::start(config(&text), None).await.unwrap();
    let (status, _) = get(&client(), &format!("http://127.0.0.1:{web}/x"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let mut c = tokio::net::TcpStream::connect(("127.0.0.1", tcp))
        .await
        .unwrap();
    c.write_all(b"GET /y HTTP/1.0\r\n\r\n").await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut reply))
        .await
        .expect("reply in time")
        .unwrap();
    assert!(reply.starts_with(b"HTTP/1."), "the server answered");
    drop(c);

    let lines = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    };
    let both = wait_for(Duration::from_secs(5), || async { lines().len() >= 2 }).await;
    let got = lines();
    assert!(both.is_some(), "two lines in the access log: {got:?}");
    let http = got
        .iter()
        .find(|v| v["listener"] == "web")
        .expect("http line");
    assert_eq!(http["status"], 200);
    assert_eq!(http["uri"], "/x");
    let raw = got
        .iter()
        .find(|v| v["listener"] == "raw")
        .expect("tcp line");
    assert_eq!(raw["protocol"], "tcp");
    assert_eq!(raw["server"], "s");
    assert_eq!(raw["ended"], "done");
    assert_eq!(raw["bytes_in"], 19);
    // Lines dropped when the writer falls behind are exported (none here).
    let (_, metrics) = get(&client(), &format!("http://127.0.0.1:{admin}/metrics"))
        .await
        .unwrap();
    assert!(
        metrics.contains("\nswitchyard_access_log_dropped_total 0\n"),
        "{metrics}"
    );
    runtime.shutdown().await;
}
