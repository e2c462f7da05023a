//! The BIRD client against a fake BIRD control socket (real Unix sockets).

mod support;

use std::time::Duration;

use support::FakeBird;
use switchyard_anycast::{BirdClient, BirdError, Toggle};

const T: Duration = Duration::from_secs(2);

#[tokio::test]
async fn reads_the_greeting_and_toggles_protocols() {
    let dir = tempfile::tempdir().unwrap();
    let bird = FakeBird::start(dir.path(), &[("vip_web", false)]);
    let mut c = BirdClient::connect(&bird.path, T).await.expect("connects");
    assert_eq!(c.version(), "2.0.12");
    assert!(!c.protocol("vip_web").await.unwrap().enabled());
    assert_eq!(c.enable("vip_web").await.unwrap(), Toggle::Changed);
    assert_eq!(c.enable("vip_web").await.unwrap(), Toggle::Already);
    assert_eq!(bird.enabled("vip_web"), Some(true));
    let row = c.protocol("vip_web").await.unwrap();
    assert_eq!((row.proto.as_str(), row.state.as_str()), ("Static", "up"));
    assert_eq!(c.disable("vip_web").await.unwrap(), Toggle::Changed);
    assert_eq!(c.disable("vip_web").await.unwrap(), Toggle::Already);
    assert_eq!(bird.enabled("vip_web"), Some(false));
    assert_eq!(
        bird.commands(),
        [
            "show protocols \"vip_web\"",
            "enable \"vip_web\"",
            "enable \"vip_web\"",
            "show protocols \"vip_web\"",
            "disable \"vip_web\"",
            "disable \"vip_web\"",
        ]
    );
}

#[tokio::test]
async fn unknown_protocol_and_syntax_errors_are_reported_in_operators_words() {
    let dir = tempfile::tempdir().unwrap();
    let _bird = FakeBird::start(dir.path(), &[("vip_web", false)]);
    let mut c = BirdClient::connect(&dir.path().join("bird.ctl"), T)
        .await
        .unwrap();
    let err = c.enable("vip_api").await.unwrap_err();
    assert!(matches!(err, BirdError::NoSuchProtocol { .. }));
    assert!(!err.breaks_connection());
    assert_eq!(
        err.to_string(),
        "BIRD has no protocol named vip_api (bird_protocol must name a protocol in bird.conf)"
    );
    let err = c.command("bogus cmd").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "BIRD refused `bogus cmd`: 9001 syntax error, unexpected CF_SYM_UNDEFINED"
    );
    // The connection is still good after refused commands.
    assert_eq!(c.enable("vip_web").await.unwrap(), Toggle::Changed);
}

#[tokio::test]
async fn a_missing_socket_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = BirdClient::connect(&dir.path().join("nope.ctl"), T)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("cannot connect to BIRD's control socket "),
        "{text}"
    );
    assert!(text.contains("nope.ctl"), "{text}");
    assert!(err.breaks_connection());
}

#[tokio::test]
async fn a_bird_restart_is_noticed_while_idle() {
    let dir = tempfile::tempdir().unwrap();
    let mut bird = FakeBird::start(dir.path(), &[("vip_web", false)]);
    let mut c = BirdClient::connect(&bird.path, T).await.unwrap();
    bird.stop();
    let err = tokio::time::timeout(T, c.closed())
        .await
        .expect("noticed within 2s");
    assert!(matches!(err, BirdError::Closed { .. }), "{err}");
    assert!(err
        .to_string()
        .contains("closed (BIRD restarted or stopped)"));
}

#[tokio::test]
async fn a_peer_that_is_not_bird_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("http.ctl");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        if let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let err = BirdClient::connect(&path, T).await.unwrap_err();
    assert!(matches!(err, BirdError::Protocol { .. }), "{err}");
}

#[tokio::test]
async fn a_silent_peer_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent.ctl");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        if let Ok((s, _)) = listener.accept().await {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        }
    });
    let err = BirdClient::connect(&path, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, BirdError::Timeout { .. }), "{err}");
}
