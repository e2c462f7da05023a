//! Real-world client: curl (skipped with a note when curl is not installed).

mod common;

use common::*;

async fn curl(args: &[&str]) -> Option<String> {
    let out = tokio::process::Command::new("curl")
        .args(args)
        .output()
        .await
        .ok()?;
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn curl_speaks_h2c_and_http11_with_expect_continue() {
    let (be, h) = echo_behind_proxy().await;
    let url = h.url("/curl");
    let Some(out) = curl(&["-sS", "-i", "--http2-prior-knowledge", &url]).await else {
        eprintln!("curl is not installed: skipped");
        return;
    };
    assert!(out.starts_with("HTTP/2 200"), "{out}");
    let body = "x".repeat(2000);
    let out = curl(&[
        "-sS",
        "--http1.1",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        &body,
        &url,
    ])
    .await
    .unwrap();
    assert_eq!(out, body);
    assert_eq!(be.requests(), 2);
    h.stop().await;
}
