//! What each admin route does once routing, method and authorization passed: read
//! the body, call the runtime's [`Control`](crate::Control), shape the answer.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};

use crate::control::ControlError;
use crate::metrics::{family, MetricKind};
use crate::response::{self, Body};
use crate::routes::{Action, BoxError};
use crate::server::Shared;

/// Largest request body accepted.
pub(crate) const MAX_BODY: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WeightBody {
    pub(crate) weight: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlgorithmBody {
    pub(crate) algorithm: String,
}

/// A request body's expected shape, shown in its errors (`expected e.g. {"weight": 5}`).
pub(crate) trait Example {
    const EXAMPLE: &'static str;
}

impl Example for WeightBody {
    const EXAMPLE: &'static str = r#"{"weight": 5} (a whole number 1..=1000)"#;
}

impl Example for AlgorithmBody {
    const EXAMPLE: &'static str = r#"{"algorithm": "least_connections"}"#;
}

pub(crate) async fn read_json<T: DeserializeOwned + Example, B>(
    body: B,
) -> Result<T, Response<Body>>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let too_large = || {
        response::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is over {} KiB", MAX_BODY / 1024),
        )
    };
    // A declared Content-Length over the limit is refused before waiting for the body.
    if body.size_hint().lower() > MAX_BODY as u64 {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(
        crate::server::BODY_READ_TIMEOUT,
        Limited::new(body, MAX_BODY).collect(),
    )
    .await
    .map_err(|_| {
        response::error(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body took more than {} s to arrive",
                crate::server::BODY_READ_TIMEOUT.as_secs()
            ),
        )
    })?;
    let bytes = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(err) => {
            return Err(response::error(
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {err}"),
            ))
        }
    };
    // serde's words for Rust types ("expected i64") mean nothing to an operator: say
    // what the body should look like instead.
    let bad = |err: serde_json::Error| {
        let err = err
            .to_string()
            .replace("expected i64", "expected a whole number");
        response::error(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON body: {err}; expected e.g. {}", T::EXAMPLE),
        )
    };
    // Bodies are JSON objects; serde would also accept a struct written as an array.
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(bad)?;
    T::deserialize(serde_json::Value::Object(object)).map_err(bad)
}

pub(crate) fn readyz(shared: &Shared) -> Response<Body> {
    if shared.control.ready() {
        response::json(StatusCode::OK, &json!({"status": "ready"}))
    } else {
        response::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "not ready"}),
        )
    }
}

pub(crate) fn metrics(shared: &Shared) -> Response<Body> {
    let mut out = String::with_capacity(16 * 1024);
    family(
        &mut out,
        "switchyard_build_info",
        MetricKind::Gauge,
        "switchyard's version (always 1).",
    )
    .sample(&[("version", crate::VERSION)], 1u64);
    family(
        &mut out,
        "switchyard_ready",
        MetricKind::Gauge,
        "1 while switchyard is ready to serve (what /readyz answers).",
    )
    .sample(&[], shared.control.ready());
    let started = shared
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    family(
        &mut out,
        "switchyard_admin_start_time_seconds",
        MetricKind::Gauge,
        "When the admin server started, in unix seconds.",
    )
    .sample(&[], started);
    shared.control.render_metrics(&mut out);
    response::with_type(
        StatusCode::OK,
        crate::metrics::CONTENT_TYPE,
        Bytes::from(out),
    )
}

pub(crate) fn state(shared: &Shared) -> Response<Body> {
    let mut doc = shared.control.state();
    if doc.version.is_empty() {
        doc.version = crate::VERSION.to_owned();
    }
    if doc.generated_at == 0 {
        doc.generated_at = crate::state::unix_ms(std::time::SystemTime::now());
    }
    response::json(StatusCode::OK, &doc)
}

/// Largest page of the connection table one call returns.
pub(crate) const MAX_CONNECTIONS_PAGE: usize = 1000;

/// `GET /api/v1/connections?offset=N&limit=M` (default 0 and 100, limit at most 1000).
pub(crate) fn connections(shared: &Shared, query: Option<&str>) -> Response<Body> {
    let mut offset = 0usize;
    let mut limit = 100usize;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let parsed = value.parse::<usize>();
        match (key, parsed) {
            ("offset", Ok(n)) => offset = n,
            ("limit", Ok(n)) if (1..=MAX_CONNECTIONS_PAGE).contains(&n) => limit = n,
            ("offset" | "limit", _) => {
                return response::error(
                    StatusCode::BAD_REQUEST,
                    format!("{key}={value:?} is not valid; offset is a number, limit is 1..={MAX_CONNECTIONS_PAGE}"),
                )
            }
            _ => {
                return response::error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown query parameter {key:?}; use offset and limit"),
                )
            }
        }
    }
    response::json(StatusCode::OK, &shared.control.connections(offset, limit))
}

fn control_result(result: Result<(), ControlError>, ok: serde_json::Value) -> Response<Body> {
    match result {
        Ok(()) => response::json(StatusCode::OK, &ok),
        Err(err) => response::error(err.status(), err.to_string()),
    }
}

pub(crate) fn server_action(
    shared: &Shared,
    pool: &str,
    server: &str,
    action: Action,
) -> Response<Body> {
    let (result, name) = match action {
        Action::Drain => (shared.control.drain(pool, server), "drain"),
        Action::Enable => (shared.control.enable(pool, server), "enable"),
        Action::Disable => (shared.control.disable(pool, server), "disable"),
    };
    control_result(
        result,
        json!({"pool": pool, "server": server, "action": name}),
    )
}

pub(crate) fn set_weight(shared: &Shared, pool: &str, server: &str, weight: i64) -> Response<Body> {
    let Some(weight) = u32::try_from(weight)
        .ok()
        .filter(|w| (1..=1000).contains(w))
    else {
        return response::error(
            StatusCode::BAD_REQUEST,
            format!("weight must be between 1 and 1000, got {weight}"),
        );
    };
    let result = shared.control.set_weight(pool, server, weight);
    control_result(
        result,
        json!({"pool": pool, "server": server, "weight": weight}),
    )
}

pub(crate) fn set_algorithm(shared: &Shared, pool: &str, algorithm: &str) -> Response<Body> {
    let result = shared.control.set_algorithm(pool, algorithm);
    control_result(result, json!({"pool": pool, "algorithm": algorithm}))
}

pub(crate) async fn reload(shared: &Shared) -> Response<Body> {
    match shared.control.reload().await {
        Ok(summary) => {
            // The runtime logs what changed, in words; this line says who asked.
            info!("configuration reloaded through the admin API");
            response::json(StatusCode::OK, &summary)
        }
        Err(errors) => {
            warn!(
                errors = errors.len(),
                "reload through the admin API refused; the old configuration keeps serving"
            );
            response::json(StatusCode::BAD_REQUEST, &json!({"errors": errors}))
        }
    }
}
