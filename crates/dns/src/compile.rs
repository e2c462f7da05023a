//! Turning the validated `[[zone]]` configuration into a [`Catalog`].
//!
//! The one place that knows both the configuration model and the wire form: names become
//! lowercase wire names (checked by hickory-proto's `Name`), static values become
//! pre-encoded record tails, balanced and geo records get their pool and datacenter
//! handles. Records of one owner and type are merged into one RRset; every ancestor of an
//! owner inside the zone becomes an (empty non-terminal) node so that it answers NODATA,
//! not NXDOMAIN.

use std::collections::HashMap;
use std::sync::Arc;

use hickory_proto::rr::Name;
use switchyard_balance::Pool;
use switchyard_config as config;

use crate::dynamic::Balanced;
use crate::geo::{Datacenters, Geo};
use crate::wire::rtype;
use crate::zone::{tail, Catalog, NameMap, Node, RRset, SetData, StaticSet, Zone, HINFO_RFC8482};
use crate::BuildError;

/// What compiling records needs besides the zones.
pub struct Inputs<'a> {
    /// Pools by name.
    pub pools: &'a HashMap<String, Arc<Pool>>,
    /// The datacenters geo records may name.
    pub datacenters: &'a Arc<Datacenters>,
}

/// Compile every zone.
pub fn catalog(zones: &[config::Zone], inputs: &Inputs<'_>) -> Result<Catalog, BuildError> {
    let mut catalog = Catalog::default();
    for z in zones {
        let zone = compile_zone(z, inputs)?;
        if catalog
            .by_apex
            .insert(zone.apex.clone(), catalog.zones.len())
            .is_some()
        {
            return Err(BuildError::Zone {
                zone: z.name.clone(),
                reason: "defined twice".into(),
            });
        }
        catalog.apex_depths |= 1u128 << zone.apex_labels.min(127);
        catalog.zones.push(zone);
    }
    Ok(catalog)
}

/// Compile one zone.
fn compile_zone(z: &config::Zone, inputs: &Inputs<'_>) -> Result<Zone, BuildError> {
    let zone_err = |reason: String| BuildError::Zone {
        zone: z.name.clone(),
        reason,
    };
    let apex = wire_name(&z.name).map_err(&zone_err)?;
    let apex_labels = label_count(&apex);
    let soa = soa_rdata(&z.soa).map_err(&zone_err)?;
    let mut nodes: NameMap<Node> = NameMap::default();
    let mut apex_node = Node::default();
    apex_node
        .sets
        .push(static_set(rtype::SOA, z.ttl, vec![soa.clone()], None));
    let ns: Result<Vec<Vec<u8>>, String> = z.ns.iter().map(|n| wire_name(n)).collect();
    apex_node
        .sets
        .push(static_set(rtype::NS, z.ttl, ns.map_err(&zone_err)?, None));
    nodes.insert(apex.clone().into(), apex_node);

    let (mut has_cuts, mut has_wildcards) = (false, false);
    for r in &z.records {
        let record_err = |reason: String| BuildError::Record {
            zone: z.name.clone(),
            name: r.name.clone(),
            rtype: r.rtype.to_string(),
            reason,
        };
        let owner = wire_name(&r.owner).map_err(&record_err)?;
        if !owner.ends_with(&apex) {
            return Err(record_err("the name is outside the zone".into()));
        }
        let set = record_set(r, inputs).map_err(&record_err)?;
        let wild = owner.starts_with(b"\x01*");
        if wild && set.rtype == rtype::NS {
            return Err(record_err(
                "a wildcard cannot hold NS records (RFC 4592 4.2)".into(),
            ));
        }
        has_wildcards |= wild;
        has_cuts |= set.rtype == rtype::NS && owner != apex;
        add_ancestors(&mut nodes, &owner, apex_labels);
        let node = nodes.entry(owner.into()).or_default();
        merge(node, set).map_err(&record_err)?;
    }
    Ok(Zone {
        negative_soa: tail(rtype::SOA, z.ttl.min(z.soa.minimum), &soa),
        apex: apex.into(),
        apex_labels,
        hinfo: tail(rtype::HINFO, z.ttl, HINFO_RFC8482),
        nodes,
        has_cuts,
        has_wildcards,
    })
}

/// The RRset one `[[zone.record]]` describes.
fn record_set(r: &config::Record, inputs: &Inputs<'_>) -> Result<RRset, String> {
    let t = type_code(r.rtype);
    let v6 = r.rtype == config::RecordType::Aaaa;
    let data = match &r.data {
        config::RecordData::Static(values) => {
            let mut rdatas = Vec::with_capacity(values.len());
            for v in values {
                rdatas.push(rdata(v)?);
            }
            let target = match values.first() {
                Some(config::RData::Cname(t)) => Some(wire_name(t)?.into()),
                _ => None,
            };
            return Ok(static_set(t, r.ttl, rdatas, target));
        }
        config::RecordData::Balanced {
            pool,
            policy,
            max_answers,
        } => {
            let handle = inputs
                .pools
                .get(pool)
                .ok_or_else(|| format!("pool {pool:?} does not exist"))?;
            SetData::Balanced(Balanced::new(
                pool.clone(),
                Arc::clone(handle),
                *policy,
                *max_answers,
                v6,
            ))
        }
        config::RecordData::Geo {
            datacenters,
            max_answers,
            default_order,
        } => SetData::Geo(Geo::new(
            inputs.datacenters,
            datacenters,
            default_order,
            *max_answers,
            v6,
        )?),
    };
    Ok(RRset {
        rtype: t,
        ttl: r.ttl,
        data,
    })
}

/// Add `set` to `node`, merging static values of a type already there.
fn merge(node: &mut Node, set: RRset) -> Result<(), String> {
    let clash = |t: u16| t == rtype::CNAME || set.rtype == rtype::CNAME;
    if let Some(existing) = node.sets.iter_mut().find(|s| s.rtype == set.rtype) {
        return match (&mut existing.data, set.data) {
            (SetData::Static(a), SetData::Static(b)) if set.rtype != rtype::CNAME => {
                let mut tails = std::mem::take(&mut a.tails);
                tails.extend(b.tails);
                *a = StaticSet::new(tails, None);
                Ok(())
            }
            _ => Err("this name and type is defined twice".into()),
        };
    }
    if node.sets.iter().any(|s| clash(s.rtype)) {
        return Err("a CNAME cannot share its name with other records".into());
    }
    node.sets.push(set);
    Ok(())
}

/// Insert empty nodes for every name strictly between `owner` and the apex.
fn add_ancestors(nodes: &mut NameMap<Node>, owner: &[u8], apex_labels: usize) {
    let mut pos = 0;
    let mut labels = label_count(owner);
    while labels > apex_labels + 1 {
        pos += 1 + owner[pos] as usize;
        labels -= 1;
        nodes.entry(owner[pos..].into()).or_default();
    }
}

/// A static RRset from rdatas.
fn static_set(t: u16, ttl: u32, rdatas: Vec<Vec<u8>>, target: Option<Box<[u8]>>) -> RRset {
    let tails = rdatas.iter().map(|r| tail(t, ttl, r)).collect();
    RRset {
        rtype: t,
        ttl,
        data: SetData::Static(StaticSet::new(tails, target)),
    }
}

/// The wire type code of a configured type.
fn type_code(t: config::RecordType) -> u16 {
    match t {
        config::RecordType::A => rtype::A,
        config::RecordType::Aaaa => rtype::AAAA,
        config::RecordType::Cname => rtype::CNAME,
        config::RecordType::Txt => rtype::TXT,
        config::RecordType::Mx => rtype::MX,
        config::RecordType::Srv => rtype::SRV,
        config::RecordType::Caa => rtype::CAA,
        config::RecordType::Ns => rtype::NS,
    }
}

/// One value's rdata in wire form (names uncompressed, lowercase).
fn rdata(v: &config::RData) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match v {
        config::RData::A(a) => out.extend_from_slice(&a.octets()),
        config::RData::Aaaa(a) => out.extend_from_slice(&a.octets()),
        config::RData::Cname(n) | config::RData::Ns(n) => out = wire_name(n)?,
        config::RData::Txt(text) => {
            let bytes = text.as_bytes();
            if bytes.is_empty() {
                out.push(0);
            }
            for chunk in bytes.chunks(255) {
                out.push(chunk.len() as u8);
                out.extend_from_slice(chunk);
            }
        }
        config::RData::Mx {
            preference,
            exchange,
        } => {
            out.extend_from_slice(&preference.to_be_bytes());
            out.extend(wire_name(exchange)?);
        }
        config::RData::Srv {
            priority,
            weight,
            port,
            target,
        } => {
            for n in [priority, weight, port] {
                out.extend_from_slice(&n.to_be_bytes());
            }
            out.extend(wire_name(target)?);
        }
        config::RData::Caa { flags, tag, value } => {
            let tag_len = u8::try_from(tag.len())
                .ok()
                .filter(|l| (1..=15).contains(l))
                .ok_or_else(|| format!("CAA tag {tag:?} must be 1 to 15 characters"))?;
            out.push(*flags);
            out.push(tag_len);
            out.extend_from_slice(tag.as_bytes());
            out.extend_from_slice(value.as_bytes());
        }
    }
    if out.len() > 65535 - 512 {
        return Err("the value is too long for a DNS record".into());
    }
    Ok(out)
}

/// The SOA rdata.
fn soa_rdata(soa: &config::Soa) -> Result<Vec<u8>, String> {
    let mut out = wire_name(&soa.primary)?;
    out.extend(wire_name(&soa.contact)?);
    for n in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    Ok(out)
}

/// A configured name (absolute, no trailing dot) as a lowercase wire name.
pub fn wire_name(name: &str) -> Result<Vec<u8>, String> {
    let trimmed = name.trim_end_matches('.');
    let parsed = if trimmed.is_empty() {
        Name::root()
    } else {
        Name::from_ascii(format!("{trimmed}."))
            .map_err(|e| format!("{name:?} is not a valid DNS name: {e}"))?
    };
    let mut out = Vec::with_capacity(parsed.len() + 1);
    for label in parsed.iter() {
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
    Ok(out)
}

/// Labels in a wire name (not counting the root).
fn label_count(wire: &[u8]) -> usize {
    let (mut pos, mut n) = (0, 0);
    while let Some(&len) = wire.get(pos) {
        if len == 0 {
            break;
        }
        pos += 1 + len as usize;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_lowercase_and_rooted() {
        assert_eq!(
            wire_name("WWW.Example.com").unwrap(),
            b"\x03www\x07example\x03com\x00"
        );
        assert_eq!(wire_name("").unwrap(), b"\x00");
        assert!(wire_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn long_txt_is_split_into_character_strings() {
        let r = rdata(&config::RData::Txt("x".repeat(300))).unwrap();
        assert_eq!(r[0], 255);
        assert_eq!(r[256], 45);
        assert_eq!(r.len(), 302);
        assert_eq!(rdata(&config::RData::Txt(String::new())).unwrap(), [0]);
    }

    #[test]
    fn empty_non_terminals_become_nodes() {
        let mut nodes = NameMap::default();
        let owner = wire_name("a.b.example.com").unwrap();
        add_ancestors(&mut nodes, &owner, 2);
        assert!(nodes.contains_key(&b"\x01b\x07example\x03com\x00"[..]));
        assert_eq!(nodes.len(), 1);
    }
}
