//! `[[listener]]`: protocol, address, default pool, timeouts and the protocol's own keys.
//!
//! Also checks that no two listeners (nor the admin API) would bind the same port on
//! overlapping addresses with the same transport, and that L4 listeners only use pools
//! whose hash key and affinity they can compute without reading HTTP.

use std::net::SocketAddr;

use crate::error::Ctx;
use crate::model::{Affinity, Listener, ListenerKind, Pool, ProxyProtocol, Timeouts};
use crate::raw::{RawListener, RawTimeouts, Str};

use super::values::{self, Unique};
use super::{not_here, route, tls, Refs};

#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Http,
    Https,
    Tcp,
    Udp,
    Tls,
    Dns,
}

/// Every listener, with unique names and non-conflicting addresses.
pub(crate) fn listeners(
    cx: &mut Ctx,
    raw: &[RawListener],
    refs: &Refs,
    pools: &[Pool],
) -> Vec<Listener> {
    let mut names = Unique::new("listener name");
    let mut bound: Vec<(SocketAddr, Transports, String, std::ops::Range<usize>)> = Vec::new();
    let mut out = Vec::new();
    for l in raw {
        let Some(listener) = listener(cx, l, refs) else {
            continue;
        };
        names.check(cx, &listener.name, l.name.span());
        let transports = Transports::of(&listener.kind);
        for (addr, t, other, first) in &bound {
            if overlaps(*addr, listener.listen) && t.intersects(transports) {
                let first = cx.location(first);
                cx.error(
                    l.listen.span(),
                    format!(
                        "listener \"{}\" listens on {} which listener \"{other}\" already uses (at {first})",
                        listener.name, listener.listen
                    ),
                );
            }
        }
        bound.push((
            listener.listen,
            transports,
            listener.name.clone(),
            l.listen.span(),
        ));
        l4_pool_keys(cx, l, &listener, pools);
        out.push(listener);
    }
    out
}

/// The admin API must not take a listener's TCP port.
pub(crate) fn admin_conflicts(cx: &mut Ctx, admin: SocketAddr, span: &Str, listeners: &[Listener]) {
    for l in listeners {
        if Transports::of(&l.kind).tcp && overlaps(admin, l.listen) {
            cx.error(
                span.span(),
                format!(
                    "admin listen {admin} is already used by listener \"{}\"",
                    l.name
                ),
            );
        }
    }
}

#[derive(Clone, Copy)]
struct Transports {
    tcp: bool,
    udp: bool,
}

impl Transports {
    fn of(kind: &ListenerKind) -> Self {
        match kind {
            ListenerKind::Udp { .. } => Transports {
                tcp: false,
                udp: true,
            },
            ListenerKind::Dns { .. } => Transports {
                tcp: true,
                udp: true,
            },
            _ => Transports {
                tcp: true,
                udp: false,
            },
        }
    }

    fn intersects(self, other: Transports) -> bool {
        (self.tcp && other.tcp) || (self.udp && other.udp)
    }
}

/// Same port, and the same IP or a wildcard of the same family.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && (a.ip() == b.ip()
            || (a.is_ipv4() == b.is_ipv4() && (a.ip().is_unspecified() || b.ip().is_unspecified())))
}

fn listener(cx: &mut Ctx, l: &RawListener, refs: &Refs) -> Option<Listener> {
    let name = values::name(cx, &l.name, "listener");
    let options = [
        ("http", Proto::Http),
        ("https", Proto::Https),
        ("tcp", Proto::Tcp),
        ("udp", Proto::Udp),
        ("tls", Proto::Tls),
        ("dns", Proto::Dns),
    ];
    let proto = values::choice(cx, &l.protocol, "protocol", &options);
    let listen = values::socket_addr(cx, &l.listen, "listen");
    let pool = l
        .pool
        .as_ref()
        .map(|p| refs.pool(cx, p, &format!("listener \"{name}\"")));
    let max_connections = l
        .max_connections
        .as_ref()
        .and_then(|m| values::int_in(cx, m, "max_connections", 1..=10_000_000))
        .map(|n| n as u32);
    let timeouts = l
        .timeouts
        .as_ref()
        .map(|t| timeouts(cx, t))
        .unwrap_or_default();
    let proto = proto?;
    let kind = kind(cx, l, proto, &name, pool.is_some(), refs);
    Some(Listener {
        name,
        listen: listen?,
        pool,
        max_connections,
        timeouts,
        kind,
    })
}

fn kind(
    cx: &mut Ctx,
    l: &RawListener,
    proto: Proto,
    name: &str,
    has_pool: bool,
    refs: &Refs,
) -> ListenerKind {
    let p = l.protocol.get_ref();
    let only = |list: &str| format!("applies only to {list} listeners, not {p}");
    if !matches!(proto, Proto::Tcp | Proto::Tls) {
        not_here(
            cx,
            &l.proxy_protocol,
            "proxy_protocol",
            &only("tcp and tls"),
        );
        not_here(
            cx,
            &l.accept_proxy_protocol,
            "accept_proxy_protocol",
            &only("tcp and tls"),
        );
        not_here(cx, &l.splice, "splice", &only("tcp and tls"));
    }
    if proto != Proto::Udp {
        not_here(cx, &l.max_flows, "max_flows", &only("udp"));
    }
    if let (Some(t), Proto::Tcp | Proto::Tls | Proto::Udp) = (&l.timeouts, proto) {
        // L4 listeners read no request and wait for no response: these bounded nothing.
        let http_only = "applies only to http and https listeners, not";
        let idle = "an L4 connection or flow with no byte either way is closed after timeouts.idle";
        for (v, key) in [
            (&t.request_header, "request_header"),
            (&t.backend, "backend"),
        ] {
            if let Some(v) = v {
                cx.error_hint(v.span(), format!("timeouts.{key} {http_only} {p}"), idle);
            }
        }
        if proto == Proto::Udp {
            for (v, key) in [(&t.connect, "connect"), (&t.handshake, "handshake")] {
                if let Some(v) = v {
                    let why = "a udp listener connects nothing and reads no handshake";
                    cx.error_hint(
                        v.span(),
                        format!("timeouts.{key} does not apply to udp listeners"),
                        why,
                    );
                }
            }
        }
    }
    if let (Some(m), Proto::Udp | Proto::Dns) = (&l.max_connections, proto) {
        // Neither reads it: it used to pass check and bound nothing.
        let hint = if proto == Proto::Udp {
            "use max_flows to bound a udp listener's flows"
        } else {
            "use max_tcp_connections to bound a dns listener's TCP connections"
        };
        let why = only("http, https, tcp and tls");
        cx.error_hint(m.span(), format!("max_connections {why}"), hint);
    }
    if proto != Proto::Dns {
        not_here(cx, &l.rate_limit, "rate_limit", &only("dns"));
        not_here(
            cx,
            &l.max_tcp_connections,
            "max_tcp_connections",
            &only("dns"),
        );
    }
    if proto != Proto::Https {
        if let Some(t) = &l.tls {
            let hint = match proto {
                Proto::Http => "use protocol = \"https\" to terminate TLS",
                Proto::Tls => {
                    "a tls listener passes TLS through untouched; use https to terminate it"
                }
                _ => "only https listeners terminate TLS",
            };
            cx.error_hint(
                t.span(),
                format!("[listener.tls] applies only to https listeners, not {p}"),
                hint,
            );
        }
    }
    if matches!(proto, Proto::Tcp | Proto::Udp | Proto::Dns) {
        if let Some(r) = l.route.first() {
            cx.error(
                r.span(),
                format!("{p} listener \"{name}\" cannot have routes"),
            );
        }
    }
    let needs_pool = match proto {
        Proto::Tcp | Proto::Udp => true,
        Proto::Http | Proto::Https | Proto::Tls => l.route.is_empty(),
        Proto::Dns => false,
    };
    if needs_pool && !has_pool {
        cx.error_hint(
            l.name.span(),
            format!("{p} listener \"{name}\" needs a pool"),
            if matches!(proto, Proto::Tcp | Proto::Udp) {
                "add pool = \"NAME\" (the pool every connection or flow goes to)"
            } else {
                "add pool = \"NAME\" (the default pool when no route matches)"
            },
        );
    }
    if proto == Proto::Dns {
        if let Some(pool) = &l.pool {
            cx.error_hint(
                pool.span(),
                "dns listeners answer from [[zone]]; pool does not apply",
                "balanced records name their pool: [[zone.record]] pool = \"NAME\"",
            );
        }
    }
    let default_pool = l.pool.as_ref().map(|p| p.get_ref().as_str());
    match proto {
        Proto::Http => ListenerKind::Http {
            routes: route::routes(cx, &l.route, default_pool, refs),
        },
        Proto::Https => ListenerKind::Https {
            routes: route::routes(cx, &l.route, default_pool, refs),
            tls: tls::termination(cx, l.tls.as_ref(), &l.name, name),
        },
        Proto::Tcp => ListenerKind::Tcp {
            proxy_protocol: proxy_protocol(cx, &l.proxy_protocol),
            accept_proxy_protocol: l
                .accept_proxy_protocol
                .as_ref()
                .is_some_and(|b| *b.get_ref()),
            splice: l.splice.as_ref().is_none_or(|b| *b.get_ref()),
        },
        Proto::Tls => ListenerKind::Tls {
            sni_routes: route::sni_routes(cx, &l.route, refs),
            proxy_protocol: proxy_protocol(cx, &l.proxy_protocol),
            accept_proxy_protocol: l
                .accept_proxy_protocol
                .as_ref()
                .is_some_and(|b| *b.get_ref()),
            splice: l.splice.as_ref().is_none_or(|b| *b.get_ref()),
        },
        Proto::Udp => ListenerKind::Udp {
            max_flows: values::int_or(cx, &l.max_flows, "max_flows", 1..=16_777_216, 65536)
                as usize,
        },
        Proto::Dns => ListenerKind::Dns {
            rate_limit: l
                .rate_limit
                .as_ref()
                .and_then(|r| values::int_in(cx, r, "rate_limit", 1..=10_000_000))
                .map(|n| n as u32),
            max_tcp_connections: values::int_or(
                cx,
                &l.max_tcp_connections,
                "max_tcp_connections",
                1..=1_000_000,
                1024,
            ) as u32,
        },
    }
}

fn proxy_protocol(cx: &mut Ctx, v: &Option<Str>) -> ProxyProtocol {
    let options = [
        ("off", ProxyProtocol::Off),
        ("v1", ProxyProtocol::V1),
        ("v2", ProxyProtocol::V2),
    ];
    v.as_ref()
        .and_then(|v| values::choice(cx, v, "proxy_protocol", &options))
        .unwrap_or_default()
}

fn timeouts(cx: &mut Ctx, t: &RawTimeouts) -> Timeouts {
    let d = Timeouts::default();
    let mut one = |v: &Option<Str>, key: &str, default| {
        let got = values::duration_or(cx, v, key, default);
        if let (Some(v), true) = (v, got.is_zero()) {
            cx.error(v.span(), format!("{key} must be above zero"));
            return default;
        }
        got
    };
    Timeouts {
        connect: one(&t.connect, "timeouts.connect", d.connect),
        request_header: one(
            &t.request_header,
            "timeouts.request_header",
            d.request_header,
        ),
        backend: one(&t.backend, "timeouts.backend", d.backend),
        idle: one(&t.idle, "timeouts.idle", d.idle),
        handshake: one(&t.handshake, "timeouts.handshake", d.handshake),
    }
}

/// tcp, udp and tls listeners cannot see headers, cookies, queries or paths.
fn l4_pool_keys(cx: &mut Ctx, raw: &RawListener, l: &Listener, pools: &[Pool]) {
    let sni = matches!(l.kind, ListenerKind::Tls { .. });
    if !matches!(l.kind, ListenerKind::Tcp { .. } | ListenerKind::Udp { .. }) && !sni {
        return;
    }
    for pool in l
        .pools()
        .iter()
        .filter_map(|n| pools.iter().find(|p| p.name == *n))
    {
        let key_ok = match pool.hash_key {
            crate::model::HashKey::SourceIp | crate::model::HashKey::Connection => true,
            crate::model::HashKey::Host => sni,
            _ => false,
        };
        if pool.algorithm.uses_hash() && !key_ok {
            // `host` is the SNI name on tls listeners: only tcp and udp lack it.
            let seen_by = if pool.hash_key == crate::model::HashKey::Host {
                "only http, https and tls listeners see"
            } else {
                "only HTTP listeners see"
            };
            cx.error_hint(
                raw.name.span(),
                format!(
                    "{} listener \"{}\" uses pool \"{}\", which hashes on {}, a value {seen_by}",
                    l.protocol(),
                    l.name,
                    pool.name,
                    pool.hash_key
                ),
                if sni {
                    "use hash_key = \"source_ip\" or \"host\" (the SNI name)"
                } else {
                    "use hash_key = \"source_ip\" or \"connection\""
                },
            );
        }
        if matches!(
            pool.affinity,
            Affinity::Cookie { .. } | Affinity::Header { .. }
        ) {
            cx.error_hint(
                raw.name.span(),
                format!(
                    "{} listener \"{}\" uses pool \"{}\", whose cookie/header affinity needs HTTP",
                    l.protocol(),
                    l.name,
                    pool.name
                ),
                "use [pool.affinity] kind = \"source_ip\" for L4 traffic",
            );
        }
    }
}
