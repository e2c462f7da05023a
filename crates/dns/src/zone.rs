//! The compiled zone data the answer path reads: names in lowercase wire form, records
//! pre-encoded as ready-to-copy wire bytes.
//!
//! Like gdnsd's ltree, everything that does not depend on the query is done once when the
//! configuration is loaded: a static record is stored as its wire "tail" (type, class,
//! TTL, rdlength, rdata), so answering is a 2-byte owner pointer plus a `memcpy`. Only
//! balanced and geo RRsets are computed per query, from the pools' health snapshots.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::dynamic::{Balanced, Geo};
use crate::wire::{rtype, CLASS_IN};

/// A map keyed by lowercase wire names, with a cheap non-cryptographic hash (FNV-1a):
/// the keys are our own configuration, so hash flooding is not a concern.
pub type NameMap<V> = HashMap<Box<[u8]>, V, BuildHasherDefault<Fnv>>;

/// Every zone of a listener.
#[derive(Debug, Default)]
pub struct Catalog {
    /// The zones.
    pub zones: Vec<Zone>,
    /// Apex wire name to index in `zones`.
    pub by_apex: NameMap<usize>,
    /// Bit `n` set when some zone's apex has `n` labels: the only suffix lengths of a
    /// query name worth looking up.
    pub apex_depths: u128,
}

/// One zone.
#[derive(Debug)]
pub struct Zone {
    /// The apex, lowercase wire form.
    pub apex: Box<[u8]>,
    /// Labels in the apex (not counting the root).
    pub apex_labels: usize,
    /// The SOA record's tail with the negative-caching TTL (RFC 2308 §5: the minimum of
    /// the SOA's TTL and its MINIMUM field), for NXDOMAIN and NODATA answers.
    pub negative_soa: Box<[u8]>,
    /// The RFC 8482 answer to ANY (`HINFO "RFC8482" ""`, the zone's TTL), as a tail.
    pub hinfo: Box<[u8]>,
    /// Every owner name (and every empty non-terminal) in the zone.
    pub nodes: NameMap<Node>,
    /// Whether some name below the apex has NS records (a delegation).
    pub has_cuts: bool,
    /// Whether the zone has wildcard names (`*.…`, RFC 4592), so a name that is not in
    /// `nodes` needs a closest-encloser search before it is NXDOMAIN.
    pub has_wildcards: bool,
}

/// The RRsets at one name; empty for an empty non-terminal.
#[derive(Debug, Default)]
pub struct Node {
    /// One RRset per type, in configuration order.
    pub sets: Vec<RRset>,
}

/// The records of one type at one name.
#[derive(Debug)]
pub struct RRset {
    /// The record type.
    pub rtype: u16,
    /// TTL of every record in it.
    pub ttl: u32,
    /// Where the records come from.
    pub data: SetData,
}

/// The source of an RRset's records.
#[derive(Debug)]
pub enum SetData {
    /// Configured values.
    Static(StaticSet),
    /// A pool's healthy servers.
    Balanced(Balanced),
    /// The nearest healthy datacenter's addresses.
    Geo(Geo),
}

/// Configured records, pre-encoded.
#[derive(Debug)]
pub struct StaticSet {
    /// Each record's wire tail (type, class, TTL, rdlength, rdata).
    pub tails: Vec<Box<[u8]>>,
    /// For a CNAME: the target, lowercase wire form.
    pub target: Option<Box<[u8]>>,
    /// Round-robin position.
    next: AtomicUsize,
}

/// FNV-1a.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

// === impl Catalog ===

impl Catalog {
    /// The zone holding the query name, by longest matching suffix, with the label index
    /// where its apex starts in the name.
    pub fn find(&self, q: &crate::wire::Query) -> Option<(&Zone, usize)> {
        (0..=q.label_count)
            .filter(|&i| self.apex_depths & (1u128 << (q.label_count - i).min(127)) != 0)
            .find_map(|i| {
                self.by_apex
                    .get(q.suffix(i))
                    .and_then(|&z| self.zones.get(z))
                    .map(|z| (z, i))
            })
    }
}

// === impl Node ===

impl Node {
    /// The RRset of `rtype`.
    pub fn get(&self, rtype: u16) -> Option<&RRset> {
        self.sets.iter().find(|s| s.rtype == rtype)
    }
}

// === impl StaticSet ===

impl StaticSet {
    /// A set of pre-encoded tails.
    pub fn new(tails: Vec<Box<[u8]>>, target: Option<Box<[u8]>>) -> Self {
        StaticSet {
            tails,
            target,
            next: AtomicUsize::new(0),
        }
    }

    /// Where this answer's rotation starts (advances the round-robin position).
    pub fn rotation(&self) -> usize {
        match self.tails.len() {
            0 | 1 => 0,
            n => self.next.fetch_add(1, Ordering::Relaxed) % n,
        }
    }
}

// === impl Fnv ===

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A record's wire tail: type, class IN, TTL, rdlength, rdata.
pub fn tail(rtype: u16, ttl: u32, rdata: &[u8]) -> Box<[u8]> {
    let mut t = Vec::with_capacity(10 + rdata.len());
    t.extend_from_slice(&rtype.to_be_bytes());
    t.extend_from_slice(&CLASS_IN.to_be_bytes());
    t.extend_from_slice(&ttl.to_be_bytes());
    t.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    t.extend_from_slice(rdata);
    t.into_boxed_slice()
}

/// The RFC 8482 answer to ANY: `HINFO "RFC8482" ""`, as rdata.
pub const HINFO_RFC8482: &[u8] = b"\x07RFC8482\x00";

/// Whether `rtype` is an address type, and which family (`Some(true)` = IPv6).
pub fn address_family(t: u16) -> Option<bool> {
    match t {
        rtype::A => Some(false),
        rtype::AAAA => Some(true),
        _ => None,
    }
}
