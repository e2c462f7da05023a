//! Header rewriting at the proxy boundary: hop-by-hop removal and forwarding headers.
//!
//! Hop-by-hop headers describe one connection, not the message, so they never cross
//! the proxy: `Connection` and every header it names, `Keep-Alive`, `Proxy-Connection`,
//! `TE` (except `trailers`, which gRPC needs end to end), `Trailer`,
//! `Transfer-Encoding` (hyper re-frames every body) and `Upgrade` (kept, with
//! `Connection: upgrade`, only when the request is being tunnelled).

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Remove hop-by-hop headers; with `upgrade`, keep `Upgrade` and send `Connection: upgrade`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    // Most messages carry none of these: one pass over the names, instead of a hashed
    // lookup per hop-by-hop name.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for name in named {
            if upgrade && name == header::UPGRADE {
                continue;
            }
            if name == header::TE {
                continue; // handled below, so `TE: trailers` survives
            }
            headers.remove(&name);
        }
        headers.remove(header::CONNECTION);
    }
    headers.remove(&KEEP_ALIVE);
    headers.remove(&PROXY_CONNECTION);
    headers.remove(header::TRAILER);
    headers.remove(header::TRANSFER_ENCODING);
    if headers.contains_key(header::TE) {
        let trailers = headers
            .get_all(header::TE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| {
                t.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("trailers")
            });
        headers.remove(header::TE);
        if trailers {
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
    }
    if upgrade && headers.contains_key(header::UPGRADE) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TE
        || name == header::TRAILER
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
}

/// The client's address, formatted once per connection for the forwarding headers.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub addr: SocketAddr,
    /// `X-Forwarded-For`'s element (the IP).
    ip: HeaderValue,
    /// `Forwarded`'s `for=` element, quoted (IP and port).
    node: Box<str>,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Self {
        let ip = addr.ip().to_string();
        Peer {
            addr,
            ip: HeaderValue::from_maybe_shared(bytes::Bytes::from(ip))
                .unwrap_or(HeaderValue::from_static("unknown")),
            node: format!("for=\"{addr}\"").into(),
        }
    }
}

/// Add `X-Forwarded-For` (appended), `X-Forwarded-Proto`, `X-Forwarded-Host` (set) and
/// `Forwarded` (RFC 7239, appended).
pub(crate) fn add_forwarding(
    headers: &mut HeaderMap,
    peer: &Peer,
    proto: &'static str,
    host: Option<&str>,
) {
    if headers.contains_key(&X_FORWARDED_FOR) {
        let mut xff = String::with_capacity(64);
        for v in headers.get_all(&X_FORWARDED_FOR) {
            if let Ok(v) = v.to_str() {
                xff.push_str(v);
                xff.push_str(", ");
            }
        }
        xff.push_str(peer.ip.to_str().unwrap_or(""));
        set(headers, &X_FORWARDED_FOR, xff);
    } else {
        headers.insert(&X_FORWARDED_FOR, peer.ip.clone());
    }
    headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    match host.and_then(|h| HeaderValue::from_str(h).ok()) {
        Some(h) => {
            headers.insert(&X_FORWARDED_HOST, h);
        }
        None => {
            headers.remove(&X_FORWARDED_HOST);
        }
    }

    let mut fwd = String::with_capacity(96);
    for v in headers.get_all(header::FORWARDED) {
        if let Ok(v) = v.to_str() {
            fwd.push_str(v);
            fwd.push_str(", ");
        }
    }
    fwd.push_str(&peer.node);
    fwd.push_str(";proto=");
    fwd.push_str(proto);
    if let Some(h) = host.filter(|h| h.bytes().all(|b| b.is_ascii_graphic() && b != b'"')) {
        fwd.push_str(";host=\"");
        fwd.push_str(h);
        fwd.push('"');
    }
    set(headers, &header::FORWARDED, fwd);
}

fn set(headers: &mut HeaderMap, name: &HeaderName, value: String) {
    // Takes the string's buffer as is: no copy.
    if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(value)) {
        headers.insert(name.clone(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_headers_and_those_named_in_connection_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("proxy-connection", "keep-alive"),
            ("te", "gzip"),
            ("trailer", "x-t"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-keep", "yes"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h["x-keep"], "yes");
    }

    #[test]
    fn te_trailers_survives_for_grpc() {
        let mut h = map(&[("te", "gzip, trailers")]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h["te"], "trailers");
    }

    #[test]
    fn upgrade_is_kept_when_tunnelling() {
        let mut h = map(&[
            ("connection", "Upgrade, x-a"),
            ("upgrade", "websocket"),
            ("x-a", "1"),
        ]);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
        assert!(!h.contains_key("x-a"));
    }

    #[test]
    fn forwarding_headers_append_and_quote_ipv6() {
        let mut h = map(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ]);
        add_forwarding(
            &mut h,
            &Peer::new("[::1]:4711".parse().unwrap()),
            "https",
            Some("a.test"),
        );
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, ::1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "a.test");
        assert_eq!(
            h["forwarded"],
            "for=203.0.113.9, for=\"[::1]:4711\";proto=https;host=\"a.test\""
        );
        let mut h = HeaderMap::new();
        add_forwarding(
            &mut h,
            &Peer::new("192.0.2.1:80".parse().unwrap()),
            "http",
            None,
        );
        assert_eq!(h["x-forwarded-for"], "192.0.2.1");
        assert_eq!(h["forwarded"], "for=\"192.0.2.1:80\";proto=http");
        assert!(!h.contains_key("x-forwarded-host"));
    }
}
