//! Who may change things: the bearer token check for mutating calls and the
//! cross-origin guard.
//!
//! The token is compared in constant time so its bytes cannot be learnt from response
//! timing. The `Origin` check stops a web page from another site, open in the
//! operator's browser, from draining servers on an admin API left without a token
//! (a bodiless `POST` is a "simple" cross-origin request that browsers send unasked).

use http::{header, HeaderMap, HeaderValue, Response, StatusCode};

use crate::response::{self, Body};
use crate::server::Shared;

/// `None` when the call may proceed, else the refusal.
///
/// `authority` is the request's target host (HTTP/2 carries it in `:authority`, not in a
/// `Host` header); the `Host` header wins when present.
pub(crate) fn authorize(
    shared: &Shared,
    headers: &HeaderMap,
    authority: Option<&str>,
) -> Option<Response<Body>> {
    if let Some(token) = &shared.token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        let ok = presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes()));
        if !ok {
            let message = if presented.is_some() {
                "the bearer token is not the admin token"
            } else {
                "this call needs `Authorization: Bearer TOKEN` (admin.token)"
            };
            let mut resp = response::error(StatusCode::UNAUTHORIZED, message);
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return Some(resp);
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or(authority)
            .unwrap_or("");
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        // `null` is the opaque origin of sandboxed frames and data: pages, whatever
        // site they come from: never this one.
        if origin == "null" || !origin_host.eq_ignore_ascii_case(host) {
            return Some(response::error(
                StatusCode::FORBIDDEN,
                format!("cross-origin call from {origin} refused"),
            ));
        }
        // DNS rebinding: a page of a site whose name now resolves to this address is
        // same-origin for the browser. Without a token, a page may only act when it
        // was opened by address or `localhost`, names no one else's DNS can point here.
        if shared.token.is_none() && !address_or_localhost(origin_host) {
            return Some(response::error(
                StatusCode::FORBIDDEN,
                format!(
                    "a page opened as {origin} may change servers only when admin.token is \
                     set (open the dashboard by IP address or localhost, or set admin.token)"
                ),
            ));
        }
    }
    None
}

/// True when `host_port` (an `Origin`'s or `Host`'s `HOST[:PORT]`) names an IP address
/// or `localhost` (or a name under `.localhost`, which browsers resolve themselves).
fn address_or_localhost(host_port: &str) -> bool {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest
            .split_once(']')
            .is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok());
    }
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    let host = host.to_ascii_lowercase();
    host.parse::<std::net::Ipv4Addr>().is_ok()
        || host == "localhost"
        || host.ends_with(".localhost")
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_localhost_are_told_from_names() {
        for ok in [
            "127.0.0.1:9900",
            "10.0.0.5",
            "[::1]:9900",
            "[fe80::1]",
            "localhost:9900",
            "LOCALHOST",
            "dash.localhost:9900",
        ] {
            assert!(address_or_localhost(ok), "{ok}");
        }
        for name in [
            "evil.example:9900",
            "127.0.0.1.nip.io:9900",
            "localhost.evil.example",
            "[::1",
            "",
        ] {
            assert!(!address_or_localhost(name), "{name}");
        }
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(constant_time_eq(b"", b""));
    }
}
