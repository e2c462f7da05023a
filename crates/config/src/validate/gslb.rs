//! `[[datacenter]]`, `[geoip]` and `[anycast]`.
//!
//! The GeoIP database is opened, verified (`maxminddb`'s full structural check: some
//! corrupt files open fine and only fail on lookup) and test-read with a few known
//! addresses at validation time, so corruption is a configuration error.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::Ctx;
use crate::model::{Announce, Anycast, Datacenter, GeoIp, Pool};
use crate::raw::{RawAnnounce, RawAnycast, RawDatacenter, RawGeoIp, S};

use super::values::{self, Unique};
use super::Refs;

/// Addresses looked up to surface databases that open but are corrupt.
const PROBES: [&str; 4] = ["1.1.1.1", "81.2.69.142", "175.16.199.1", "2001:218::1"];

/// Every datacenter, with unique names.
pub(crate) fn datacenters(cx: &mut Ctx, raw: &[RawDatacenter], refs: &Refs) -> Vec<Datacenter> {
    let mut names = Unique::new("datacenter name");
    raw.iter()
        .map(|d| {
            let name = values::name(cx, &d.name, "datacenter");
            names.check(cx, &name, d.name.span());
            let latitude = coordinate(cx, &d.latitude, "latitude", 90.0);
            let longitude = coordinate(cx, &d.longitude, "longitude", 180.0);
            if d.addresses.get_ref().is_empty() {
                cx.error(
                    d.addresses.span(),
                    format!("datacenter \"{name}\" has no addresses"),
                );
            }
            let addresses = d
                .addresses
                .get_ref()
                .iter()
                .filter_map(|a| match a.get_ref().parse::<IpAddr>() {
                    Ok(ip) => Some(ip),
                    Err(_) => {
                        cx.error(
                            a.span(),
                            format!(
                                "invalid datacenter address \"{}\": use an IP address without port",
                                a.get_ref()
                            ),
                        );
                        None
                    }
                })
                .collect();
            let countries = d
                .countries
                .iter()
                .map(|c| {
                    let code = c.get_ref().to_ascii_uppercase();
                    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                        cx.error_hint(
                            c.span(),
                            format!("invalid country \"{}\"", c.get_ref()),
                            "use ISO 3166 alpha-2 codes like \"US\", \"DE\"",
                        );
                    }
                    code
                })
                .collect();
            Datacenter {
                latitude,
                longitude,
                addresses,
                pool: d
                    .pool
                    .as_ref()
                    .map(|p| refs.pool(cx, p, &format!("datacenter \"{name}\""))),
                countries,
                name,
            }
        })
        .collect()
}

fn coordinate(cx: &mut Ctx, v: &S<f64>, key: &str, limit: f64) -> f64 {
    let x = *v.get_ref();
    if !(x.is_finite() && (-limit..=limit).contains(&x)) {
        cx.error(
            v.span(),
            format!("{key} {x} is out of range -{limit}..={limit}"),
        );
        return 0.0;
    }
    x
}

/// `[geoip]`: the database must open and answer lookups.
pub(crate) fn geoip(cx: &mut Ctx, g: &RawGeoIp) -> Option<GeoIp> {
    let database = cx.resolve(g.database.get_ref());
    let shown = database.display().to_string();
    if database.exists() && !database.is_file() {
        cx.error(
            g.database.span(),
            format!("GeoIP database \"{shown}\" is not a regular file"),
        );
        return None;
    }
    let reader = match maxminddb::Reader::open_readfile(&database) {
        Ok(r) => r,
        Err(e) => {
            cx.error_hint(
                g.database.span(),
                format!("cannot open GeoIP database \"{shown}\": {e}"),
                "use a MaxMind DB (.mmdb) City database, e.g. GeoLite2-City.mmdb",
            );
            return None;
        }
    };
    if let Err(e) = reader.verify() {
        cx.error_hint(
            g.database.span(),
            format!("GeoIP database \"{shown}\" is corrupt: {e}"),
            "download the database again",
        );
        return None;
    }
    let kind = reader.metadata().database_type.clone();
    if !(kind.contains("City") || kind.contains("Country")) {
        cx.error_hint(
            g.database.span(),
            format!(
                "GeoIP database \"{shown}\" is a \"{kind}\" database, not a City or Country one"
            ),
            "use a MaxMind DB (.mmdb) City database, e.g. GeoLite2-City.mmdb",
        );
        return None;
    }
    for probe in PROBES {
        let ip: IpAddr = probe.parse().ok()?;
        if ip.is_ipv6() && reader.metadata().ip_version == 4 {
            continue;
        }
        let result = reader
            .lookup(ip)
            .and_then(|r| r.decode::<maxminddb::geoip2::City>().map(|_| ()));
        if let Err(e) = result {
            cx.error_hint(
                g.database.span(),
                format!("GeoIP database \"{shown}\" is corrupt: looking up {probe} failed: {e}"),
                "download the database again",
            );
            return None;
        }
    }
    Some(GeoIp { database })
}

/// The longest name BIRD 2 accepts for a symbol such as a protocol (`SYM_MAX_LEN`).
const BIRD_NAME_MAX: usize = 64;

/// `[anycast]` and its announcements.
pub(crate) fn anycast(cx: &mut Ctx, a: &S<RawAnycast>, refs: &Refs, pools: &[Pool]) -> Anycast {
    let raw = a.get_ref();
    if let Some(s) = raw.bird_socket.as_ref().filter(|s| s.get_ref().is_empty()) {
        cx.error_hint(
            s.span(),
            "bird_socket is empty",
            "name BIRD's control socket (bird -s PATH), or leave the key out for /run/bird/bird.ctl",
        );
    }
    if raw.announce.is_empty() {
        cx.error_hint(
            a.span(),
            "[anycast] has no [[anycast.announce]]",
            "add one, or remove [anycast]",
        );
    }
    let mut prefixes = Unique::new("anycast prefix");
    let announces = raw
        .announce
        .iter()
        .filter_map(|n| announce(cx, n, refs, pools, &mut prefixes))
        .collect();
    Anycast {
        bird_socket: raw.bird_socket.as_ref().map_or_else(
            || Anycast::DEFAULT_BIRD_SOCKET.into(),
            |s| cx.resolve(s.get_ref()),
        ),
        hold_down: values::duration_or(cx, &raw.hold_down, "hold_down", Anycast::DEFAULT_HOLD_DOWN),
        withdraw_delay: values::duration_or(
            cx,
            &raw.withdraw_delay,
            "withdraw_delay",
            Anycast::DEFAULT_WITHDRAW_DELAY,
        ),
        announces,
    }
}

fn announce(
    cx: &mut Ctx,
    n: &RawAnnounce,
    refs: &Refs,
    pools: &[Pool],
    prefixes: &mut Unique,
) -> Option<Announce> {
    let prefix = match n.prefix.get_ref().parse::<IpNet>() {
        // BIRD refuses a route whose address has bits past the length ("Invalid IPv4
        // prefix"), so the protocol switchyard toggles could not carry it.
        Ok(p) if p.trunc() != p => {
            cx.error_hint(
                n.prefix.span(),
                format!(
                    "anycast prefix \"{p}\" has bits set past its length /{}",
                    p.prefix_len()
                ),
                format!(
                    "did you mean \"{}\"? (a single address is \"{}/{}\")",
                    p.trunc(),
                    p.addr(),
                    p.max_prefix_len()
                ),
            );
            None
        }
        Ok(p) => {
            prefixes.check(cx, &p.to_string(), n.prefix.span());
            Some(p)
        }
        Err(_) => {
            let hint = match n.prefix.get_ref().parse::<IpAddr>() {
                Ok(IpAddr::V4(ip)) => format!("a single address is \"{ip}/32\""),
                Ok(IpAddr::V6(ip)) => format!("a single address is \"{ip}/128\""),
                Err(_) => "use ADDRESS/LENGTH, e.g. \"203.0.113.10/32\"".to_string(),
            };
            cx.error_hint(
                n.prefix.span(),
                format!("invalid anycast prefix \"{}\"", n.prefix.get_ref()),
                hint,
            );
            None
        }
    };
    let proto = n.bird_protocol.get_ref();
    if proto.is_empty()
        || !proto
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        cx.error(
            n.bird_protocol.span(),
            format!("invalid bird_protocol \"{proto}\": BIRD names use letters, digits and '_'"),
        );
    } else if proto.as_bytes()[0].is_ascii_digit() {
        cx.error(
            n.bird_protocol.span(),
            format!("invalid bird_protocol \"{proto}\": a BIRD name starts with a letter or '_'"),
        );
    } else if proto.len() > BIRD_NAME_MAX {
        cx.error(
            n.bird_protocol.span(),
            format!(
                "invalid bird_protocol \"{proto}\": BIRD names are at most {BIRD_NAME_MAX} characters, this one has {}",
                proto.len()
            ),
        );
    }
    if n.pools.get_ref().is_empty() {
        cx.error(
            n.pools.span(),
            "an announcement needs at least one pool to watch",
        );
    }
    let names: Vec<String> = n
        .pools
        .get_ref()
        .iter()
        .map(|p| refs.pool(cx, p, "anycast"))
        .collect();
    let min_healthy = values::int_or(cx, &n.min_healthy, "min_healthy", 1..=100_000, 1) as u32;
    // A pool with fewer servers than min_healthy can never be healthy enough: the prefix
    // would never be announced, and nothing at run time would say why.
    let in_range = n
        .min_healthy
        .as_ref()
        .is_none_or(|m| (1..=100_000).contains(m.get_ref()));
    let span = n.min_healthy.as_ref().map_or(n.pools.span(), |m| m.span());
    for pool in pools.iter().filter(|p| in_range && names.contains(&p.name)) {
        let servers = pool.servers.len();
        if (min_healthy as usize) > servers {
            let plural = if servers == 1 { "" } else { "s" };
            cx.error_hint(
                span.clone(),
                format!(
                    "min_healthy {min_healthy} can never be met: pool \"{}\" has {servers} server{plural}, so {} would never be announced",
                    pool.name,
                    n.prefix.get_ref()
                ),
                format!("lower min_healthy to at most {servers}, or add servers to pool \"{}\"", pool.name),
            );
        }
    }
    Some(Announce {
        prefix: prefix?,
        bird_protocol: proto.clone(),
        pools: names,
        min_healthy,
    })
}
