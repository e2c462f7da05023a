//! Request routing for the admin API: path → route, method check, authorization,
//! body parsing, then one call into [`Control`](crate::Control).
//!
//! Order of checks, so answers are predictable: unknown path `404`, wrong method `405`,
//! missing or wrong token `401` (mutating calls only), foreign `Origin` `403`, bad body
//! `400`/`413`, then whatever the runtime says (`404` unknown pool/server, `400`, `500`).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use serde_json::json;
use tracing::{warn, Instrument};

use crate::auth;
use crate::handlers;
use crate::response::{self, Body};
use crate::server::Shared;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Livez,
    Readyz,
    Metrics,
    State,
    Connections,
    ServerAction {
        pool: &'a str,
        server: &'a str,
        action: Action,
    },
    Weight {
        pool: &'a str,
        server: &'a str,
    },
    Algorithm {
        pool: &'a str,
    },
    Reload,
    Asset(&'static crate::dashboard::Asset),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Drain,
    Enable,
    Disable,
}

/// Answers one admin request.
pub(crate) async fn handle<B>(shared: &Shared, req: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
    let span =
        tracing::debug_span!("admin_request", id, method = %req.method(), path = req.uri().path());
    let response = dispatch(shared, req).instrument(span.clone()).await;
    tracing::debug!(parent: &span, status = response.status().as_u16(), "admin request answered");
    response
}

async fn dispatch<B>(shared: &Shared, req: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let path = req.uri().path().to_owned();
    let Some(route) = parse(&path) else {
        return response::error(StatusCode::NOT_FOUND, format!("no such path: {path}"));
    };
    let allowed = route.method();
    let method = req.method().clone();
    let is_get = allowed == Method::GET && (method == Method::GET || method == Method::HEAD);
    if method != allowed && !is_get {
        let allow = if allowed == Method::GET {
            "GET, HEAD"
        } else if allowed == Method::POST {
            "POST"
        } else {
            "PUT"
        };
        let mut resp = response::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {path}; use {allow}"),
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        return resp;
    }
    if allowed != Method::GET {
        if let Some(denied) = auth::authorize(
            shared,
            req.headers(),
            req.uri().authority().map(|a| a.as_str()),
        ) {
            warn!(%method, %path, status = denied.status().as_u16(), "admin API refused a mutating call");
            return denied;
        }
    }
    match route {
        Route::Livez => response::json(StatusCode::OK, &json!({"status": "live"})),
        Route::Readyz => handlers::readyz(shared),
        Route::Metrics => handlers::metrics(shared),
        Route::State => handlers::state(shared),
        Route::Connections => handlers::connections(shared, req.uri().query()),
        Route::Asset(asset) => crate::dashboard::respond(asset),
        Route::ServerAction {
            pool,
            server,
            action,
        } => handlers::server_action(shared, pool, server, action),
        Route::Weight { pool, server } => {
            match handlers::read_json::<handlers::WeightBody, B>(req.into_body()).await {
                Ok(body) => handlers::set_weight(shared, pool, server, body.weight),
                Err(resp) => resp,
            }
        }
        Route::Algorithm { pool } => {
            match handlers::read_json::<handlers::AlgorithmBody, B>(req.into_body()).await {
                Ok(body) => handlers::set_algorithm(shared, pool, &body.algorithm),
                Err(resp) => resp,
            }
        }
        Route::Reload => handlers::reload(shared).await,
    }
}

fn parse(path: &str) -> Option<Route<'_>> {
    if let Some(asset) = crate::dashboard::find(path) {
        return Some(Route::Asset(asset));
    }
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    let route = match segments.as_slice() {
        ["livez"] => Route::Livez,
        ["readyz"] => Route::Readyz,
        ["metrics"] => Route::Metrics,
        ["api", "v1", "state"] => Route::State,
        ["api", "v1", "connections"] => Route::Connections,
        ["api", "v1", "reload"] => Route::Reload,
        ["api", "v1", "pools", pool, "algorithm"] => Route::Algorithm { pool },
        ["api", "v1", "pools", pool, "servers", server, "weight"] => Route::Weight { pool, server },
        ["api", "v1", "pools", pool, "servers", server, action] => {
            let action = match *action {
                "drain" => Action::Drain,
                "enable" => Action::Enable,
                "disable" => Action::Disable,
                _ => return None,
            };
            Route::ServerAction {
                pool,
                server,
                action,
            }
        }
        _ => return None,
    };
    Some(route)
}

// === impl Route ===

impl Route<'_> {
    fn method(&self) -> Method {
        match self {
            Route::Livez
            | Route::Readyz
            | Route::Metrics
            | Route::State
            | Route::Connections
            | Route::Asset(_) => Method::GET,
            Route::ServerAction { .. } | Route::Reload => Method::POST,
            Route::Weight { .. } | Route::Algorithm { .. } => Method::PUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{Control, ControlError, ReloadFuture, ReloadSummary};
    use crate::state::{PoolDoc, ServerDoc, ServerStatus, StateDoc};
    use http_body_util::{BodyExt, Full};
    use proptest::prelude::*;
    use std::sync::{Arc, Mutex};

    /// Pool `app` with servers `a` and `b`; actions change them.
    struct TinyControl(Mutex<StateDoc>);

    impl TinyControl {
        fn new() -> Self {
            let server = |name: &str| ServerDoc {
                name: name.into(),
                weight: 1,
                ..Default::default()
            };
            Self(Mutex::new(StateDoc {
                pools: vec![PoolDoc {
                    name: "app".into(),
                    algorithm: "random".into(),
                    panic: false,
                    check: "tcp".into(),
                    servers: vec![server("a"), server("b")],
                }],
                ..Default::default()
            }))
        }

        fn apply(
            &self,
            pool: &str,
            server: &str,
            f: impl FnOnce(&mut ServerDoc),
        ) -> Result<(), ControlError> {
            let mut doc = self.0.lock().unwrap();
            let p = doc
                .pools
                .iter_mut()
                .find(|p| p.name == pool)
                .ok_or_else(|| ControlError::unknown_pool(pool))?;
            let s = p
                .servers
                .iter_mut()
                .find(|s| s.name == server)
                .ok_or_else(|| ControlError::unknown_server(pool, server))?;
            f(s);
            Ok(())
        }
    }

    impl Control for TinyControl {
        fn state(&self) -> StateDoc {
            self.0.lock().unwrap().clone()
        }
        fn drain(&self, pool: &str, server: &str) -> Result<(), ControlError> {
            self.apply(pool, server, |s| s.state = ServerStatus::Draining)
        }
        fn enable(&self, pool: &str, server: &str) -> Result<(), ControlError> {
            self.apply(pool, server, |s| s.state = ServerStatus::Up)
        }
        fn disable(&self, pool: &str, server: &str) -> Result<(), ControlError> {
            self.apply(pool, server, |s| s.state = ServerStatus::Disabled)
        }
        fn set_weight(&self, pool: &str, server: &str, weight: u32) -> Result<(), ControlError> {
            self.apply(pool, server, |s| s.weight = weight)
        }
        fn set_algorithm(&self, pool: &str, algorithm: &str) -> Result<(), ControlError> {
            if pool != "app" {
                return Err(ControlError::unknown_pool(pool));
            }
            if algorithm != "maglev" {
                return Err(ControlError::BadRequest(format!(
                    "unknown algorithm {algorithm}"
                )));
            }
            Ok(())
        }
        fn reload(&self) -> ReloadFuture {
            Box::pin(async { Ok(ReloadSummary::default()) })
        }
        fn ready(&self) -> bool {
            true
        }
    }

    fn any_path() -> impl Strategy<Value = String> {
        let segment = prop_oneof![
            Just("api".to_owned()),
            Just("v1".to_owned()),
            Just("pools".to_owned()),
            Just("app".to_owned()),
            Just("servers".to_owned()),
            Just("a".to_owned()),
            Just("drain".to_owned()),
            Just("weight".to_owned()),
            Just("algorithm".to_owned()),
            Just("state".to_owned()),
            Just("reload".to_owned()),
            Just("".to_owned()),
            Just("livez".to_owned()),
            Just("assets".to_owned()),
            "[a-z%.~-]{1,8}",
        ];
        proptest::collection::vec(segment, 0..8)
            .prop_map(|segments| format!("/{}", segments.join("/")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn no_request_panics_and_every_error_is_json(
            method in prop_oneof![Just(Method::GET), Just(Method::POST), Just(Method::PUT), Just(Method::DELETE), Just(Method::PATCH)],
            path in any_path(),
            body in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                Just(br#"{"weight": 5}"#.to_vec()),
                Just(br#"{"weight": 5000}"#.to_vec()),
                Just(br#"{"algorithm": "maglev"}"#.to_vec()),
            ],
            token in proptest::option::of(prop_oneof![Just("t0k"), Just("wrong")]),
        ) {
            let shared = Shared { control: Arc::new(TinyControl::new()), token: Some("t0k".into()), started: std::time::SystemTime::now() };
            let mut req = Request::builder().method(method.clone()).uri(&path);
            if let Some(token) = token {
                req = req.header("authorization", format!("Bearer {token}"));
            }
            let req = req.body(Full::new(Bytes::from(body))).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let resp = rt.block_on(handle(&shared, req));
            let status = resp.status().as_u16();
            prop_assert!([200, 400, 401, 403, 404, 405, 413].contains(&status), "{} {} gave {}", method, path, status);
            if status >= 400 {
                let bytes = rt.block_on(resp.into_body().collect()).unwrap().to_bytes();
                let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                prop_assert!(value["error"].is_string(), "{} {} gave {}", method, path, value);
            }
            if (method == Method::POST || method == Method::PUT) && token != Some("t0k") {
                prop_assert!(status != 200, "{} {} succeeded without the token", method, path);
            }
        }
    }

    #[test]
    fn parse_routes() {
        assert_eq!(parse("/livez"), Some(Route::Livez));
        assert_eq!(
            parse("/api/v1/pools/app/servers/a/drain"),
            Some(Route::ServerAction {
                pool: "app",
                server: "a",
                action: Action::Drain
            })
        );
        assert_eq!(
            parse("/api/v1/pools/app/servers/a/weight"),
            Some(Route::Weight {
                pool: "app",
                server: "a"
            })
        );
        assert_eq!(
            parse("/api/v1/pools/app/algorithm"),
            Some(Route::Algorithm { pool: "app" })
        );
        assert_eq!(parse("/api/v1/pools/app/servers/a/explode"), None);
        assert_eq!(parse("/api/v1/pools//servers/a/drain"), None);
        assert_eq!(parse("/livez/"), None);
        assert_eq!(parse("livez"), None);
        assert!(matches!(parse("/"), Some(Route::Asset(_))));
    }
}
