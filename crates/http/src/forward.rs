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

/// An HTTP/2 client may split its cookies over several `cookie` fields (browsers do, for
/// header compression); an HTTP/1.1 server gets them as one line joined with `"; "`
/// (RFC 9113 8.2.3), since many read only the first `Cookie` line.
pub(crate) fn join_cookies(headers: &mut HeaderMap) {
    let mut all = headers.get_all(header::COOKIE).iter();
    if all.next().is_none() || all.next().is_none() {
        return;
    }
    let mut joined = Vec::new();
    for v in headers.get_all(header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(v.as_bytes());
    }
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, v);
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

/// The forwarding fields of one request. [`take_forwarding`] takes what earlier proxies
/// said out of the head; this hop's fields are then written with the client appended:
/// straight into the head by the HTTP/1 engine ([`Forwarding::write`], no header-map
/// inserts and no allocation), or into the header map for hyper ([`Forwarding::insert`]).
/// `X-Forwarded-For` and `Forwarded` (RFC 7239) are appended to, `X-Forwarded-Proto` and
/// `X-Forwarded-Host` are set.
#[derive(Debug)]
pub(crate) struct Forwarding {
    proto: &'static str,
    /// Earlier `X-Forwarded-For` values, joined with ", ".
    prior_for: Option<String>,
    /// Earlier `Forwarded` values, joined with ", ".
    prior_forwarded: Option<String>,
}

/// Remove the forwarding fields from `headers`, keeping the appendable ones' values.
pub(crate) fn take_forwarding(headers: &mut HeaderMap, proto: &'static str) -> Forwarding {
    let mut fwd = Forwarding {
        proto,
        prior_for: None,
        prior_forwarded: None,
    };
    // Most requests come straight from clients: one pass over the names finds none.
    if !headers.keys().any(is_forwarding) {
        return fwd;
    }
    fwd.prior_for = joined(headers, &X_FORWARDED_FOR);
    fwd.prior_forwarded = joined(headers, &header::FORWARDED);
    headers.remove(&X_FORWARDED_FOR);
    headers.remove(&X_FORWARDED_PROTO);
    headers.remove(&X_FORWARDED_HOST);
    headers.remove(header::FORWARDED);
    fwd
}

impl Forwarding {
    /// Write the fields as header lines of an HTTP/1 head.
    pub fn write(&self, out: &mut Vec<u8>, peer: &Peer, host: Option<&str>) {
        out.extend_from_slice(b"x-forwarded-for: ");
        self.for_value(out, peer);
        out.extend_from_slice(b"\r\nx-forwarded-proto: ");
        out.extend_from_slice(self.proto.as_bytes());
        if let Some(h) = host.filter(|h| is_field_value(h)) {
            out.extend_from_slice(b"\r\nx-forwarded-host: ");
            push_host(out, h);
        }
        out.extend_from_slice(b"\r\nforwarded: ");
        self.forwarded_value(out, peer, host);
        out.extend_from_slice(b"\r\n");
    }

    /// Insert the fields into a header map (the hyper path).
    pub fn insert(&self, headers: &mut HeaderMap, peer: &Peer, host: Option<&str>) {
        if self.prior_for.is_some() {
            let mut v = Vec::with_capacity(64);
            self.for_value(&mut v, peer);
            set(headers, &X_FORWARDED_FOR, v);
        } else {
            headers.insert(&X_FORWARDED_FOR, peer.ip.clone());
        }
        headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static(self.proto));
        if let Some(h) = host.filter(|h| is_field_value(h)) {
            let mut v = Vec::with_capacity(h.len() + 2);
            push_host(&mut v, h);
            set(headers, &X_FORWARDED_HOST, v);
        }
        let mut v = Vec::with_capacity(96);
        self.forwarded_value(&mut v, peer, host);
        set(headers, &header::FORWARDED, v);
    }

    fn for_value(&self, out: &mut Vec<u8>, peer: &Peer) {
        if let Some(p) = &self.prior_for {
            out.extend_from_slice(p.as_bytes());
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(peer.ip.as_bytes());
    }

    fn forwarded_value(&self, out: &mut Vec<u8>, peer: &Peer, host: Option<&str>) {
        if let Some(p) = &self.prior_forwarded {
            out.extend_from_slice(p.as_bytes());
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(peer.node.as_bytes());
        out.extend_from_slice(b";proto=");
        out.extend_from_slice(self.proto.as_bytes());
        // RFC 7239 quotes the host; one that cannot be quoted plainly is left out.
        if let Some(h) = host.filter(|h| h.bytes().all(|b| b.is_ascii_graphic() && b != b'"')) {
            out.extend_from_slice(b";host=\"");
            push_host(out, h);
            out.push(b'"');
        }
    }
}

fn is_forwarding(name: &HeaderName) -> bool {
    name == X_FORWARDED_FOR
        || name == X_FORWARDED_PROTO
        || name == X_FORWARDED_HOST
        || name == header::FORWARDED
}

/// The values of `name` that are text, joined with ", "; `None` when there are none.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut out: Option<String> = None;
    for v in headers.get_all(name).iter().filter_map(|v| v.to_str().ok()) {
        match &mut out {
            Some(s) => {
                s.push_str(", ");
                s.push_str(v);
            }
            None => out = Some(v.to_owned()),
        }
    }
    out
}

/// A host as it appears in a `Host` field: an IPv6 literal gets its brackets back
/// (`[2001:db8::1]`, RFC 7239 section 6 and RFC 3986).
fn push_host(out: &mut Vec<u8>, host: &str) {
    if host.contains(':') {
        out.push(b'[');
        out.extend_from_slice(host.as_bytes());
        out.push(b']');
    } else {
        out.extend_from_slice(host.as_bytes());
    }
}

/// Bytes a header value may hold as written by us: visible ASCII, space and tab.
fn is_field_value(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

fn set(headers: &mut HeaderMap, name: &HeaderName, value: Vec<u8>) {
    // Takes the buffer as is: no copy.
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

    fn forward(h: &mut HeaderMap, peer: &str, proto: &'static str, host: Option<&str>) {
        let peer = Peer::new(peer.parse().unwrap());
        take_forwarding(h, proto).insert(h, &peer, host);
    }

    #[test]
    fn forwarding_headers_append_and_quote_ipv6() {
        let mut h = map(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
            ("x-forwarded-proto", "gopher"),
        ]);
        forward(&mut h, "[::1]:4711", "https", Some("a.test"));
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, ::1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h.get_all("x-forwarded-proto").iter().count(), 1);
        assert_eq!(h["x-forwarded-host"], "a.test");
        assert_eq!(
            h["forwarded"],
            "for=203.0.113.9, for=\"[::1]:4711\";proto=https;host=\"a.test\""
        );
        let mut h = map(&[("x-forwarded-host", "spoofed.test")]);
        forward(&mut h, "192.0.2.1:80", "http", None);
        assert_eq!(h["x-forwarded-for"], "192.0.2.1");
        assert_eq!(h["forwarded"], "for=\"192.0.2.1:80\";proto=http");
        assert!(!h.contains_key("x-forwarded-host"));
    }

    #[test]
    fn written_fields_match_the_inserted_ones() {
        let pairs = [
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=198.51.100.7"),
            ("x-forwarded-host", "old.test"),
        ];
        let peer = Peer::new("192.0.2.1:5000".parse().unwrap());
        let mut inserted = map(&pairs);
        take_forwarding(&mut inserted, "https").insert(&mut inserted, &peer, Some("a.test"));
        let mut written = map(&pairs);
        let mut out = Vec::new();
        take_forwarding(&mut written, "https").write(&mut out, &peer, Some("a.test"));
        assert!(
            written.is_empty(),
            "earlier fields are taken out: {written:?}"
        );
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<(String, String)> = text
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(": ").unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        assert_eq!(lines.len(), inserted.len());
        for (k, v) in &lines {
            assert_eq!(inserted[k.as_str()], v.as_str(), "{k}");
        }
        assert_eq!(
            inserted["x-forwarded-for"],
            "198.51.100.7, 203.0.113.9, 192.0.2.1"
        );
    }
}
