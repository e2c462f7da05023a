//! The file as written: serde structs mirroring the TOML, every value with its span.
//!
//! Shapes only: types are loose (`i64` for counts, `String` for durations and addresses)
//! so that range and format problems become located, operator-worded errors in
//! `validate` instead of serde's generic ones. `deny_unknown_fields` everywhere.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// A spanned value.
pub(crate) type S<T> = Spanned<T>;
/// A spanned string.
pub(crate) type Str = Spanned<String>;
/// A spanned `{ key = "value" }` table.
pub(crate) type StrMap = Spanned<BTreeMap<String, String>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub global: Option<RawGlobal>,
    pub admin: Option<S<RawAdmin>>,
    #[serde(default)]
    pub pool: Vec<RawPool>,
    #[serde(default)]
    pub listener: Vec<RawListener>,
    #[serde(default)]
    pub zone: Vec<RawZone>,
    #[serde(default)]
    pub datacenter: Vec<RawDatacenter>,
    pub geoip: Option<RawGeoIp>,
    pub anycast: Option<S<RawAnycast>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGlobal {
    pub shutdown_timeout: Option<Str>,
    pub workers: Option<S<i64>>,
    pub access_log: Option<RawAccessLog>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAccessLog {
    pub target: Option<Str>,
    pub format: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub listen: Str,
    pub token: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPool {
    pub name: Str,
    pub algorithm: Option<Str>,
    pub hash_key: Option<Str>,
    pub slow_start: Option<Str>,
    pub panic_threshold: Option<S<i64>>,
    pub drain_timeout: Option<Str>,
    pub backend_protocol: Option<Str>,
    pub ring_vnodes: Option<S<i64>>,
    pub hash_balance_factor: Option<S<f64>>,
    pub maglev_table_size: Option<S<i64>>,
    pub ewma_decay: Option<Str>,
    pub health: Option<RawHealth>,
    pub outlier: Option<RawOutlier>,
    pub affinity: Option<RawAffinity>,
    #[serde(default)]
    pub server: Vec<RawServer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    pub check: Option<Str>,
    pub path: Option<Str>,
    pub host: Option<Str>,
    pub method: Option<Str>,
    pub expect_status: Option<Str>,
    pub expect_body: Option<Str>,
    pub service: Option<Str>,
    pub tls: Option<bool>,
    pub interval: Option<Str>,
    pub timeout: Option<Str>,
    pub rise: Option<S<i64>>,
    pub fall: Option<S<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutlier {
    pub consecutive_failures: Option<S<i64>>,
    pub base_ejection: Option<Str>,
    pub max_ejection: Option<Str>,
    pub max_ejection_percent: Option<S<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAffinity {
    pub kind: Str,
    pub cookie: Option<Str>,
    pub header: Option<Str>,
    pub ttl: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub name: Str,
    pub address: Str,
    pub weight: Option<S<i64>>,
    pub backup: Option<bool>,
    pub check_address: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawListener {
    pub name: Str,
    pub protocol: Str,
    pub listen: Str,
    pub pool: Option<Str>,
    pub max_connections: Option<S<i64>>,
    pub timeouts: Option<RawTimeouts>,
    #[serde(default)]
    pub route: Vec<S<RawRoute>>,
    pub tls: Option<S<RawTls>>,
    pub proxy_protocol: Option<Str>,
    pub accept_proxy_protocol: Option<S<bool>>,
    pub splice: Option<S<bool>>,
    pub max_flows: Option<S<i64>>,
    pub rate_limit: Option<S<i64>>,
    pub max_tcp_connections: Option<S<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimeouts {
    pub connect: Option<Str>,
    pub request_header: Option<Str>,
    pub backend: Option<Str>,
    pub idle: Option<Str>,
    pub handshake: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub pool: Option<Str>,
    pub sni: Option<Str>,
    pub host: Option<Str>,
    pub path: Option<Str>,
    pub path_prefix: Option<Str>,
    pub path_regex: Option<Str>,
    pub method: Option<S<OneOrMany>>,
    pub header: Option<StrMap>,
    pub cookie: Option<StrMap>,
    pub query: Option<StrMap>,
    pub content_type: Option<Str>,
    pub redirect: Option<Str>,
    pub redirect_status: Option<S<i64>>,
    pub respond: Option<S<RawRespond>>,
    pub strip_prefix: Option<S<bool>>,
    pub set_headers: Option<StrMap>,
    pub remove_headers: Option<S<Vec<Str>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRespond {
    pub status: S<i64>,
    #[serde(default)]
    pub body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    #[serde(default)]
    pub certificates: Vec<RawCertKey>,
    pub alpn: Option<Vec<Str>>,
    pub min_version: Option<Str>,
    pub backend_tls: Option<RawBackendTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCertKey {
    pub cert: Str,
    pub key: Str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBackendTls {
    pub ca: Str,
    pub server_name: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawZone {
    pub name: Str,
    pub ttl: Option<S<IntOrStr>>,
    pub ns: S<Vec<Str>>,
    pub soa: Option<RawSoa>,
    #[serde(default)]
    pub record: Vec<RawRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSoa {
    pub primary: Option<Str>,
    pub contact: Option<Str>,
    pub serial: Option<S<i64>>,
    pub refresh: Option<S<IntOrStr>>,
    pub retry: Option<S<IntOrStr>>,
    pub expire: Option<S<IntOrStr>>,
    pub minimum: Option<S<IntOrStr>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecord {
    pub name: Str,
    #[serde(rename = "type")]
    pub rtype: Str,
    pub values: Option<S<Vec<Str>>>,
    pub ttl: Option<S<IntOrStr>>,
    pub pool: Option<Str>,
    pub policy: Option<Str>,
    pub max_answers: Option<S<i64>>,
    pub datacenters: Option<S<Vec<Str>>>,
    pub default_order: Option<S<Vec<Str>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDatacenter {
    pub name: Str,
    pub latitude: S<f64>,
    pub longitude: S<f64>,
    pub addresses: S<Vec<Str>>,
    pub pool: Option<Str>,
    #[serde(default)]
    pub countries: Vec<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGeoIp {
    pub database: Str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnycast {
    pub bird_socket: Option<Str>,
    pub hold_down: Option<Str>,
    pub withdraw_delay: Option<Str>,
    #[serde(default)]
    pub announce: Vec<RawAnnounce>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnnounce {
    pub prefix: Str,
    pub bird_protocol: Str,
    pub pools: S<Vec<Str>>,
    pub min_healthy: Option<S<i64>>,
}

/// `ttl = 300` or `ttl = "5m"`.
pub(crate) enum IntOrStr {
    Int(i64),
    Str(String),
}

/// `method = "GET"` or `method = ["GET", "HEAD"]`.
pub(crate) struct OneOrMany(pub Vec<String>);

// === impl IntOrStr ===

impl<'de> Deserialize<'de> for IntOrStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IntOrStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds or a duration string like \"5m\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrStr, E> {
                Ok(IntOrStr::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrStr, E> {
                Ok(IntOrStr::Int(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrStr, E> {
                Ok(IntOrStr::Str(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

// === impl OneOrMany ===

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}
