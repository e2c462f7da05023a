//! Building the answer to one parsed query into a reused buffer.
//!
//! The response is written front to back: header, the question copied byte for byte from
//! the query (so the client's letter case comes back unchanged), answer records whose
//! owner is a 2-byte compression pointer into that question, then the SOA for negative
//! answers and the OPT record. If the result is larger than the client can take, it is cut
//! back to header + question + OPT with TC set, and the client retries over TCP.
//!
//! Names that do not exist are matched against the zone's wildcards (RFC 4592): the
//! closest existing ancestor is found and, if `*.<that ancestor>` exists, its records are
//! answered with the query name as owner (again a pointer into the question). NS, MX and
//! SRV answers carry the in-zone addresses of their targets in the additional section
//! when they fit; referrals carry the glue below the cut (RFC 9471).

use std::net::IpAddr;

use crate::dynamic::{Authority, Scratch};
use crate::wire::{rcode, rtype, Query, Reject, CLASS_IN, MAX_NAME, OPTION_ECS};
use crate::zone::{Node, SetData, Zone};

/// The UDP payload size we advertise and the most we send over UDP with EDNS (the DNS
/// flag day 2020 value, safe from IP fragmentation).
pub const EDNS_UDP_MAX: u16 = 1232;
/// Longest CNAME chain followed inside a zone.
const MAX_CHAIN: usize = 8;
/// Most NS/MX/SRV targets of one answer looked up for the additional section.
const MAX_TARGETS: usize = 16;

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
    additional: u16,
    /// Where the target names of the NS, MX and SRV records just written start in `out`.
    targets: [u16; MAX_TARGETS],
    target_count: usize,
    /// The most `out` may hold before the OPT record is added.
    room: usize,
}

// === impl Writer ===

impl Writer<'_> {
    /// Append one record: a compression pointer to `owner`, then the tail.
    fn record(&mut self, owner: u16, tail: &[u8]) {
        self.out.extend_from_slice(&(0xC000 | owner).to_be_bytes());
        self.out.extend_from_slice(tail);
    }

    /// Remember that a target name (NS, MX, SRV) starts at `at` in `out`.
    fn target(&mut self, at: usize) {
        if self.target_count < MAX_TARGETS && at <= 0x3FFF {
            self.targets[self.target_count] = at as u16;
            self.target_count += 1;
        }
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
                additional: 0,
                targets: [0; MAX_TARGETS],
                target_count: 0,
                room: limit.saturating_sub(opt_len(q)),
            };
            let rc = resolve(auth, q, client, scratch, &mut w, &mut ecs_scope);
            let (an, ns, ar) = (w.answers, w.authority, w.additional);
            out[6..8].copy_from_slice(&an.to_be_bytes());
            out[8..10].copy_from_slice(&ns.to_be_bytes());
            out[10..12].copy_from_slice(&ar.to_be_bytes());
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

/// An error answer without question (FORMERR, NOTIMP): the header, and our OPT record
/// when the query's was readable (RFC 6891 §7; without it, clients conclude that we do
/// not speak EDNS).
pub fn reject(r: Reject, out: &mut Vec<u8>) -> Answered {
    out.clear();
    header(out, r.id, r.opcode, r.rd);
    out[2] &= !0x04;
    out[3] |= r.rcode & 0xF;
    if let Some(dnssec_ok) = r.opt {
        out.push(0);
        out.extend_from_slice(&rtype::OPT.to_be_bytes());
        out.extend_from_slice(&EDNS_UDP_MAX.to_be_bytes());
        out.extend_from_slice(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
        out[11] = 1;
    }
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

/// The size of the OPT record [`push_opt`] will add.
fn opt_len(q: &Query) -> usize {
    match q.edns {
        None => 0,
        Some(e) => {
            11 + e
                .ecs
                .map_or(0, |ecs| 8 + (ecs.source_prefix as usize).div_ceil(8))
        }
    }
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
        let Some(node) = lookup(zone, name) else {
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
            w.answers += write_set(auth, set, owner, q, client, scratch, w, ecs_scope);
            if w.answers == 0 {
                negative(zone, apex_ptr, w);
            } else if w.target_count > 0 {
                additional(auth, zone, q, client, scratch, w, ecs_scope);
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
        if !within(target, &zone.apex)
            || (zone.has_cuts && delegated(zone, target))
            || rdata_at > 0x3FFF
        {
            return u16::from(rcode::NOERROR); // the resolver follows it from here
        }
        name = target;
        owner = rdata_at as u16;
    }
    u16::from(rcode::NOERROR)
}

/// Whether `name` (inside the zone) is at or below a delegation: not ours to answer.
fn delegated(zone: &Zone, name: &[u8]) -> bool {
    let mut pos = 0;
    while name.len() - pos > zone.apex.len() {
        let is_cut = zone
            .nodes
            .get(&name[pos..])
            .is_some_and(|n| n.get(rtype::NS).is_some());
        if is_cut {
            return true;
        }
        pos += 1 + name[pos] as usize;
        if pos >= name.len() {
            return false;
        }
    }
    false
}

/// The node of `name`: the name itself, else the wildcard that covers it.
fn lookup<'z>(zone: &'z Zone, name: &[u8]) -> Option<&'z Node> {
    match zone.nodes.get(name) {
        Some(n) => Some(n),
        None if zone.has_wildcards => wildcard(zone, name),
        None => None,
    }
}

/// RFC 4592 §3.3.1: for a name that does not exist, the closest encloser is its nearest
/// ancestor that exists (an empty non-terminal counts); the name is covered by the
/// wildcard `*.<closest encloser>` if that exists, and by nothing otherwise.
fn wildcard<'z>(zone: &'z Zone, name: &[u8]) -> Option<&'z Node> {
    let mut pos = 0;
    loop {
        let len = *name.get(pos)? as usize;
        if len == 0 {
            return None;
        }
        pos += 1 + len;
        let parent = name.get(pos..)?;
        if parent.len() < zone.apex.len() {
            return None;
        }
        if zone.nodes.contains_key(parent) {
            let mut star = [0u8; MAX_NAME];
            let star_len = 2 + parent.len();
            if star_len > MAX_NAME {
                return None;
            }
            star[..2].copy_from_slice(b"\x01*");
            star[2..star_len].copy_from_slice(parent);
            return zone.nodes.get(&star[..star_len]);
        }
    }
}

/// Where the target name starts in the rdata of a record of type `t`, for the types whose
/// targets get their addresses in the additional section.
fn target_offset(t: u16) -> Option<usize> {
    match t {
        rtype::NS => Some(0),
        rtype::MX => Some(2),
        rtype::SRV => Some(6),
        _ => None,
    }
}

/// Write one RRset's records for this query; how many.
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
) -> u16 {
    match &set.data {
        SetData::Static(s) => {
            let start = s.rotation();
            let n = s.tails.len();
            let target = target_offset(set.rtype);
            for i in 0..n {
                let at = w.out.len();
                w.record(owner, &s.tails[(start + i) % n]);
                if let Some(off) = target {
                    w.target(at + 12 + off);
                }
            }
            n as u16
        }
        SetData::Balanced(b) => {
            b.pick(scratch);
            for &a in &scratch.addrs {
                w.address(owner, set.ttl, a);
            }
            scratch.addrs.len() as u16
        }
        SetData::Geo(g) => {
            let ecs = q.edns.and_then(|e| e.ecs);
            let scope = g.pick(auth.geoip.as_ref(), ecs, client, scratch);
            if ecs.is_some() {
                // The most specific network that decided any part of the answer.
                *ecs_scope = Some(ecs_scope.map_or(scope, |s| s.max(scope)));
            }
            for &a in &scratch.addrs {
                w.address(owner, set.ttl, a);
            }
            scratch.addrs.len() as u16
        }
    }
}

/// Copy the uncompressed wire name at `at` in `out` into `buf`; its length.
fn name_at(out: &[u8], at: usize, buf: &mut [u8; MAX_NAME]) -> Option<usize> {
    let mut len = 0;
    loop {
        let l = *out.get(at + len)? as usize;
        if l > 63 || len + 1 + l > MAX_NAME {
            return None;
        }
        buf[len..len + 1 + l].copy_from_slice(out.get(at + len..at + len + 1 + l)?);
        len += 1 + l;
        if l == 0 {
            return Some(len);
        }
    }
}

/// Whether the wire name `name` is `apex` or below it (label boundaries respected).
fn within(name: &[u8], apex: &[u8]) -> bool {
    let mut pos = 0;
    while pos < name.len() && name.len() - pos > apex.len() {
        pos += 1 + name[pos] as usize;
    }
    name.get(pos..) == Some(apex)
}

/// The additional section of an NS, MX or SRV answer: the A and AAAA records of each
/// target inside the zone, as many targets as fit in the answer (additional data never
/// truncates an answer; what does not fit is left out).
fn additional(
    auth: &Authority,
    zone: &Zone,
    q: &Query,
    client: IpAddr,
    scratch: &mut Scratch,
    w: &mut Writer<'_>,
    ecs_scope: &mut Option<u8>,
) {
    let (targets, count) = (w.targets, w.target_count);
    w.target_count = 0;
    let mut buf = [0u8; MAX_NAME];
    for &at in &targets[..count] {
        let Some(len) = name_at(w.out, at as usize, &mut buf) else {
            continue;
        };
        let name = &buf[..len];
        if !within(name, &zone.apex) {
            continue;
        }
        let Some(node) = lookup(zone, name) else {
            continue;
        };
        let (mark, added, scope) = (w.out.len(), w.additional, *ecs_scope);
        for t in [rtype::A, rtype::AAAA] {
            if let Some(set) = node.get(t) {
                w.additional += write_set(auth, set, at, q, client, scratch, w, ecs_scope);
            }
        }
        if w.out.len() > w.room {
            w.out.truncate(mark);
            w.additional = added;
            *ecs_scope = scope;
            return;
        }
    }
}

/// NXDOMAIN / NODATA: the SOA (with the negative TTL) in the authority section.
fn negative(zone: &Zone, apex_ptr: u16, w: &mut Writer<'_>) {
    w.record(apex_ptr, &zone.negative_soa);
    w.authority += 1;
}

/// If the name is at or below a delegation, write the referral (NS in authority, AA
/// clear, the glue in additional) and say so.
fn referral(zone: &Zone, q: &Query, apex_at: usize, w: &mut Writer<'_>) -> bool {
    for i in (0..apex_at).rev() {
        let cut = q.suffix(i);
        let Some(node) = zone.nodes.get(cut) else {
            return false;
        };
        let Some(ns) = node.get(rtype::NS) else {
            continue;
        };
        if i == 0 && q.qtype == rtype::DS {
            // DS lives on the parent side of the cut: we answer it (NODATA), as BIND
            // does; a referral would send the resolver to the child, which has no DS
            return false;
        }
        let SetData::Static(s) = &ns.data else {
            continue;
        };
        let owner = 12 + q.labels[i] as u16;
        for t in &s.tails {
            let at = w.out.len();
            w.record(owner, t);
            w.target(at + 12);
        }
        w.authority += s.tails.len() as u16;
        w.out[2] &= !0x04;
        glue(zone, cut, w);
        return true;
    }
    false
}

/// The addresses of a referral's name servers that are inside this zone. Those at or
/// below the cut cannot be found any other way, so they go in even when the answer then
/// has to be truncated (RFC 9471); the others only while they fit.
fn glue(zone: &Zone, cut: &[u8], w: &mut Writer<'_>) {
    let (targets, count) = (w.targets, w.target_count);
    w.target_count = 0;
    let mut buf = [0u8; MAX_NAME];
    for required in [true, false] {
        for &at in &targets[..count] {
            let Some(len) = name_at(w.out, at as usize, &mut buf) else {
                continue;
            };
            let name = &buf[..len];
            if within(name, cut) != required || !within(name, &zone.apex) {
                continue;
            }
            let Some(node) = zone.nodes.get(name) else {
                continue;
            };
            let (mark, added) = (w.out.len(), w.additional);
            for t in [rtype::A, rtype::AAAA] {
                if let Some(SetData::Static(s)) = node.get(t).map(|s| &s.data) {
                    for tail in &s.tails {
                        w.record(at, tail);
                    }
                    w.additional += s.tails.len() as u16;
                }
            }
            if !required && w.out.len() > w.room {
                w.out.truncate(mark);
                w.additional = added;
            }
        }
    }
}
