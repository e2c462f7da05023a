//! Session affinity: cookie pinning, re-pinning when the server goes down, draining,
//! source IP and header hashing.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use switchyard_balance::{clock, AdminState};
use switchyard_config as config;
use switchyard_testkit::{backends, Backend};

async fn three(affinity: config::Affinity) -> (Harness, Vec<Backend>) {
    let mut bes = Vec::new();
    for n in ["a", "b", "c"] {
        bes.push(backends::named(n).await);
    }
    let mut p = pool(
        "app",
        "round_robin",
        &[("a", bes[0].addr), ("b", bes[1].addr), ("c", bes[2].addr)],
    );
    p.affinity = affinity;
    (start(listener(Some("app"), vec![]), vec![p]).await, bes)
}

fn cookie_of(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string())
}

async fn get(h: &Harness, cookie: Option<&str>) -> (String, Option<String>) {
    let mut req = client().get(h.url("/"));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let res = req.send().await.unwrap();
    let set = cookie_of(&res);
    (res.text().await.unwrap(), set)
}

fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn a_cookie_pins_the_user_and_is_replaced_when_the_server_goes_down() {
    let (h, _bes) = three(config::Affinity::Cookie {
        name: "SYD_SRV".into(),
        ttl: Some(Duration::from_secs(3600)),
    })
    .await;
    let (first, set) = get(&h, None).await;
    let set = set.expect("a new user gets a cookie");
    assert!(set.starts_with("SYD_SRV="), "{set}");
    assert!(
        set.ends_with("; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600"),
        "{set}"
    );
    assert!(!set.contains("127.0.0.1"));
    let cookie = pair(&set);
    for _ in 0..10 {
        let (server, set) = get(&h, Some(&format!("x=1; {cookie}"))).await;
        assert_eq!(server, first);
        assert_eq!(set, None, "a valid cookie is not set again");
    }

    h.pool("app")
        .set_health(&first, false, clock::now())
        .unwrap();
    let (second, set) = get(&h, Some(&cookie)).await;
    assert_ne!(second, first, "re-pinned away from a down server");
    let new_cookie = pair(&set.expect("the cookie is replaced"));
    assert_ne!(new_cookie, cookie);
    for _ in 0..5 {
        assert_eq!(get(&h, Some(&new_cookie)).await.0, second);
    }

    let (_, set) = get(&h, Some("SYD_SRV=garbage")).await;
    assert!(set.is_some(), "an unknown token gets a fresh cookie");
    h.stop().await;
}

#[tokio::test]
async fn a_draining_server_keeps_its_sticky_users_and_gets_no_new_ones() {
    let (h, _bes) = three(config::Affinity::Cookie {
        name: "SYD_SRV".into(),
        ttl: None,
    })
    .await;
    let (pinned, set) = get(&h, None).await;
    let set = set.unwrap();
    assert!(!set.contains("Max-Age"), "no ttl = session cookie: {set}");
    let cookie = pair(&set);
    h.pool("app")
        .set_admin(&pinned, AdminState::Draining)
        .unwrap();
    for _ in 0..5 {
        assert_eq!(get(&h, Some(&cookie)).await.0, pinned);
    }
    for _ in 0..12 {
        let (server, set) = get(&h, None).await;
        assert_ne!(server, pinned, "no new users on a draining server");
        assert!(set.is_some());
    }
    h.stop().await;
}

#[tokio::test]
async fn source_ip_affinity_keeps_a_client_on_one_server() {
    let (h, _bes) = three(config::Affinity::SourceIp).await;
    let mut seen = HashSet::new();
    for _ in 0..12 {
        let (server, set) = get(&h, None).await;
        assert_eq!(set, None);
        seen.insert(server);
    }
    assert_eq!(seen.len(), 1, "{seen:?}");
    h.stop().await;
}

#[tokio::test]
async fn header_affinity_maps_each_value_to_one_server() {
    let (h, _bes) = three(config::Affinity::Header {
        name: "x-user-id".into(),
    })
    .await;
    let mut spread = HashSet::new();
    for user in 0..30 {
        let mut servers = HashSet::new();
        for _ in 0..3 {
            let res = client()
                .get(h.url("/"))
                .header("x-user-id", user.to_string())
                .send()
                .await
                .unwrap();
            servers.insert(res.text().await.unwrap());
        }
        assert_eq!(servers.len(), 1, "user {user}: {servers:?}");
        spread.extend(servers);
    }
    assert_eq!(spread.len(), 3, "30 users use all three servers");
    h.stop().await;
}
