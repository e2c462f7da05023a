//! `[[zone]]`: authoritative zones with static, pool-balanced and geo records.
//!
//! Every DNS name in the model is absolute, lowercase and written without the trailing
//! dot (`"ns1.example.com"`); the DNS crate adds the root label on the wire. TTLs and
//! SOA timers are whole seconds (`u32`), as on the wire.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// `[[zone]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// `name`, required: the apex, e.g. `"example.com"`, unique among zones.
    pub name: String,
    /// `ttl`, default 300: seconds (or a duration string); the default record TTL.
    pub ttl: u32,
    /// `ns`, required, non-empty: the zone's name servers (relative names get the zone
    /// appended unless they end with `.`).
    pub ns: Vec<String>,
    /// `[zone.soa]`.
    pub soa: Soa,
    /// `[[zone.record]]`, in file order.
    pub records: Vec<Record>,
}

/// `[zone.soa]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    /// `primary`, default the first `ns`.
    pub primary: String,
    /// `contact`, default `"hostmaster.ZONE"`: the mailbox in DNS form.
    pub contact: String,
    /// `serial`, default 1.
    pub serial: u32,
    /// `refresh`, default `"2h"`, in seconds.
    pub refresh: u32,
    /// `retry`, default `"30m"`, in seconds.
    pub retry: u32,
    /// `expire`, default `"14d"`, in seconds.
    pub expire: u32,
    /// `minimum`, default `"5m"`, in seconds: the negative-caching TTL.
    pub minimum: u32,
}

/// `[[zone.record]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// `name`, required: as written, `"@"` for the apex or a name relative to the zone.
    pub name: String,
    /// The absolute owner name, e.g. `"www.example.com"`.
    pub owner: String,
    /// `type`, required.
    pub rtype: RecordType,
    /// `ttl`, default the zone's `ttl`.
    pub ttl: u32,
    /// `values`, or `pool` + `policy`, or `policy = "geo"` + `datacenters`.
    pub data: RecordData,
}

/// `zone.record.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// `"A"`.
    A,
    /// `"AAAA"`.
    Aaaa,
    /// `"CNAME"`.
    Cname,
    /// `"TXT"`.
    Txt,
    /// `"MX"`.
    Mx,
    /// `"SRV"`.
    Srv,
    /// `"CAA"`.
    Caa,
    /// `"NS"`.
    Ns,
}

/// Where a record's answers come from.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordData {
    /// `values = [...]`: a static RRset, rotated per answer when it has several values.
    Static(Vec<RData>),
    /// `pool = "..."`: answers from the pool's healthy servers (A: IPv4, AAAA: IPv6).
    Balanced {
        /// `pool`.
        pool: String,
        /// `policy`, default `"round_robin"`.
        policy: BalancePolicy,
        /// `max_answers`, optional (>= 1): absent = every healthy server.
        max_answers: Option<usize>,
    },
    /// `policy = "geo"`: the nearest healthy datacenter's addresses.
    Geo {
        /// `datacenters`, required, non-empty.
        datacenters: Vec<String>,
        /// `max_answers`, default 1: how many datacenters (nearest first) to answer with.
        max_answers: usize,
        /// `default_order`, default = `datacenters`: the order used when the client's
        /// location is unknown (no GeoIP match).
        default_order: Vec<String>,
    },
}

/// `zone.record.policy` of a balanced record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BalancePolicy {
    /// `"round_robin"` (default): rotate through healthy servers.
    #[default]
    RoundRobin,
    /// `"weighted"`: healthy servers drawn by weight.
    Weighted,
    /// `"failover"`: the first healthy server in file order (backups last).
    Failover,
    /// `"all"`: every healthy server.
    All,
}

/// One typed record value, parsed from a `values` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    /// `"192.0.2.1"`.
    A(Ipv4Addr),
    /// `"2001:db8::1"`.
    Aaaa(Ipv6Addr),
    /// `"target.example.com"` (absolute).
    Cname(String),
    /// `"ns1.example.com"` (absolute).
    Ns(String),
    /// `"any text"`: split into 255-byte character-strings on the wire.
    Txt(String),
    /// `"10 mail.example.com"`.
    Mx {
        /// Preference, lower first.
        preference: u16,
        /// Mail exchanger (absolute).
        exchange: String,
    },
    /// `"10 5 5060 sip.example.com"`.
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port.
        port: u16,
        /// Target (absolute).
        target: String,
    },
    /// `0 issue "letsencrypt.org"`.
    Caa {
        /// Flags (128 = critical).
        flags: u8,
        /// `issue`, `issuewild` or `iodef` (or another tag, lowercase).
        tag: String,
        /// The value, without quotes.
        value: String,
    },
}

// === impl RecordType ===

impl RecordType {
    /// Every type with its configuration spelling.
    pub const ALL: [(RecordType, &'static str); 8] = [
        (RecordType::A, "A"),
        (RecordType::Aaaa, "AAAA"),
        (RecordType::Cname, "CNAME"),
        (RecordType::Txt, "TXT"),
        (RecordType::Mx, "MX"),
        (RecordType::Srv, "SRV"),
        (RecordType::Caa, "CAA"),
        (RecordType::Ns, "NS"),
    ];

    /// The configuration spelling (`"AAAA"`).
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(t, _)| *t == self)
            .map_or("A", |(_, n)| n)
    }

    /// Parse `"A"`, `"aaaa"`, ... (case-insensitive).
    pub fn parse(s: &str) -> Option<RecordType> {
        Self::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(t, _)| *t)
    }

    /// Whether records of this type may be balanced or geo (address records).
    pub fn is_address(self) -> bool {
        matches!(self, RecordType::A | RecordType::Aaaa)
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl BalancePolicy ===

impl BalancePolicy {
    /// Configuration names (plus `"geo"`, which makes a geo record).
    pub const NAMES: [&'static str; 4] = ["round_robin", "weighted", "failover", "all"];
}

// === impl RData ===

impl RData {
    /// The record type of this value.
    pub fn rtype(&self) -> RecordType {
        match self {
            RData::A(_) => RecordType::A,
            RData::Aaaa(_) => RecordType::Aaaa,
            RData::Cname(_) => RecordType::Cname,
            RData::Ns(_) => RecordType::Ns,
            RData::Txt(_) => RecordType::Txt,
            RData::Mx { .. } => RecordType::Mx,
            RData::Srv { .. } => RecordType::Srv,
            RData::Caa { .. } => RecordType::Caa,
        }
    }
}

// === impl Zone ===

impl Zone {
    /// The records whose owner is `fqdn` (lowercase, no trailing dot).
    pub fn records_at<'a>(&'a self, fqdn: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records.iter().filter(move |r| r.owner == fqdn)
    }
}

/// Whether `name` is `zone` or below it (both lowercase, no trailing dot).
pub fn is_within(name: &str, zone: &str) -> bool {
    name == zone
        || (name.len() > zone.len()
            && name.ends_with(zone)
            && name.as_bytes()[name.len() - zone.len() - 1] == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_zone_needs_a_label_boundary() {
        assert!(is_within("www.example.com", "example.com"));
        assert!(is_within("example.com", "example.com"));
        assert!(!is_within("badexample.com", "example.com"));
        assert!(!is_within("com", "example.com"));
    }

    #[test]
    fn record_types_parse_case_insensitively() {
        assert_eq!(RecordType::parse("aaaa"), Some(RecordType::Aaaa));
        assert_eq!(RecordType::parse("PTR"), None);
        assert_eq!(RecordType::Srv.to_string(), "SRV");
    }
}
