//! `[[listener]]`: where traffic arrives, and for HTTP the routes that pick a pool.

use std::net::SocketAddr;
use std::time::Duration;

use regex::Regex;

use super::tls::TlsTerm;

/// `[[listener]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// `name`, required: `[a-z0-9_-]+`, unique among listeners.
    pub name: String,
    /// `listen`, required: `IP:PORT` (`[::1]:8080` for IPv6).
    pub listen: SocketAddr,
    /// `pool`: the default pool (when no route matches). Required for tcp and udp, and
    /// for tls without routes; http/https need it unless every request is routed.
    /// Always `None` for dns.
    pub pool: Option<String>,
    /// `max_connections`, optional (http, https, tcp, tls): beyond it http connections
    /// wait in the backlog, tcp/tls ones are closed at once.
    pub max_connections: Option<u32>,
    /// `timeouts = { ... }`.
    pub timeouts: Timeouts,
    /// `protocol` and the protocol's own keys.
    pub kind: ListenerKind,
}

/// `listener.timeouts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `connect`, default `"3s"`: connecting to a backend.
    pub connect: Duration,
    /// `request_header`, default `"10s"`: receiving a request's headers (http/https).
    pub request_header: Duration,
    /// `backend`, default `"60s"`: waiting for a backend's response headers.
    pub backend: Duration,
    /// `idle`, default `"60s"`: an idle keep-alive connection, TCP connection or UDP flow
    /// is closed/forgotten after this long.
    pub idle: Duration,
    /// `handshake`, default `"5s"`: TLS ClientHello/handshake or PROXY header wait.
    pub handshake: Duration,
}

/// `listener.protocol` with the keys that only that protocol has.
#[derive(Debug, Clone, PartialEq)]
pub enum ListenerKind {
    /// `protocol = "http"`.
    Http {
        /// `[[listener.route]]`, first match wins.
        routes: Vec<Route>,
    },
    /// `protocol = "https"`: TLS termination, then as http.
    Https {
        /// `[[listener.route]]`, first match wins.
        routes: Vec<Route>,
        /// `[listener.tls]`, required.
        tls: TlsTerm,
    },
    /// `protocol = "tcp"`: one backend per connection.
    Tcp {
        /// `proxy_protocol`, default `"off"`: send a PROXY header to the backend.
        proxy_protocol: ProxyProtocol,
        /// `accept_proxy_protocol`, default false: expect a PROXY header (v1 or v2) from
        /// the client and use the address in it.
        accept_proxy_protocol: bool,
        /// `splice`, default true: bulk transfers move through `splice(2)` on Linux
        /// (false: a userspace copy throughout).
        splice: bool,
    },
    /// `protocol = "udp"`: one backend per client flow (idle: `timeouts.idle`).
    Udp {
        /// `max_flows`, default 65536: flows tracked at once; new flows beyond are dropped.
        max_flows: usize,
    },
    /// `protocol = "tls"`: passthrough routed on the ClientHello's SNI.
    Tls {
        /// `[[listener.route]]` with `sni` and `pool`, first match wins.
        sni_routes: Vec<SniRoute>,
        /// `proxy_protocol`, default `"off"`.
        proxy_protocol: ProxyProtocol,
        /// `accept_proxy_protocol`, default false.
        accept_proxy_protocol: bool,
        /// `splice`, default true.
        splice: bool,
    },
    /// `protocol = "dns"`: authoritative DNS on UDP and TCP for every `[[zone]]`.
    Dns {
        /// `rate_limit`, optional: responses per second per client /24 (IPv6: /56);
        /// beyond it UDP answers are truncated (TC) so real clients retry over TCP.
        rate_limit: Option<u32>,
        /// `max_tcp_connections`, default 1024.
        max_tcp_connections: u32,
    },
}

/// `proxy_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyProtocol {
    /// `"off"` (default).
    #[default]
    Off,
    /// `"v1"`: the text header.
    V1,
    /// `"v2"`: the binary header.
    V2,
}

/// `[[listener.route]]` of an http/https listener.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// What the request must look like; all given matchers must match.
    pub matchers: Matchers,
    /// What to do with a matching request.
    pub action: RouteAction,
}

/// The conditions of a route. Empty = matches everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Matchers {
    /// `host`: exact, or wildcard `"*.example.com"` (lowercase; port ignored).
    pub host: Option<HostMatch>,
    /// `path`, `path_prefix` or `path_regex` (at most one).
    pub path: Option<PathMatch>,
    /// `method = [...]`, uppercase; empty = any.
    pub methods: Vec<String>,
    /// `header = { name = value }`: names lowercase, values exact.
    pub headers: Vec<(String, String)>,
    /// `cookie = { name = value }`.
    pub cookies: Vec<(String, String)>,
    /// `query = { name = value }`.
    pub query: Vec<(String, String)>,
    /// `content_type`: the media type (before any `;`), compared case-insensitively.
    pub content_type: Option<String>,
}

/// A host name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// `"api.example.com"` (stored lowercase).
    Exact(String),
    /// `"*.example.com"`, stored as the suffix `".example.com"`: one or more labels before.
    Wildcard(String),
}

/// A path condition.
#[derive(Debug, Clone)]
pub enum PathMatch {
    /// `path = "/exact"`.
    Exact(String),
    /// `path_prefix = "/api"`: a plain string prefix.
    Prefix(String),
    /// `path_regex = "^/u/[0-9]+$"`: compared by pattern text.
    Regex(Regex),
}

/// What a route does.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteAction {
    /// Forward to a pool (the route's `pool`, else the listener's).
    Forward {
        /// The pool's name (always resolved).
        pool: String,
        /// `strip_prefix`, default false: remove the `path_prefix` before forwarding.
        strip_prefix: bool,
        /// `set_headers = { name = value }`: set (replace) request headers; names lowercase.
        set_headers: Vec<(String, String)>,
        /// `remove_headers = [...]`: remove request headers; names lowercase.
        remove_headers: Vec<String>,
    },
    /// `redirect = "https://{host}{path}"`: placeholders `{scheme}`, `{host}`, `{path}`
    /// (path with query), `{query}`.
    Redirect {
        /// The location template.
        template: String,
        /// `redirect_status`, default 308; one of 301, 302, 303, 307, 308.
        status: u16,
    },
    /// `respond = { status, body }`.
    Respond {
        /// `status`, required: 200..=599 (204, 205 and 304 without a body).
        status: u16,
        /// `body`, default `""`.
        body: String,
    },
}

/// `[[listener.route]]` of a tls (passthrough) listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SniRoute {
    /// `sni`: exact or wildcard server name.
    pub sni: HostMatch,
    /// `pool`.
    pub pool: String,
}

// === impl Listener ===

impl Listener {
    /// The `protocol` value of this listener.
    pub fn protocol(&self) -> &'static str {
        match self.kind {
            ListenerKind::Http { .. } => "http",
            ListenerKind::Https { .. } => "https",
            ListenerKind::Tcp { .. } => "tcp",
            ListenerKind::Udp { .. } => "udp",
            ListenerKind::Tls { .. } => "tls",
            ListenerKind::Dns { .. } => "dns",
        }
    }

    /// Every pool this listener can send traffic to (default pool first), deduplicated.
    pub fn pools(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.pool.iter().map(String::as_str).collect();
        let routed: Vec<&str> = match &self.kind {
            ListenerKind::Http { routes } | ListenerKind::Https { routes, .. } => routes
                .iter()
                .filter_map(|r| match &r.action {
                    RouteAction::Forward { pool, .. } => Some(pool.as_str()),
                    _ => None,
                })
                .collect(),
            ListenerKind::Tls { sni_routes, .. } => {
                sni_routes.iter().map(|r| r.pool.as_str()).collect()
            }
            _ => Vec::new(),
        };
        for p in routed {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }
}

// === impl Timeouts ===

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            request_header: Duration::from_secs(10),
            backend: Duration::from_secs(60),
            idle: Duration::from_secs(60),
            handshake: Duration::from_secs(5),
        }
    }
}

// === impl HostMatch ===

impl HostMatch {
    /// Parse `"api.example.com"` or `"*.example.com"` (lowercased).
    pub fn parse(s: &str) -> Option<HostMatch> {
        let s = s.to_ascii_lowercase();
        let valid = |h: &str| {
            !h.is_empty()
                && h.split('.').all(|l| {
                    !l.is_empty()
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
        };
        match s.strip_prefix("*.") {
            Some(rest) if valid(rest) => Some(HostMatch::Wildcard(format!(".{rest}"))),
            Some(_) => None,
            None if valid(&s) => Some(HostMatch::Exact(s)),
            None => None,
        }
    }

    /// Whether `host` (a Host header or SNI name; any `:port` and trailing dot ignored,
    /// case-insensitive) matches.
    pub fn matches(&self, host: &str) -> bool {
        let host = strip_port(host);
        let host = host.strip_suffix('.').unwrap_or(host);
        match self {
            HostMatch::Exact(h) => host.eq_ignore_ascii_case(h),
            HostMatch::Wildcard(suffix) => {
                host.len() > suffix.len()
                    && host.is_char_boundary(host.len() - suffix.len())
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            }
        }
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

// === impl PathMatch ===

impl PathMatch {
    /// Whether the request path (without query) matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
            PathMatch::Regex(r) => r.is_match(path),
        }
    }
}

impl PartialEq for PathMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (PathMatch::Exact(a), PathMatch::Exact(b)) => a == b,
            (PathMatch::Prefix(a), PathMatch::Prefix(b)) => a == b,
            (PathMatch::Regex(a), PathMatch::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_host_needs_a_label_before_the_suffix() {
        let m = HostMatch::parse("*.Example.com").unwrap();
        assert_eq!(m, HostMatch::Wildcard(".example.com".into()));
        assert!(m.matches("a.example.com"));
        assert!(m.matches("A.B.EXAMPLE.COM:8443"));
        assert!(!m.matches("example.com"));
        assert!(!m.matches("aexample.com"));
    }

    #[test]
    fn exact_host_ignores_port_and_case() {
        let m = HostMatch::parse("api.example.com").unwrap();
        assert!(m.matches("API.example.com:80"));
        assert!(m.matches("api.example.com."));
        assert!(!m.matches("x.api.example.com"));
        assert!(HostMatch::parse("a..b").is_none());
        assert!(HostMatch::parse("*.").is_none());
    }

    #[test]
    fn regex_paths_compare_by_pattern() {
        let a = PathMatch::Regex(Regex::new("^/u/[0-9]+$").unwrap());
        let b = PathMatch::Regex(Regex::new("^/u/[0-9]+$").unwrap());
        assert_eq!(a, b);
        assert!(a.matches("/u/42") && !a.matches("/u/x"));
        assert!(PathMatch::Prefix("/api".into()).matches("/api/v2"));
    }
}
