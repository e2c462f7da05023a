//! `[[zone]]` and `[[zone.record]]`: names, SOA, and static, balanced and geo records.

use std::collections::HashMap;
use std::ops::Range;

use crate::error::Ctx;
use crate::model::{BalancePolicy, Datacenter, Pool, Record, RecordData, RecordType, Soa, Zone};
use crate::raw::{RawDatacenter, RawRecord, RawSoa, RawZone, Str, S};

use super::values::{self, Unique};
use super::{rdata, undefined, Refs};

/// What records may refer to.
pub(crate) struct Env<'a> {
    pub pools: &'a [Pool],
    pub refs: &'a Refs<'a>,
    pub datacenters: &'a [Datacenter],
    pub raw_datacenters: &'a [RawDatacenter],
    pub has_geoip: bool,
}

/// Every zone, with unique names.
pub(crate) fn zones(cx: &mut Ctx, raw: &[RawZone], env: &Env) -> Vec<Zone> {
    let mut names = Unique::new("zone");
    raw.iter()
        .map(|z| {
            let zone = zone(cx, z, env);
            names.check(cx, &zone.name, z.name.span());
            zone
        })
        .collect()
}

fn zone(cx: &mut Ctx, z: &RawZone, env: &Env) -> Zone {
    let valid = rdata::domain(z.name.get_ref());
    if valid.is_none() {
        cx.error(
            z.name.span(),
            format!("invalid zone name \"{}\"", z.name.get_ref()),
        );
    }
    // The zone's names are relative to it: with an invalid zone name they are checked
    // against a stand-in, so that only their own mistakes are reported, not this one again.
    let name = valid
        .clone()
        .unwrap_or_else(|| "zone-name.invalid".to_string());
    let ttl = z
        .ttl
        .as_ref()
        .and_then(|t| values::seconds(cx, t, "ttl"))
        .unwrap_or(300);
    if z.ns.get_ref().is_empty() {
        cx.error_hint(
            z.ns.span(),
            format!("zone \"{name}\" needs at least one ns"),
            "ns = [\"ns1.example.com.\"]",
        );
    }
    let ns: Vec<String> =
        z.ns.get_ref()
            .iter()
            .map(|n| dns_name(cx, n, &name, "ns"))
            .collect();
    let soa = soa(cx, z.soa.as_ref(), &name, ns.first().cloned());
    let mut records = Vec::new();
    let mut spans: Vec<Range<usize>> = Vec::new();
    let mut seen: HashMap<(String, RecordType), Range<usize>> = HashMap::new();
    for r in &z.record {
        let Some(rec) = record(cx, r, &name, ttl, env) else {
            continue;
        };
        let key = (rec.owner.clone(), rec.rtype);
        if let Some(first) = seen.get(&key) {
            let first = cx.location(first);
            cx.error_hint(
                r.name.span(),
                format!(
                    "duplicate record \"{}\" {} (first defined at {first})",
                    rec.name, rec.rtype
                ),
                "put every value of an RRset in one record's values",
            );
        } else {
            seen.insert(key, r.name.span());
        }
        records.push(rec);
        spans.push(r.name.span());
    }
    cname_conflicts(cx, &name, &records, &spans);
    cname_loops(cx, &records, &spans);
    Zone {
        name: valid.unwrap_or_else(|| z.name.get_ref().clone()),
        ttl,
        ns,
        soa,
        records,
    }
}

/// A CNAME owns its name alone, and never the apex.
fn cname_conflicts(cx: &mut Ctx, zone: &str, records: &[Record], spans: &[Range<usize>]) {
    for (rec, span) in records.iter().zip(spans) {
        if rec.rtype != RecordType::Cname {
            continue;
        }
        if rec.owner == zone {
            cx.error(
                span,
                format!("CNAME at the zone apex \"{zone}\" is not allowed"),
            );
        } else if let Some(other) = records
            .iter()
            .find(|o| o.owner == rec.owner && o.rtype != RecordType::Cname)
        {
            cx.error(
                span,
                format!(
                    "\"{}\" has a CNAME and a {} record; a CNAME must be alone",
                    rec.name, other.rtype
                ),
            );
        }
    }
}

/// CNAMEs that lead back to themselves would be answered as an endless chain (the
/// server stops after 8 links; no address ever comes): each loop is reported once, at its
/// first record.
fn cname_loops(cx: &mut Ctx, records: &[Record], spans: &[Range<usize>]) {
    let target = |owner: &str| {
        records.iter().position(|r| {
            r.rtype == RecordType::Cname
                && r.owner == owner
                && matches!(&r.data, RecordData::Static(v) if !v.is_empty())
        })
    };
    let next = |i: usize| match &records[i].data {
        RecordData::Static(v) => match v.first() {
            Some(crate::model::RData::Cname(t)) => target(t),
            _ => None,
        },
        _ => None,
    };
    for start in 0..records.len() {
        if records[start].rtype != RecordType::Cname {
            continue;
        }
        let mut path = vec![start];
        let mut at = start;
        while let Some(n) = next(at) {
            if n == start {
                // report the loop once: from its record that comes first in the file
                if path.iter().all(|&p| p >= start) {
                    let mut names: Vec<&str> =
                        path.iter().map(|&p| records[p].owner.as_str()).collect();
                    names.push(&records[start].owner);
                    cx.error_hint(
                        &spans[start],
                        format!("CNAME loop: {}", names.join(" -> ")),
                        "point one of these CNAMEs at a name with addresses",
                    );
                }
                break;
            }
            if path.contains(&n) || path.len() > records.len() {
                break; // a loop that does not pass through `start`
            }
            path.push(n);
            at = n;
        }
    }
}

fn dns_name(cx: &mut Ctx, v: &Str, zone: &str, what: &str) -> String {
    rdata::target(v.get_ref(), zone, what).unwrap_or_else(|(message, hint)| {
        match hint {
            Some(h) => cx.error_hint(v.span(), message, h),
            None => cx.error(v.span(), message),
        }
        v.get_ref().clone()
    })
}

fn soa(cx: &mut Ctx, raw: Option<&RawSoa>, zone: &str, first_ns: Option<String>) -> Soa {
    let mut soa = Soa {
        primary: first_ns.unwrap_or_else(|| format!("ns1.{zone}")),
        contact: format!("hostmaster.{zone}"),
        serial: 1,
        refresh: 7200,
        retry: 1800,
        expire: 1_209_600,
        minimum: 300,
    };
    let Some(raw) = raw else { return soa };
    if let Some(p) = &raw.primary {
        soa.primary = dns_name(cx, p, zone, "SOA primary");
    }
    if let Some(c) = &raw.contact {
        soa.contact = contact(cx, c, zone).unwrap_or(soa.contact);
    }
    soa.serial = values::int_or(cx, &raw.serial, "SOA serial", 0..=i64::from(u32::MAX), 1) as u32;
    let mut timer = |v: &Option<S<crate::raw::IntOrStr>>, key: &str, default: u32| {
        v.as_ref()
            .and_then(|v| values::seconds(cx, v, key))
            .unwrap_or(default)
    };
    soa.refresh = timer(&raw.refresh, "SOA refresh", soa.refresh);
    soa.retry = timer(&raw.retry, "SOA retry", soa.retry);
    soa.expire = timer(&raw.expire, "SOA expire", soa.expire);
    soa.minimum = timer(&raw.minimum, "SOA minimum", soa.minimum);
    soa
}

/// The SOA contact in DNS form. "hostmaster@example.com" is accepted and written in DNS
/// form; a mail address is absolute whatever its domain, never relative to the zone.
/// `None` after an error.
fn contact(cx: &mut Ctx, c: &S<String>, zone: &str) -> Option<String> {
    let dotted = match c.get_ref().split_once('@') {
        Some((user, _)) if user.contains('.') => {
            cx.error_hint(
                c.span(),
                format!(
                    "SOA contact \"{}\": a mailbox with a dot before the @ cannot be written in this form",
                    c.get_ref()
                ),
                "use a mailbox without a dot, e.g. \"hostmaster@example.com\"",
            );
            return None;
        }
        Some((user, domain)) => format!("{user}.{}.", domain.strip_suffix('.').unwrap_or(domain)),
        None => c.get_ref().clone(),
    };
    match rdata::target(&dotted, zone, "SOA contact") {
        Ok(name) => Some(name),
        Err((m, h)) => {
            match h {
                Some(h) => cx.error_hint(c.span(), m, h),
                None => cx.error(c.span(), m),
            }
            None
        }
    }
}

fn record(cx: &mut Ctx, r: &RawRecord, zone: &str, zone_ttl: u32, env: &Env) -> Option<Record> {
    let name = r.name.get_ref().clone();
    let owner = owner_name(&name, zone);
    if owner.is_none() {
        cx.error_hint(
            r.name.span(),
            format!(
                "invalid record name \"{name}\" in zone \"{zone}\"{}",
                name_problem(&name, zone)
            ),
            "use \"@\" for the apex or a name relative to the zone, made of letters, digits, '-' and '_' (a wildcard is \"*\" or \"*.name\")",
        );
    }
    let names: Vec<&str> = RecordType::ALL.iter().map(|(_, n)| *n).collect();
    let rtype = RecordType::parse(r.rtype.get_ref());
    if rtype.is_none() {
        values::unknown(cx, r.rtype.span(), "record type", r.rtype.get_ref(), &names);
    }
    let ttl = r
        .ttl
        .as_ref()
        .and_then(|t| values::seconds(cx, t, "ttl"))
        .unwrap_or(zone_ttl);
    let rtype = rtype?;
    if rtype == RecordType::Ns && owner.as_deref().is_some_and(is_wildcard) {
        cx.error(
            r.rtype.span(),
            format!("\"{name}\" is a wildcard: a wildcard cannot hold NS records (RFC 4592 4.2), delegate a named subdomain instead"),
        );
        return None;
    }
    let data = data(cx, r, rtype, zone, env)?;
    Some(Record {
        name,
        owner: owner?,
        rtype,
        ttl,
        data,
    })
}

/// A record's absolute owner name inside `zone`: `"@"`, a relative or absolute name, or a
/// wildcard (`"*"`, `"*.name"`: a `*` as the leftmost label only, RFC 4592).
fn owner_name(name: &str, zone: &str) -> Option<String> {
    let (wild, rest) = match name.strip_prefix('*') {
        Some("") => (true, "@"),
        Some(rest) => match rest.strip_prefix('.') {
            Some(rest) if !rest.is_empty() && rest != "." => (true, rest),
            _ => return None,
        },
        None => (false, name),
    };
    let owner = rdata::absolute(rest, zone).filter(|o| crate::model::is_within(o, zone))?;
    if !wild {
        return Some(owner);
    }
    let owner = format!("*.{owner}");
    (owner.len() <= 253).then_some(owner)
}

/// Why a record name is refused, when the reason is one the hint does not give: a
/// label or the whole name too long for DNS, or an absolute name outside the zone.
fn name_problem(name: &str, zone: &str) -> String {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if let Some(label) = trimmed.split('.').find(|l| l.len() > 63) {
        return format!(
            ": the label \"{label}\" has {} characters, at most 63",
            label.len()
        );
    }
    let full = if name.ends_with('.') {
        trimmed.len()
    } else {
        trimmed.len() + 1 + zone.len()
    };
    if full > 253 {
        return format!(": with the zone it has {full} characters, at most 253");
    }
    let lower = trimmed.to_ascii_lowercase();
    if name.ends_with('.') && !crate::model::is_within(&lower, zone) {
        return format!(": \"{name}\" is outside the zone");
    }
    String::new()
}

/// Whether an absolute owner name is a wildcard (`*.` followed by its parent).
fn is_wildcard(owner: &str) -> bool {
    owner.starts_with("*.")
}

fn data(
    cx: &mut Ctx,
    r: &RawRecord,
    rtype: RecordType,
    zone: &str,
    env: &Env,
) -> Option<RecordData> {
    let geo = r.policy.as_ref().is_some_and(|p| p.get_ref() == "geo");
    let sources: Vec<(&str, Range<usize>)> = [
        r.values.as_ref().map(|v| ("values", v.span())),
        r.pool.as_ref().map(|v| ("pool", v.span())),
        r.policy
            .as_ref()
            .filter(|_| geo)
            .map(|v| ("policy = \"geo\"", v.span())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if sources.len() > 1 {
        cx.error(
            &sources[1].1,
            format!(
                "a record takes only one of values, pool, policy = \"geo\" (it has {} and {})",
                sources[0].0, sources[1].0
            ),
        );
        return None;
    }
    if !geo {
        for (v, key) in [
            (&r.datacenters, "datacenters"),
            (&r.default_order, "default_order"),
        ] {
            if let Some(v) = v {
                cx.error(
                    v.span(),
                    format!("{key} applies only to records with policy = \"geo\""),
                );
            }
        }
    }
    if geo {
        return geo_data(cx, r, rtype, env);
    }
    if let Some(p) = &r.pool {
        return balanced(cx, r, p, rtype, env);
    }
    if let Some(p) = &r.policy {
        cx.error_hint(
            p.span(),
            format!("policy \"{}\" needs a pool", p.get_ref()),
            "add pool = \"NAME\", or use values for a static record",
        );
    }
    if let Some(m) = &r.max_answers {
        cx.error(
            m.span(),
            "max_answers applies only to balanced and geo records",
        );
    }
    let Some(values) = &r.values else {
        cx.error_hint(
            r.name.span(),
            format!("record \"{}\" has no values", r.name.get_ref()),
            "add values = [...], or pool = \"NAME\" for a balanced record",
        );
        return None;
    };
    static_data(cx, values, rtype, zone)
}

fn static_data(
    cx: &mut Ctx,
    values: &S<Vec<Str>>,
    rtype: RecordType,
    zone: &str,
) -> Option<RecordData> {
    if values.get_ref().is_empty() {
        cx.error(values.span(), "values is empty");
        return None;
    }
    if rtype == RecordType::Cname && values.get_ref().len() > 1 {
        cx.error(values.span(), "a CNAME record takes exactly one value");
    }
    let mut out = Vec::new();
    for v in values.get_ref() {
        match rdata::parse(rtype, v.get_ref(), zone) {
            // a record twice in one RRset is not a set (RFC 2181 §5) and skews rotation
            Ok(d) if out.contains(&d) => cx.error(
                v.span(),
                format!("{rtype} value \"{}\" is listed twice", v.get_ref()),
            ),
            Ok(d) => out.push(d),
            Err((msg, Some(hint))) => cx.error_hint(v.span(), msg, hint),
            Err((msg, None)) => cx.error(v.span(), msg),
        }
    }
    // Every answer carries the whole RRset: one too large for a 65535-byte TCP message
    // could only ever be answered truncated, over UDP and TCP alike.
    let size: usize = out.iter().map(rdata::wire_len).sum();
    if size > MAX_RRSET_WIRE {
        cx.error_hint(
            values.span(),
            format!(
                "these {rtype} values take {size} bytes on the wire, more than one DNS message \
                 can carry ({MAX_RRSET_WIRE})"
            ),
            "spread them over several names",
        );
    }
    Some(RecordData::Static(out))
}

/// The most an RRset may take in an answer: a TCP message (65535 bytes) less room for
/// the header, the longest question, and an OPT record with Client Subnet.
const MAX_RRSET_WIRE: usize = 65535 - 12 - 259 - 35;

fn address_type(cx: &mut Ctx, r: &RawRecord, rtype: RecordType, what: &str) -> bool {
    if !rtype.is_address() {
        cx.error(
            r.rtype.span(),
            format!("{what} records must be of type A or AAAA, not {rtype}"),
        );
    }
    rtype.is_address()
}

fn max_answers(cx: &mut Ctx, r: &RawRecord) -> Option<usize> {
    r.max_answers
        .as_ref()
        .and_then(|m| values::int_in(cx, m, "max_answers", 1..=64))
        .map(|n| n as usize)
}

fn balanced(
    cx: &mut Ctx,
    r: &RawRecord,
    p: &Str,
    rtype: RecordType,
    env: &Env,
) -> Option<RecordData> {
    let options = [
        ("round_robin", BalancePolicy::RoundRobin),
        ("weighted", BalancePolicy::Weighted),
        ("failover", BalancePolicy::Failover),
        ("all", BalancePolicy::All),
    ];
    let policy = r
        .policy
        .as_ref()
        .and_then(|v| values::choice(cx, v, "record policy", &options))
        .unwrap_or_default();
    let pool = env.refs.pool(cx, p, "record");
    let max_answers = max_answers(cx, r);
    if !address_type(cx, r, rtype, "balanced") {
        return None;
    }
    if let Some(pool_def) = env.pools.iter().find(|x| x.name == pool) {
        let v4 = rtype == RecordType::A;
        if !pool_def.servers.iter().any(|s| s.address.is_ipv4() == v4) {
            let family = if v4 { "IPv4" } else { "IPv6" };
            cx.error(p.span(), format!("balanced {rtype} record needs a pool with {family} servers; pool \"{pool}\" has none"));
        }
    }
    Some(RecordData::Balanced {
        pool,
        policy,
        max_answers,
    })
}

fn geo_data(cx: &mut Ctx, r: &RawRecord, rtype: RecordType, env: &Env) -> Option<RecordData> {
    let policy = r.policy.as_ref()?;
    if !env.has_geoip {
        cx.error_hint(
            policy.span(),
            "geo records need a [geoip] database",
            "[geoip] database = \"GeoLite2-City.mmdb\"",
        );
    }
    let Some(list) = &r.datacenters else {
        cx.error_hint(
            policy.span(),
            "a geo record needs datacenters",
            "datacenters = [\"virginia\", \"frankfurt\"]",
        );
        return None;
    };
    if list.get_ref().is_empty() {
        cx.error(list.span(), "datacenters is empty");
    }
    let defined: Vec<String> = env
        .raw_datacenters
        .iter()
        .map(|d| d.name.get_ref().clone())
        .collect();
    let v4 = rtype == RecordType::A;
    let mut datacenters: Vec<String> = Vec::new();
    for d in list.get_ref() {
        if datacenters.contains(d.get_ref()) {
            // it would be answered twice: duplicate records in one RRset
            cx.error(
                d.span(),
                format!(
                    "datacenter \"{}\" is listed twice in datacenters",
                    d.get_ref()
                ),
            );
            continue;
        }
        match env.datacenters.iter().find(|x| &x.name == d.get_ref()) {
            None => undefined(cx, d, "datacenter", "datacenters", &defined),
            Some(dc) if rtype.is_address() && !dc.addresses.iter().any(|a| a.is_ipv4() == v4) => {
                let family = if v4 { "IPv4" } else { "IPv6" };
                cx.error(
                    d.span(),
                    format!(
                        "datacenter \"{}\" has no {family} address for this {rtype} record",
                        dc.name
                    ),
                );
            }
            Some(_) => {}
        }
        datacenters.push(d.get_ref().clone());
    }
    let default_order = match &r.default_order {
        None => datacenters.clone(),
        Some(order) => order
            .get_ref()
            .iter()
            .enumerate()
            .map(|(i, d)| {
                if order.get_ref()[..i]
                    .iter()
                    .any(|o| o.get_ref() == d.get_ref())
                {
                    cx.error(
                        d.span(),
                        format!(
                            "datacenter \"{}\" is listed twice in default_order",
                            d.get_ref()
                        ),
                    );
                } else if !datacenters.contains(d.get_ref()) {
                    cx.error(
                        d.span(),
                        format!(
                            "default_order datacenter \"{}\" is not in this record's datacenters",
                            d.get_ref()
                        ),
                    );
                }
                d.get_ref().clone()
            })
            .collect(),
    };
    let max_answers = max_answers(cx, r).unwrap_or(1);
    if !address_type(cx, r, rtype, "geo") {
        return None;
    }
    Some(RecordData::Geo {
        datacenters,
        max_answers,
        default_order,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_owner_names() {
        let z = "example.com";
        assert_eq!(owner_name("*", z).as_deref(), Some("*.example.com"));
        assert_eq!(owner_name("*.www", z).as_deref(), Some("*.www.example.com"));
        assert_eq!(
            owner_name("*.Example.com.", z).as_deref(),
            Some("*.example.com")
        );
        assert_eq!(owner_name("www", z).as_deref(), Some("www.example.com"));
        for bad in ["*.", "*x", "a.*", "*.*", "*.example.net.", "**"] {
            assert_eq!(owner_name(bad, z), None, "{bad}");
        }
        assert!(is_wildcard("*.example.com"));
        assert!(!is_wildcard("www.example.com"));
    }
}
