//! `[[pool]]`: algorithm and its parameters, health, outlier, affinity, servers.

use std::time::Duration;

use crate::error::Ctx;
use crate::model::{
    Affinity, Algorithm, AlgorithmParams, BackendProtocol, CheckKind, HashKey, Health, Outlier,
    Pool, Server, StatusRanges,
};
use crate::raw::{RawAffinity, RawHealth, RawOutlier, RawPool, RawServer, Str};

use super::values::{self, Unique};
use super::{not_here, show_duration};

/// Every pool, with unique names.
pub(crate) fn pools(cx: &mut Ctx, raw: &[RawPool]) -> Vec<Pool> {
    let mut names = Unique::new("pool name");
    raw.iter()
        .map(|p| {
            let pool = pool(cx, p);
            names.check(cx, &pool.name, p.name.span());
            pool
        })
        .collect()
}

fn pool(cx: &mut Ctx, p: &RawPool) -> Pool {
    let name = values::name(cx, &p.name, "pool");
    let algorithm = p
        .algorithm
        .as_ref()
        .and_then(|a| algorithm(cx, a))
        .unwrap_or(DEFAULT_ALGORITHM);
    let hash_key = p
        .hash_key
        .as_ref()
        .and_then(|h| hash_key(cx, h))
        .unwrap_or(HashKey::SourceIp);
    let backend_protocol = p
        .backend_protocol
        .as_ref()
        .and_then(|b| {
            let options = [
                ("http1", BackendProtocol::Http1),
                ("http2", BackendProtocol::Http2),
            ];
            values::choice(cx, b, "backend_protocol", &options)
        })
        .unwrap_or_default();
    let servers = servers(cx, &name, &p.server);
    if servers.is_empty() && p.server.is_empty() {
        cx.error_hint(
            p.name.span(),
            format!("pool \"{name}\" has no servers"),
            "add at least one [[pool.server]] with name and address",
        );
    }
    let params = params(cx, p, servers.len());
    Pool {
        algorithm,
        hash_key,
        params,
        slow_start: values::opt_duration(cx, &p.slow_start, "slow_start"),
        panic_threshold: values::int_or(cx, &p.panic_threshold, "panic_threshold", 0..=100, 50)
            as u8,
        drain_timeout: values::opt_duration(cx, &p.drain_timeout, "drain_timeout"),
        backend_protocol,
        health: p.health.as_ref().map(|h| health(cx, h)).unwrap_or_default(),
        outlier: p.outlier.as_ref().map(|o| outlier(cx, o)),
        affinity: p
            .affinity
            .as_ref()
            .map(|a| affinity(cx, a))
            .unwrap_or_default(),
        servers,
        name,
    }
}

/// Defaults of the pool keys that the decision crates do not default.
const DEFAULT_ALGORITHM: Algorithm = Algorithm::WeightedRoundRobin;
/// The `hash_key` forms, for messages.
const HASH_KEY_FORMS: &str =
    "source_ip, connection, header:NAME, cookie:NAME, query:NAME, path, host";

fn algorithm(cx: &mut Ctx, v: &Str) -> Option<Algorithm> {
    let names = Algorithm::names();
    let found = v.get_ref().parse::<Algorithm>().ok();
    if found.is_none() {
        values::unknown(cx, v.span(), "algorithm", v.get_ref(), &names);
    }
    found
}

fn hash_key(cx: &mut Ctx, v: &Str) -> Option<HashKey> {
    let found = v.get_ref().parse::<HashKey>().ok();
    if found.is_none() {
        cx.error(
            v.span(),
            format!(
                "invalid hash_key \"{}\"; expected one of {HASH_KEY_FORMS}",
                v.get_ref()
            ),
        );
    }
    found
}

fn params(cx: &mut Ctx, p: &RawPool, server_count: usize) -> AlgorithmParams {
    let d = AlgorithmParams::default();
    let ring_vnodes = values::int_or(
        cx,
        &p.ring_vnodes,
        "ring_vnodes",
        1..=10_000,
        d.ring_vnodes.into(),
    ) as u32;
    let hash_balance_factor = p.hash_balance_factor.as_ref().and_then(|f| {
        // 1.25 (a factor) or 125 (Envoy-style percent) mean the same.
        let v = *f.get_ref();
        let percent = if v >= 100.0 { v } else { v * 100.0 };
        // Rounded to whole percent, as the balancer keeps it: 100 (or 1.001) would be a
        // factor of exactly 1.0, which the message below refuses.
        if v.is_finite() && percent.round() > 100.0 && percent <= 100_000.0 {
            Some(percent.round() as u32)
        } else {
            cx.error_hint(
                f.span(),
                format!("hash_balance_factor {v} must be above 1.0"),
                "1.25 (or 125, in percent) lets a server take at most 125% of the average load",
            );
            None
        }
    });
    let mut maglev_table_size = d.maglev_table_size;
    if let Some(m) = &p.maglev_table_size {
        if let Some(n) = values::int_in(cx, m, "maglev_table_size", 7..=(1 << 26)) {
            let n = n as u64;
            if !is_prime(n) {
                cx.error_hint(
                    m.span(),
                    format!("maglev_table_size {n} is not a prime"),
                    format!("try {}", next_prime(n)),
                );
            } else if n < server_count as u64 * 10 {
                cx.error_hint(
                    m.span(),
                    format!("maglev_table_size {n} is too small for {server_count} servers"),
                    "use a prime at least 100 times the number of servers, e.g. 65537",
                );
            } else {
                maglev_table_size = n;
            }
        }
    }
    AlgorithmParams {
        ring_vnodes,
        hash_balance_factor,
        maglev_table_size,
        ewma_decay: positive(cx, &p.ewma_decay, "ewma_decay", d.ewma_decay),
    }
}

fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

fn next_prime(n: u64) -> u64 {
    (n..).find(|&k| is_prime(k)).unwrap_or(65537)
}

fn health(cx: &mut Ctx, h: &RawHealth) -> Health {
    let d = Health::default();
    let options = [
        ("tcp", CheckKind::Tcp),
        ("http", CheckKind::Http),
        ("grpc", CheckKind::Grpc),
        ("none", CheckKind::None),
    ];
    let chosen = h
        .check
        .as_ref()
        .map(|c| values::choice(cx, c, "health check", &options));
    // An unknown check kind (a typo of "http") is one error, not one more for every
    // http or grpc key below it.
    let known = !matches!(chosen, Some(None));
    let check = chosen.flatten().unwrap_or_default();
    if known && check != CheckKind::Http {
        let why = "applies only to check = \"http\"";
        not_here(cx, &h.path, "health path", why);
        not_here(cx, &h.host, "health host", why);
        not_here(cx, &h.method, "health method", why);
        not_here(cx, &h.expect_status, "health expect_status", why);
        not_here(cx, &h.expect_body, "health expect_body", why);
    }
    if known && check != CheckKind::Grpc {
        not_here(
            cx,
            &h.service,
            "health service",
            "applies only to check = \"grpc\"",
        );
    }
    let path = h.path.as_ref().map_or(d.path, |p| {
        if !p.get_ref().starts_with('/') {
            cx.error(
                p.span(),
                format!("health path \"{}\" must start with '/'", p.get_ref()),
            );
        }
        p.get_ref().clone()
    });
    let method = h.method.as_ref().map_or(d.method, |m| {
        let s = m.get_ref();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphabetic()) {
            cx.error(m.span(), format!("invalid health method \"{s}\""));
        }
        s.to_ascii_uppercase()
    });
    if let (Some(body), "HEAD") = (&h.expect_body, method.as_str()) {
        // A HEAD answer has no body: the check could never pass.
        cx.error_hint(
            body.span(),
            "health expect_body cannot be checked with method = \"HEAD\" (a HEAD answer has no body)",
            "remove expect_body, or use method = \"GET\"",
        );
    }
    let expect_status = h
        .expect_status
        .as_ref()
        .map_or(d.expect_status.clone(), |e| {
            e.get_ref().parse::<StatusRanges>().unwrap_or_else(|err| {
                cx.error(e.span(), err.to_string());
                StatusRanges::default()
            })
        });
    let interval = positive(cx, &h.interval, "health interval", d.interval);
    let timeout = positive(cx, &h.timeout, "health timeout", d.timeout);
    if let Some(t) = &h.timeout {
        if timeout >= interval {
            cx.error(
                t.span(),
                format!(
                    "health timeout {} must be shorter than interval {}",
                    show_duration(timeout),
                    show_duration(interval)
                ),
            );
        }
    } else if let (Some(i), true) = (&h.interval, timeout >= interval) {
        cx.error_hint(
            i.span(),
            format!(
                "health interval {} must be longer than the default timeout {}",
                show_duration(interval),
                show_duration(timeout)
            ),
            "set a shorter timeout",
        );
    }
    Health {
        check,
        path,
        host: h.host.as_ref().map(|v| v.get_ref().clone()),
        method,
        expect_status,
        expect_body: h.expect_body.as_ref().map(|v| v.get_ref().clone()),
        service: h
            .service
            .as_ref()
            .map_or(d.service, |v| v.get_ref().clone()),
        tls: h.tls.unwrap_or(false),
        interval,
        timeout,
        rise: values::int_or(cx, &h.rise, "health rise", 1..=1000, 2) as u32,
        fall: values::int_or(cx, &h.fall, "health fall", 1..=1000, 3) as u32,
        proxy_header: d.proxy_header,
    }
}

/// A duration that must be above zero.
fn positive(cx: &mut Ctx, v: &Option<Str>, key: &str, default: Duration) -> Duration {
    let d = values::duration_or(cx, v, key, default);
    if let (Some(v), true) = (v, d.is_zero()) {
        cx.error(v.span(), format!("{key} must be above zero"));
        return default;
    }
    d
}

fn outlier(cx: &mut Ctx, o: &RawOutlier) -> Outlier {
    let d = Outlier::default();
    let base_ejection = positive(
        cx,
        &o.base_ejection,
        "outlier base_ejection",
        d.base_ejection,
    );
    let max_ejection = values::duration_or(
        cx,
        &o.max_ejection,
        "outlier max_ejection",
        d.max_ejection.max(base_ejection),
    );
    if let (Some(m), true) = (&o.max_ejection, max_ejection < base_ejection) {
        cx.error(
            m.span(),
            format!(
                "outlier max_ejection {} is shorter than base_ejection {}",
                show_duration(max_ejection),
                show_duration(base_ejection)
            ),
        );
    }
    Outlier {
        consecutive_failures: values::int_or(
            cx,
            &o.consecutive_failures,
            "outlier consecutive_failures",
            1..=10_000,
            5,
        ) as u32,
        base_ejection,
        max_ejection,
        max_ejection_percent: values::int_or(
            cx,
            &o.max_ejection_percent,
            "outlier max_ejection_percent",
            0..=100,
            50,
        ) as u8,
    }
}

fn affinity(cx: &mut Ctx, a: &RawAffinity) -> Affinity {
    #[derive(Clone, Copy)]
    enum K {
        None,
        Cookie,
        SourceIp,
        Header,
    }
    let options = [
        ("none", K::None),
        ("cookie", K::Cookie),
        ("source_ip", K::SourceIp),
        ("header", K::Header),
    ];
    let Some(kind) = values::choice(cx, &a.kind, "affinity kind", &options) else {
        return Affinity::None;
    };
    if !matches!(kind, K::Cookie) {
        not_here(
            cx,
            &a.cookie,
            "affinity cookie",
            "applies only to kind = \"cookie\"",
        );
        not_here(
            cx,
            &a.ttl,
            "affinity ttl",
            "applies only to kind = \"cookie\"",
        );
    }
    if !matches!(kind, K::Header) {
        not_here(
            cx,
            &a.header,
            "affinity header",
            "applies only to kind = \"header\"",
        );
    }
    match kind {
        K::None => Affinity::None,
        K::SourceIp => Affinity::SourceIp,
        K::Cookie => {
            let name = a.cookie.as_ref().map_or_else(
                || "SYD_SRV".to_string(),
                |c| {
                    if !is_token(c.get_ref()) {
                        cx.error(c.span(), format!("invalid cookie name \"{}\"", c.get_ref()));
                    }
                    c.get_ref().clone()
                },
            );
            Affinity::Cookie {
                name,
                ttl: values::opt_duration(cx, &a.ttl, "affinity ttl"),
            }
        }
        K::Header => match &a.header {
            Some(h) => {
                if !is_token(h.get_ref()) {
                    cx.error(h.span(), format!("invalid header name \"{}\"", h.get_ref()));
                }
                Affinity::Header {
                    name: h.get_ref().to_ascii_lowercase(),
                }
            }
            None => {
                cx.error_hint(
                    a.kind.span(),
                    "affinity kind \"header\" needs a header",
                    "add header = \"x-user-id\"",
                );
                Affinity::None
            }
        },
    }
}

/// An HTTP token (header and cookie names).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn servers(cx: &mut Ctx, pool: &str, raw: &[RawServer]) -> Vec<Server> {
    let mut names = Unique::new("server name");
    let mut addresses: Vec<(std::net::SocketAddr, String)> = Vec::new();
    let mut out = Vec::new();
    for s in raw {
        let name = values::name(cx, &s.name, "server");
        names.check(cx, &name, s.name.span());
        let address = values::socket_addr(cx, &s.address, "server");
        if let Some(a) = address {
            if let Some((_, other)) = addresses.iter().find(|(x, _)| *x == a) {
                cx.error(
                    s.address.span(),
                    format!("server \"{name}\" in pool \"{pool}\" has the same address {a} as server \"{other}\""),
                );
            }
            addresses.push((a, name.clone()));
        }
        let check_address = s
            .check_address
            .as_ref()
            .and_then(|c| values::socket_addr(cx, c, "check_address"));
        let weight = values::int_or(cx, &s.weight, "weight", 1..=1000, 1) as u32;
        out.push(Server {
            name,
            address: address.unwrap_or_else(|| ([0, 0, 0, 0], 0).into()),
            weight,
            backup: s.backup.unwrap_or(false),
            check_address,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_for_maglev() {
        assert!(is_prime(65537) && is_prime(7) && !is_prime(65536) && !is_prime(1));
        assert_eq!(next_prime(1000), 1009);
    }
}
