//! The routing matrix: every matcher, first match wins, default pool, actions, rewrites.

mod common;

use common::*;
use regex::Regex;
use switchyard_config::{HostMatch, Matchers, PathMatch, RouteAction};
use switchyard_testkit::backends;

fn m() -> Matchers {
    Matchers::default()
}

async fn routed() -> (Harness, Vec<switchyard_testkit::Backend>) {
    let names = [
        "exact", "wild", "path", "prefix", "regex", "method", "header", "cookie", "query", "ctype",
        "first", "default",
    ];
    let mut bes = Vec::new();
    let mut pools = Vec::new();
    for n in names {
        let be = backends::named(n).await;
        pools.push(pool(n, "round_robin", &[(n, be.addr)]));
        bes.push(be);
    }
    let routes = vec![
        route(
            Matchers {
                host: HostMatch::parse("api.example.com"),
                ..m()
            },
            forward("exact"),
        ),
        route(
            Matchers {
                host: HostMatch::parse("*.example.com"),
                ..m()
            },
            forward("wild"),
        ),
        route(
            Matchers {
                path: Some(PathMatch::Exact("/exact".into())),
                ..m()
            },
            forward("path"),
        ),
        route(
            Matchers {
                path: Some(PathMatch::Prefix("/pre".into())),
                ..m()
            },
            forward("prefix"),
        ),
        route(
            Matchers {
                path: Some(PathMatch::Regex(Regex::new("^/u/[0-9]+$").unwrap())),
                ..m()
            },
            forward("regex"),
        ),
        route(
            Matchers {
                methods: vec!["DELETE".into()],
                ..m()
            },
            forward("method"),
        ),
        route(
            Matchers {
                headers: vec![("x-canary".into(), "1".into())],
                ..m()
            },
            forward("header"),
        ),
        route(
            Matchers {
                cookies: vec![("variant".into(), "B".into())],
                ..m()
            },
            forward("cookie"),
        ),
        route(
            Matchers {
                query: vec![("variant".into(), "B".into())],
                ..m()
            },
            forward("query"),
        ),
        route(
            Matchers {
                content_type: Some("application/json".into()),
                ..m()
            },
            forward("ctype"),
        ),
        route(
            Matchers {
                path: Some(PathMatch::Prefix("/both".into())),
                ..m()
            },
            forward("first"),
        ),
        route(
            Matchers {
                path: Some(PathMatch::Prefix("/both".into())),
                ..m()
            },
            forward("default"),
        ),
        route(
            Matchers {
                path: Some(PathMatch::Exact("/old".into())),
                ..m()
            },
            RouteAction::Redirect {
                template: "https://{host}/new{path}".into(),
                status: 308,
            },
        ),
        route(
            Matchers {
                path: Some(PathMatch::Exact("/moved".into())),
                ..m()
            },
            RouteAction::Redirect {
                template: "/there?{query}".into(),
                status: 301,
            },
        ),
        route(
            Matchers {
                path: Some(PathMatch::Prefix("/admin".into())),
                ..m()
            },
            RouteAction::Respond {
                status: 403,
                body: "forbidden".into(),
            },
        ),
    ];
    let h = start(listener(Some("default"), routes), pools).await;
    (h, bes)
}

async fn who(req: reqwest::RequestBuilder) -> String {
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.headers()["x-server"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn every_matcher_routes_to_its_pool_and_first_match_wins() {
    let (h, _bes) = routed().await;
    let c = client();
    let u = |p: &str| h.url(p);
    assert_eq!(
        who(c.get(u("/")).header("host", "api.example.com")).await,
        "exact"
    );
    assert_eq!(
        who(c.get(u("/")).header("host", "API.Example.COM:8080")).await,
        "exact"
    );
    assert_eq!(
        who(c.get(u("/")).header("host", "www.example.com")).await,
        "wild"
    );
    assert_eq!(
        who(c.get(u("/")).header("host", "a.b.example.com.")).await,
        "wild"
    );
    assert_eq!(
        who(c.get(u("/")).header("host", "example.com")).await,
        "default"
    );
    assert_eq!(who(c.get(u("/exact"))).await, "path");
    assert_eq!(who(c.get(u("/exact/no"))).await, "default");
    assert_eq!(who(c.get(u("/prefix/x"))).await, "prefix");
    assert_eq!(who(c.get(u("/u/42"))).await, "regex");
    assert_eq!(who(c.get(u("/u/4x"))).await, "default");
    assert_eq!(who(c.delete(u("/x"))).await, "method");
    assert_eq!(who(c.get(u("/x")).header("x-canary", "1")).await, "header");
    assert_eq!(who(c.get(u("/x")).header("x-canary", "2")).await, "default");
    assert_eq!(
        who(c.get(u("/x")).header("cookie", "a=1; variant=B")).await,
        "cookie"
    );
    assert_eq!(who(c.get(u("/x?a=1&variant=B"))).await, "query");
    assert_eq!(who(c.get(u("/x?variant=BB"))).await, "default");
    assert_eq!(
        who(c
            .post(u("/x"))
            .header("content-type", "Application/JSON; charset=utf-8"))
        .await,
        "ctype"
    );
    assert_eq!(who(c.get(u("/both"))).await, "first");
    h.stop().await;
}

#[tokio::test]
async fn h2_authority_is_the_host() {
    let (h, _bes) = routed().await;
    let url = format!("http://api.example.com:{}/", h.addr.port());
    let c = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .resolve("api.example.com", h.addr)
        .build()
        .unwrap();
    let res = c.get(url).send().await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.headers()["x-server"], "exact");
    h.stop().await;
}

#[tokio::test]
async fn redirect_and_respond_actions_answer_locally() {
    let (h, _bes) = routed().await;
    let c = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = c
        .get(h.url("/old?q=1"))
        .header("host", "shop.test")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "https://shop.test/new/old?q=1");
    let res = c
        .get(h.url("/old?q=1"))
        .header("host", "[2001:db8::1]:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(
        res.headers()["location"],
        "https://[2001:db8::1]/new/old?q=1",
        "an IPv6 host keeps its brackets"
    );
    let res = c.get(h.url("/moved?a=b")).send().await.unwrap();
    assert_eq!(res.status(), 301);
    assert_eq!(res.headers()["location"], "/there?a=b");
    let res = c.get(h.url("/admin/x")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.text().await.unwrap(), "forbidden");
    h.stop().await;
}

/// An HTTP/1.0 request may come without a Host; a redirect to `https://{host}...` then
/// has no host to name. It was answered `Location: https:///new/old`; now 400.
#[tokio::test]
async fn a_host_redirect_without_a_host_is_400() {
    let (h, _bes) = routed().await;
    let answer = raw(h.addr, b"GET /old HTTP/1.0\r\n\r\n").await;
    assert!(
        answer.starts_with("HTTP/1.0 400") || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    assert!(!answer.contains("https:///"), "{answer}");
    // A redirect whose template does not use the host still works without one.
    let answer = raw(h.addr, b"GET /moved?a=b HTTP/1.0\r\n\r\n").await;
    assert!(answer.contains(" 301 "), "{answer}");
    assert!(answer.contains("location: /there?a=b"), "{answer}");
    h.stop().await;
}

#[tokio::test]
async fn no_route_and_no_default_pool_is_404() {
    let be = backends::named("a").await;
    let routes = vec![route(
        Matchers {
            path: Some(PathMatch::Prefix("/a".into())),
            ..m()
        },
        forward("app"),
    )];
    let h = start(
        listener(None, routes),
        vec![pool("app", "round_robin", &[("a", be.addr)])],
    )
    .await;
    assert_eq!(
        client().get(h.url("/a")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        client().get(h.url("/b")).send().await.unwrap().status(),
        404
    );
    h.stop().await;
}

#[tokio::test]
async fn rewrites_strip_the_prefix_and_set_and_remove_headers() {
    let be = backends::echo().await;
    let routes = vec![route(
        Matchers {
            path: Some(PathMatch::Prefix("/api/v2".into())),
            ..m()
        },
        RouteAction::Forward {
            pool: "app".into(),
            strip_prefix: true,
            set_headers: vec![("x-env".into(), "prod".into())],
            remove_headers: vec!["x-debug".into()],
        },
    )];
    let h = start(
        listener(Some("app"), routes),
        vec![pool("app", "round_robin", &[("a", be.addr)])],
    )
    .await;
    let res = client()
        .get(h.url("/api/v2/users?id=7"))
        .header("x-debug", "1")
        .header("x-env", "dev")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-echo-uri"], "/users?id=7");
    let seen = &be.seen()[0];
    assert_eq!(seen.headers["x-env"], "prod");
    assert!(!seen.headers.contains_key("x-debug"));
    h.stop().await;
}

#[tokio::test]
async fn routes_match_the_path_as_servers_read_it() {
    // nginx and most servers read `/x/../admin`, `//admin`, `/./admin` and `/%61dmin` as
    // `/admin`: a route guarding `/admin` with a 403 let all of them through.
    let be = backends::echo().await;
    let deny = route(
        Matchers {
            path: Some(PathMatch::Prefix("/admin".into())),
            ..m()
        },
        RouteAction::Respond {
            status: 403,
            body: "forbidden".into(),
        },
    );
    let strip = route(
        Matchers {
            path: Some(PathMatch::Prefix("/api".into())),
            ..m()
        },
        RouteAction::Forward {
            pool: "app".into(),
            strip_prefix: true,
            set_headers: vec![],
            remove_headers: vec![],
        },
    );
    let h = start(
        listener(Some("app"), vec![deny, strip]),
        vec![pool("app", "round_robin", &[("a", be.addr)])],
    )
    .await;
    for path in [
        "/x/../admin",
        "//admin",
        "/./admin/",
        "/%61dmin",
        "/%2e%2e/admin",
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let reply = raw(h.addr, req.as_bytes()).await;
        assert!(reply.starts_with("HTTP/1.1 403"), "{path}: {reply}");
    }
    assert!(be.seen().is_empty(), "nothing reached the server");
    // A path the route did not match is sent as it came; a stripped prefix is stripped
    // from the path the route matched.
    for (path, sent) in [("/%61dm/./x", "/%61dm/./x"), ("/z/../api//users", "/users")] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let reply = raw(h.addr, req.as_bytes()).await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{path}: {reply}");
        let seen = be.seen().pop().unwrap();
        assert_eq!(seen.uri, sent, "{path}");
    }
    h.stop().await;
}
