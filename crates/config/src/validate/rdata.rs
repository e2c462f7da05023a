//! DNS names and record values: `values` strings to typed [`RData`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{RData, RecordType};

/// A failed value: the message and an optional hint.
pub(crate) type Bad = (String, Option<String>);

/// Validate a domain name; lowercase, without the trailing dot.
pub(crate) fn domain(s: &str) -> Option<String> {
    let s = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then_some(s)
}

/// `"@"` is the zone; `"name."` is absolute; a name already ending in the zone
/// (`"ns1.example.com"` in `example.com`) is taken as written; anything else is relative
/// to the zone.
pub(crate) fn absolute(name: &str, zone: &str) -> Option<String> {
    if name == "@" {
        return Some(zone.to_string());
    }
    if name.ends_with('.') {
        return domain(name);
    }
    let lower = name.to_ascii_lowercase();
    if crate::model::is_within(&lower, zone) {
        return domain(&lower);
    }
    domain(&format!("{name}.{zone}"))
}

/// Top-level domains common enough that a relative name ending in one is almost
/// certainly an outside name missing its trailing dot.
const COMMON_TLDS: [&str; 16] = [
    "com", "net", "org", "io", "dev", "app", "co", "uk", "de", "fr", "nl", "eu", "info", "biz",
    "us", "cloud",
];

/// A value like `"cdn.provider.net"` in zone `example.com` would silently become
/// `cdn.provider.net.example.com`; say so instead.
fn outside_without_dot(name: &str, zone: &str) -> Option<Bad> {
    let lower = name.to_ascii_lowercase();
    let last = lower.rsplit('.').next()?;
    let outside = name != "@"
        && !name.ends_with('.')
        && lower.contains('.')
        && !crate::model::is_within(&lower, zone)
        && COMMON_TLDS.contains(&last);
    outside.then(|| {
        (
            format!("\"{name}\" would be read as \"{lower}.{zone}\" (names without a trailing dot are relative to the zone)"),
            Some(format!("for a name outside the zone write \"{name}.\"")),
        )
    })
}

/// A name value (NS, SOA primary, CNAME/NS/MX/SRV targets): absolute, and not an
/// outside name that lost its trailing dot.
pub(crate) fn target(name: &str, zone: &str, what: &str) -> Result<String, Bad> {
    if let Some(bad) = outside_without_dot(name, zone) {
        return Err(bad);
    }
    absolute(name, zone).ok_or_else(|| (format!("invalid {what} name \"{name}\""), None))
}

fn name_value(s: &str, zone: &str, what: &str) -> Result<String, Bad> {
    target(s.trim(), zone, what)
}

fn number<T: std::str::FromStr>(
    s: Option<&str>,
    what: &str,
    full: &str,
    form: &str,
) -> Result<T, Bad> {
    s.and_then(|s| s.parse().ok()).ok_or_else(|| {
        (
            format!("invalid {what} in \"{full}\""),
            Some(format!("use \"{form}\"")),
        )
    })
}

/// Parse one `values` string of a record of type `rtype` in `zone`.
pub(crate) fn parse(rtype: RecordType, s: &str, zone: &str) -> Result<RData, Bad> {
    match rtype {
        RecordType::A => s.trim().parse::<Ipv4Addr>().map(RData::A).map_err(|_| {
            let hint = matches!(s.trim().parse::<IpAddr>(), Ok(IpAddr::V6(_)))
                .then(|| "this is an IPv6 address: use type = \"AAAA\"".to_string());
            (
                format!("A record value \"{s}\" is not an IPv4 address"),
                hint,
            )
        }),
        RecordType::Aaaa => s.trim().parse::<Ipv6Addr>().map(RData::Aaaa).map_err(|_| {
            let hint = matches!(s.trim().parse::<IpAddr>(), Ok(IpAddr::V4(_)))
                .then(|| "this is an IPv4 address: use type = \"A\"".to_string());
            (
                format!("AAAA record value \"{s}\" is not an IPv6 address"),
                hint,
            )
        }),
        RecordType::Cname => name_value(s, zone, "CNAME target").map(RData::Cname),
        RecordType::Ns => name_value(s, zone, "NS").map(RData::Ns),
        RecordType::Txt => {
            if s.len() > 4000 {
                Err(("TXT value is longer than 4000 bytes".to_string(), None))
            } else {
                Ok(RData::Txt(s.to_string()))
            }
        }
        RecordType::Mx => mx(s, zone),
        RecordType::Srv => srv(s, zone),
        RecordType::Caa => caa(s),
    }
}

/// The size of one value on the wire, as a record of an answer: a 2-byte compressed owner,
/// type, class, TTL and length (10 bytes), then the rdata with names uncompressed.
pub(crate) fn wire_len(v: &RData) -> usize {
    let name = |n: &str| {
        let n = n.trim_end_matches('.');
        if n.is_empty() {
            1
        } else {
            n.len() + 2
        }
    };
    let rdata = match v {
        RData::A(_) => 4,
        RData::Aaaa(_) => 16,
        RData::Cname(n) | RData::Ns(n) => name(n),
        RData::Txt(t) => t.len() + t.len().div_ceil(255).max(1),
        RData::Mx { exchange, .. } => 2 + name(exchange),
        RData::Srv { target, .. } => 6 + name(target),
        RData::Caa { tag, value, .. } => 2 + tag.len() + value.len(),
    };
    12 + rdata
}

fn mx(s: &str, zone: &str) -> Result<RData, Bad> {
    const FORM: &str = "PREFERENCE HOST, e.g. 10 mail.example.com";
    let mut parts = s.split_whitespace();
    let preference = number(parts.next(), "MX preference", s, FORM)?;
    let host = parts.next().ok_or_else(|| {
        (
            format!("MX value \"{s}\" has no host"),
            Some(format!("use \"{FORM}\"")),
        )
    })?;
    if parts.next().is_some() {
        return Err((
            format!("MX value \"{s}\" has extra fields"),
            Some(format!("use \"{FORM}\"")),
        ));
    }
    Ok(RData::Mx {
        preference,
        // "." is the null MX of RFC 7505: this domain accepts no mail
        exchange: if host == "." {
            ".".to_string()
        } else {
            name_value(host, zone, "MX host")?
        },
    })
}

fn srv(s: &str, zone: &str) -> Result<RData, Bad> {
    const FORM: &str = "PRIORITY WEIGHT PORT TARGET, e.g. 10 5 5060 sip.example.com";
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 4 {
        return Err((
            format!("SRV value \"{s}\" needs 4 fields"),
            Some(format!("use \"{FORM}\"")),
        ));
    }
    Ok(RData::Srv {
        priority: number(Some(parts[0]), "SRV priority", s, FORM)?,
        weight: number(Some(parts[1]), "SRV weight", s, FORM)?,
        port: number(Some(parts[2]), "SRV port", s, FORM)?,
        target: if parts[3] == "." {
            ".".to_string()
        } else {
            name_value(parts[3], zone, "SRV target")?
        },
    })
}

fn caa(s: &str) -> Result<RData, Bad> {
    const FORM: &str = "FLAGS TAG \"VALUE\", e.g. 0 issue \"letsencrypt.org\"";
    let s = s.trim();
    let (flags, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
    let flags = number(Some(flags), "CAA flags", s, FORM)?;
    let rest = rest.trim_start();
    let (tag, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err((
            format!("invalid CAA tag in \"{s}\""),
            Some(format!("use \"{FORM}\"")),
        ));
    }
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    Ok(RData::Caa {
        flags,
        tag: tag.to_ascii_lowercase(),
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_every_type_parse() {
        let z = "example.com";
        assert_eq!(
            parse(RecordType::A, "192.0.2.1", z),
            Ok(RData::A([192, 0, 2, 1].into()))
        );
        assert!(parse(RecordType::Aaaa, "2001:db8::1", z).is_ok());
        assert_eq!(
            parse(RecordType::Mx, "10 mail", z),
            Ok(RData::Mx {
                preference: 10,
                exchange: "mail.example.com".into()
            })
        );
        assert_eq!(
            parse(RecordType::Srv, "10 5 5060 sip.example.net.", z),
            Ok(RData::Srv {
                priority: 10,
                weight: 5,
                port: 5060,
                target: "sip.example.net".into()
            })
        );
        assert_eq!(
            parse(RecordType::Caa, "0 issue \"letsencrypt.org\"", z),
            Ok(RData::Caa {
                flags: 0,
                tag: "issue".into(),
                value: "letsencrypt.org".into()
            })
        );
        assert_eq!(
            parse(RecordType::Cname, "www", z),
            Ok(RData::Cname("www.example.com".into()))
        );
        assert_eq!(
            parse(RecordType::Txt, "v=spf1 -all", z),
            Ok(RData::Txt("v=spf1 -all".into()))
        );
    }

    #[test]
    fn null_mx_and_srv_targets_are_the_root() {
        let z = "example.com";
        assert_eq!(
            parse(RecordType::Mx, "0 .", z),
            Ok(RData::Mx {
                preference: 0,
                exchange: ".".into()
            })
        );
        assert!(matches!(
            parse(RecordType::Srv, "0 0 0 .", z),
            Ok(RData::Srv { target, .. }) if target == "."
        ));
    }

    #[test]
    fn wrong_family_addresses_hint_the_other_type() {
        let (msg, hint) = parse(RecordType::A, "2001:db8::1", "example.com").unwrap_err();
        assert_eq!(msg, "A record value \"2001:db8::1\" is not an IPv4 address");
        assert!(hint.unwrap().contains("AAAA"));
        assert!(parse(RecordType::Mx, "ten mail", "example.com").is_err());
        assert!(parse(RecordType::Srv, "1 2 3", "example.com").is_err());
    }

    #[test]
    fn outside_names_without_trailing_dot_are_caught() {
        let (msg, hint) = target("cdn.provider.net", "example.com", "CNAME").unwrap_err();
        assert_eq!(
            msg,
            "\"cdn.provider.net\" would be read as \"cdn.provider.net.example.com\" \
             (names without a trailing dot are relative to the zone)"
        );
        assert_eq!(
            hint.as_deref(),
            Some("for a name outside the zone write \"cdn.provider.net.\"")
        );
        assert_eq!(
            target("cdn.provider.net.", "example.com", "CNAME").as_deref(),
            Ok("cdn.provider.net")
        );
        assert_eq!(
            target("www.eu-west", "example.com", "CNAME").as_deref(),
            Ok("www.eu-west.example.com")
        );
    }

    #[test]
    fn names_are_made_absolute() {
        assert_eq!(absolute("@", "example.com").as_deref(), Some("example.com"));
        assert_eq!(
            absolute("WWW", "example.com").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(
            absolute("other.org.", "example.com").as_deref(),
            Some("other.org")
        );
        assert_eq!(
            absolute("_sip._tcp", "example.com").as_deref(),
            Some("_sip._tcp.example.com")
        );
        assert_eq!(
            absolute("ns1.Example.com", "example.com").as_deref(),
            Some("ns1.example.com")
        );
        assert_eq!(absolute("bad name", "example.com"), None);
        assert_eq!(absolute("a..b", "example.com"), None);
    }
}
