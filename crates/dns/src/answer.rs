//! Building the answer to one parsed query into a reused buffer.
//!
//! The response is written front to back: header, the question copied byte for byte from
//! the query (so the client's letter case comes back unchanged), answer records whose
//! owner is a 2-byte compression pointer into that question, then the SOA for negative
//! answers and the OPT record. If the result is larger than the client can take, it is cut
//! back to header + question + OPT with TC set, and the client retries over TCP.

use std::net::IpAddr;

use crate::dynamic::{Authority, Scratch};
use crate::wire::{rcode, rtype, Query, Reject, CLASS_IN, OPTION_ECS};
use crate::zone::{SetData, Zone};

/// The UDP payload size we advertise and the most we send over UDP with EDNS (the DNS
/// flag day 2020 value, safe from IP fragmentation).
pub const EDNS_UDP_MAX: u16 = 1232;
/// Longest CNAME chain followed inside a zone.
const MAX_CHAIN: usize = 8;

/// What was answered, for statistics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answered {
    /// The full (extended) rcode.
    pub rcode: u16,
    /// Whether TC was set.
    pub truncated: bool,
}

/// Where the answer stands while records are being added.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    answers: u16,
    authority: u16,
}

// === impl Writer ===

impl Writer<'_> {
    /// Append one record: a compression pointer to `owner`, then the tail.
    fn record(&mut self, owner: u16, tail: &[u8]) {
        self.out.extend_from_slice(&(0xC000 | owner).to_be_bytes());
        self.out.extend_from_slice(tail);
    }

    /// Append an address record computed per query.
    fn address(&mut self, owner: u16, ttl: u32, addr: IpAddr) {
        self.out.extend_from_slice(&(0xC000 | owner).to_be_bytes());
        let (t, len) = match addr {
            IpAddr::V4(_) => (rtype::A, 4u16),
            IpAddr::V6(_) => (rtype::AAAA, 16),
        };
        self.out.extend_from_slice(&t.to_be_bytes());
        self.out.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.out.extend_from_slice(&ttl.to_be_bytes());
        self.out.extend_from_slice(&len.to_be_bytes());
        match addr {
            IpAddr::V4(a) => self.out.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => self.out.extend_from_slice(&a.octets()),
        }
    }
}

/// Answer `q` (parsed from `packet`) into `out`, at most `limit` bytes long.
pub fn answer(
    auth: &Authority,
    packet: &[u8],
    q: &Query,
    client: IpAddr,
    limit: usize,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
) -> Answered {
    out.clear();
    header(out, q.id, 0, q.rd);
    out.extend_from_slice(&packet[12..q.question_end]);
    out[5] = 1;
    let mut ecs_scope = None;
    let rc = match q.edns {
        Some(e) if e.version > 0 => rcode::BADVERS,
        _ => {
            let mut w = Writer {
                out,
                answers: 0,
                authority: 0,
            };
            let rc = resolve(auth, q, client, scratch, &mut w, &mut ecs_scope);
            let (an, ns) = (w.answers, w.authority);
            out[6..8].copy_from_slice(&an.to_be_bytes());
            out[8..10].copy_from_slice(&ns.to_be_bytes());
            rc
        }
    };
    finish(out, q, rc, ecs_scope, limit)
}

/// Set the rcode, add the OPT record, and truncate when over `limit`.
fn finish(out: &mut Vec<u8>, q: &Query, rc: u16, scope: Option<u8>, limit: usize) -> Answered {
    out[3] = (out[3] & 0xF0) | (rc & 0xF) as u8;
    let aa = matches!(rc as u8, rcode::NOERROR | rcode::NXDOMAIN) && rc < 16 && out[2] & 0x04 != 0;
    if !aa {
        out[2] &= !0x04;
    }
    push_opt(out, q, rc, scope);
    let truncated = out.len() > limit;
    if truncated {
        out.truncate(q.question_end);
        out[6..12].fill(0);
        out[2] |= 0x02;
        push_opt(out, q, rc, scope);
    }
    Answered {
        rcode: rc,
        truncated,
    }
}

/// A response with TC set and no records (rate limiting: real clients retry over TCP).
pub fn slip(packet: &[u8], q: &Query, out: &mut Vec<u8>) -> Answered {
    out.clear();
    header(out, q.id, 0, q.rd);
    out.extend_from_slice(&packet[12..q.question_end]);
    out[5] = 1;
    out[2] |= 0x02;
    push_opt(out, q, 0, None);
    Answered {
        rcode: 0,
        truncated: true,
    }
}

/// A header-only error answer (FORMERR, NOTIMP).
pub fn reject(r: Reject, out: &mut Vec<u8>) -> Answered {
    out.clear();
    header(out, r.id, r.opcode, r.rd);
    out[2] &= !0x04;
    out[3] |= r.rcode & 0xF;
    Answered {
        rcode: u16::from(r.rcode),
        truncated: false,
    }
}

/// Write a 12-byte response header: QR, AA, the opcode and RD; every count zero.
fn header(out: &mut Vec<u8>, id: u16, opcode: u8, rd: bool) {
    out.extend_from_slice(&id.to_be_bytes());
    out.push(0x80 | (opcode & 0xF) << 3 | 0x04 | u8::from(rd));
    out.extend_from_slice(&[0; 9]);
}

/// Append our OPT record when the query had one (echoing ECS with its scope).
fn push_opt(out: &mut Vec<u8>, q: &Query, rc: u16, scope: Option<u8>) {
    let Some(e) = q.edns else { return };
    out.push(0);
    out.extend_from_slice(&rtype::OPT.to_be_bytes());
    out.extend_from_slice(&EDNS_UDP_MAX.to_be_bytes());
    out.push((rc >> 4) as u8);
    out.push(0);
    out.push(if e.dnssec_ok { 0x80 } else { 0 });
    out.push(0);
    match e.ecs {
        Some(ecs) if rc < 16 => {
            let addr_len = (ecs.source_prefix as usize).div_ceil(8);
            out.extend_from_slice(&(8 + addr_len as u16).to_be_bytes());
            out.extend_from_slice(&OPTION_ECS.to_be_bytes());
            out.extend_from_slice(&(4 + addr_len as u16).to_be_bytes());
            let family: u16 = if ecs.addr.is_ipv4() { 1 } else { 2 };
            out.extend_from_slice(&family.to_be_bytes());
            out.push(ecs.source_prefix);
            out.push(scope.unwrap_or(0));
            match ecs.addr {
                IpAddr::V4(a) => out.extend_from_slice(&a.octets()[..addr_len]),
                IpAddr::V6(a) => out.extend_from_slice(&a.octets()[..addr_len]),
            }
        }
        _ => out.extend_from_slice(&0u16.to_be_bytes()),
    }
    let ar = u16::from_be_bytes([out[10], out[11]]) + 1;
    out[10..12].copy_from_slice(&ar.to_be_bytes());
}

/// Find and write the records; the rcode.
fn resolve(
    auth: &Authority,
    q: &Query,
    client: IpAddr,
    scratch: &mut Scratch,
    w: &mut Writer<'_>,
    ecs_scope: &mut Option<u8>,
) -> u16 {
    if q.qclass != CLASS_IN {
        return u16::from(rcode::REFUSED);
    }
    match q.qtype {
        rtype::AXFR | rtype::IXFR => return u16::from(rcode::REFUSED),
        rtype::OPT => return u16::from(rcode::FORMERR),
        _ => {}
    }
    let Some((zone, apex_at)) = auth.catalog.find(q) else {
        return u16::from(rcode::REFUSED);
    };
    let apex_ptr = 12
        + q.labels
            .get(apex_at)
            .map_or(q.name_len - 1, |&o| o as usize) as u16;
    if zone.has_cuts && referral(zone, q, apex_at, w) {
        return u16::from(rcode::NOERROR);
    }
    let mut name: &[u8] = q.wire_name();
    let mut owner: u16 = 12;
    for _ in 0..MAX_CHAIN {
        let Some(node) = zone.nodes.get(name) else {
            negative(zone, apex_ptr, w);
            return u16::from(rcode::NXDOMAIN);
        };
        if q.qtype == rtype::ANY {
            if node.sets.is_empty() {
                negative(zone, apex_ptr, w);
            } else {
                w.record(owner, &zone.hinfo);
                w.answers += 1;
            }
            return u16::from(rcode::NOERROR);
        }
        if let Some(set) = node.get(q.qtype) {
            write_set(auth, set, owner, q, client, scratch, w, ecs_scope);
            if w.answers == 0 {
                negative(zone, apex_ptr, w);
            }
            return u16::from(rcode::NOERROR);
        }
        let Some(cname) = node.get(rtype::CNAME) else {
            negative(zone, apex_ptr, w);
            return u16::from(rcode::NOERROR);
        };
        let SetData::Static(s) = &cname.data else {
            break;
        };
        let (Some(t), Some(target)) = (s.tails.first(), s.target.as_deref()) else {
            break;
        };
        let rdata_at = w.out.len() + 2 + 10;
        w.record(owner, t);
        w.answers += 1;
        if !target.ends_with(&zone.apex) || rdata_at > 0x3FFF {
            return u16::from(rcode::NOERROR); // the resolver follows it from here
        }
        name = target;
        owner = rdata_at as u16;
    }
    u16::from(rcode::NOERROR)
}

/// Write one RRset's records for this query.
#[allow(clippy::too_many_arguments)]
fn write_set(
    auth: &Authority,
    set: &crate::zone::RRset,
    owner: u16,
    q: &Query,
    client: IpAddr,
    scratch: &mut Scratch,
    w: &mut Writer<'_>,
    ecs_scope: &mut Option<u8>,
) {
    match &set.data {
        SetData::Static(s) => {
            let start = s.rotation();
            let n = s.tails.len();
            for i in 0..n {
                w.record(owner, &s.tails[(start + i) % n]);
            }
            w.answers += n as u16;
        }
        SetData::Balanced(b) => {
            b.pick(scratch);
            for &a in &scratch.addrs {
                w.address(owner, set.ttl, a);
            }
            w.answers += scratch.addrs.len() as u16;
        }
        SetData::Geo(g) => {
            let ecs = q.edns.and_then(|e| e.ecs);
            let scope = g.pick(auth.geoip.as_ref(), ecs, client, scratch);
            if ecs.is_some() {
                *ecs_scope = Some(scope);
            }
            for &a in &scratch.addrs {
                w.address(owner, set.ttl, a);
            }
            w.answers += scratch.addrs.len() as u16;
        }
    }
}

/// NXDOMAIN / NODATA: the SOA (with the negative TTL) in the authority section.
fn negative(zone: &Zone, apex_ptr: u16, w: &mut Writer<'_>) {
    w.record(apex_ptr, &zone.negative_soa);
    w.authority += 1;
}

/// If the name is at or below a delegation, write the referral (NS in authority, AA
/// clear) and say so.
fn referral(zone: &Zone, q: &Query, apex_at: usize, w: &mut Writer<'_>) -> bool {
    for i in (0..apex_at).rev() {
        let Some(node) = zone.nodes.get(q.suffix(i)) else {
            return false;
        };
        let Some(ns) = node.get(rtype::NS) else {
            continue;
        };
        let SetData::Static(s) = &ns.data else {
            continue;
        };
        let owner = 12 + q.labels[i] as u16;
        for t in &s.tails {
            w.record(owner, t);
        }
        w.authority += s.tails.len() as u16;
        w.out[2] &= !0x04;
        return true;
    }
    false
}
