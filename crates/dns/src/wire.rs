//! Parsing one DNS query off the wire, without allocating.
//!
//! An authoritative server only ever needs the header, the single question and the OPT
//! record, so this is a small hand-written reader rather than a full message decode: the
//! question name is copied lowercased into a fixed array (with its label offsets, so zone
//! and node lookups walk suffixes), and the rest of the packet is only validated. Every
//! read is bounds-checked; compression pointers are refused in the question and never
//! followed elsewhere (skipping a name stops at a pointer), so no packet can loop us.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest DNS name on the wire (RFC 1035 §3.1).
pub const MAX_NAME: usize = 255;
/// Record type numbers we name.
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Canonical name.
    pub const CNAME: u16 = 5;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// Host info (RFC 8482 answers to ANY).
    pub const HINFO: u16 = 13;
    /// Mail exchanger.
    pub const MX: u16 = 15;
    /// Text.
    pub const TXT: u16 = 16;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// Service.
    pub const SRV: u16 = 33;
    /// Delegation signer: the parent side of a zone cut answers it (RFC 4035 §3.1.4.1).
    pub const DS: u16 = 43;
    /// EDNS0 pseudo-record.
    pub const OPT: u16 = 41;
    /// Incremental zone transfer.
    pub const IXFR: u16 = 251;
    /// Full zone transfer.
    pub const AXFR: u16 = 252;
    /// Every type.
    pub const ANY: u16 = 255;
    /// Certification authority authorization.
    pub const CAA: u16 = 257;
}
/// The Internet class.
pub const CLASS_IN: u16 = 1;
/// EDNS option code of Client Subnet (RFC 7871).
pub const OPTION_ECS: u16 = 8;

/// What the reader made of a packet.
#[derive(Debug)]
pub enum Parsed {
    /// Not worth an answer: shorter than a header, or a response (QR set).
    Drop,
    /// Answer with this rcode and an empty body (FORMERR, NOTIMP).
    Reject(Reject),
    /// A well-formed query, now in the caller's [`Query`].
    Query,
}

/// A header-only error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    /// The query's id.
    pub id: u16,
    /// The query's opcode (4 bits).
    pub opcode: u8,
    /// The query's RD bit.
    pub rd: bool,
    /// The rcode to answer.
    pub rcode: u8,
    /// `Some(DO bit)` when the query carried an OPT record we could read: the answer then
    /// carries ours (RFC 6891 §7), so the client does not take us for a server without EDNS.
    pub opt: Option<bool>,
}

/// One parsed question plus its EDNS information.
#[derive(Debug, Clone)]
pub struct Query {
    /// Message id.
    pub id: u16,
    /// Recursion desired (copied into the answer).
    pub rd: bool,
    /// The question name lowercased, in wire form (ends with the root label).
    pub name: [u8; MAX_NAME],
    /// Bytes of `name` in use.
    pub name_len: usize,
    /// Offsets in `name` where each label starts (the root label excluded).
    pub labels: [u8; 128],
    /// Number of labels (not counting the root).
    pub label_count: usize,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// Where the question ends in the packet (header + question = `packet[..question_end]`).
    pub question_end: usize,
    /// The OPT record, when the query had one.
    pub edns: Option<Edns>,
}

/// What the client said in its OPT record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// Advertised UDP payload size (raw; the server clamps it).
    pub udp_size: u16,
    /// EDNS version.
    pub version: u8,
    /// The DO bit (copied into the answer, RFC 3225).
    pub dnssec_ok: bool,
    /// The Client Subnet option.
    pub ecs: Option<ClientSubnet>,
}

/// An EDNS Client Subnet option (RFC 7871), address already masked to the source prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSubnet {
    /// The client's network.
    pub addr: IpAddr,
    /// SOURCE PREFIX-LENGTH.
    pub source_prefix: u8,
}

/// Response codes.
pub mod rcode {
    /// No error.
    pub const NOERROR: u8 = 0;
    /// Format error.
    pub const FORMERR: u8 = 1;
    /// Server failure.
    pub const SERVFAIL: u8 = 2;
    /// Name does not exist.
    pub const NXDOMAIN: u8 = 3;
    /// Not implemented.
    pub const NOTIMP: u8 = 4;
    /// Refused.
    pub const REFUSED: u8 = 5;
    /// Bad EDNS version (extended: 16).
    pub const BADVERS: u16 = 16;
}

// === impl Query ===

impl Default for Query {
    fn default() -> Self {
        Query {
            id: 0,
            rd: false,
            name: [0; MAX_NAME],
            name_len: 0,
            labels: [0; 128],
            label_count: 0,
            qtype: 0,
            qclass: 0,
            question_end: 0,
            edns: None,
        }
    }
}

impl Query {
    /// Forget the previous query.
    fn reset(&mut self, id: u16, rd: bool) {
        self.id = id;
        self.rd = rd;
        self.name_len = 0;
        self.label_count = 0;
        self.qtype = 0;
        self.qclass = 0;
        self.question_end = 0;
        self.edns = None;
    }

    /// The lowercase wire-form suffix starting at label `i` (`i == label_count` is the root).
    pub fn suffix(&self, i: usize) -> &[u8] {
        let start = if i >= self.label_count {
            self.name_len - 1
        } else {
            self.labels[i] as usize
        };
        &self.name[start..self.name_len]
    }

    /// The whole lowercase wire-form name.
    pub fn wire_name(&self) -> &[u8] {
        &self.name[..self.name_len]
    }
}

/// Read a query packet into `q` (a buffer the caller reuses across queries).
pub fn parse(packet: &[u8], q: &mut Query) -> Parsed {
    if packet.len() < 12 {
        return Parsed::Drop;
    }
    let id = be16(packet, 0);
    let flags = be16(packet, 2);
    if flags & 0x8000 != 0 {
        return Parsed::Drop;
    }
    let opcode = ((flags >> 11) & 0xF) as u8;
    let rd = flags & 0x0100 != 0;
    let body = read_body(packet, q, id, rd);
    let reject = |rcode, opt| {
        Parsed::Reject(Reject {
            id,
            opcode,
            rd,
            rcode,
            opt,
        })
    };
    match body {
        // other opcodes get NOTIMP whatever their body, with our OPT if theirs was readable
        _ if opcode != 0 => {
            let opt = match body {
                Ok(edns) => edns.map(|e| e.dnssec_ok),
                Err(BadAdditional { opt }) => opt,
            };
            reject(rcode::NOTIMP, opt)
        }
        Ok(edns) => {
            q.edns = edns;
            Parsed::Query
        }
        Err(BadAdditional { opt }) => reject(rcode::FORMERR, opt),
    }
}

/// Read the question into `q` and the additional section; the OPT record if any.
fn read_body(
    packet: &[u8],
    q: &mut Query,
    id: u16,
    rd: bool,
) -> Result<Option<Edns>, BadAdditional> {
    let formerr = Err(BadAdditional { opt: None });
    let (qd, an, ns, ar) = (
        be16(packet, 4),
        be16(packet, 6),
        be16(packet, 8),
        be16(packet, 10),
    );
    if qd != 1 || an != 0 || ns != 0 {
        return formerr;
    }
    q.reset(id, rd);
    let Some(pos) = read_question_name(packet, 12, q) else {
        return formerr;
    };
    if pos + 4 > packet.len() {
        return formerr;
    }
    q.qtype = be16(packet, pos);
    q.qclass = be16(packet, pos + 2);
    q.question_end = pos + 4;
    read_additional(packet, q.question_end, ar)
}

/// Copy the (uncompressed) question name lowercased into `q`; the offset after it.
fn read_question_name(packet: &[u8], mut pos: usize, q: &mut Query) -> Option<usize> {
    loop {
        let len = *packet.get(pos)? as usize;
        if len == 0 {
            if q.name_len + 1 > MAX_NAME {
                return None;
            }
            q.name[q.name_len] = 0;
            q.name_len += 1;
            return Some(pos + 1);
        }
        if len > 63 {
            return None; // compression pointers and the reserved label types
        }
        let label = packet.get(pos + 1..pos + 1 + len)?;
        if q.name_len + 1 + len + 1 > MAX_NAME || q.label_count >= q.labels.len() {
            return None;
        }
        q.labels[q.label_count] = q.name_len as u8;
        q.label_count += 1;
        q.name[q.name_len] = len as u8;
        for (dst, b) in q.name[q.name_len + 1..q.name_len + 1 + len]
            .iter_mut()
            .zip(label)
        {
            *dst = b.to_ascii_lowercase();
        }
        q.name_len += 1 + len;
        pos += 1 + len;
    }
}

/// A malformed additional section; `opt` is `Some(DO bit)` when its one OPT record was
/// readable (only one of its options was invalid, an ECS option for instance).
#[derive(Debug, Clone, Copy)]
struct BadAdditional {
    opt: Option<bool>,
}

/// Walk the additional section; return the OPT record if there is exactly one.
fn read_additional(
    packet: &[u8],
    mut pos: usize,
    count: u16,
) -> Result<Option<Edns>, BadAdditional> {
    let mut edns: Option<Edns> = None;
    let mut bad_options = None;
    let bad = |edns: Option<Edns>, bad_options: Option<bool>| BadAdditional {
        opt: edns.map(|e| e.dnssec_ok).or(bad_options),
    };
    for _ in 0..count {
        let name_start = pos;
        let Some(p) = skip_name(packet, pos) else {
            return Err(bad(edns, bad_options));
        };
        pos = p;
        let Some(fixed) = packet.get(pos..pos + 10) else {
            return Err(bad(edns, bad_options));
        };
        let rtype = be16(fixed, 0);
        let class = be16(fixed, 2);
        let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let rdlen = be16(fixed, 8) as usize;
        let Some(rdata) = packet.get(pos + 10..pos + 10 + rdlen) else {
            return Err(bad(edns, bad_options));
        };
        pos += 10 + rdlen;
        if rtype == rtype::OPT {
            if edns.is_some() || bad_options.is_some() || pos - rdlen - 10 != name_start + 1 {
                // a second OPT, or an OPT not owned by the root: no OPT to trust
                return Err(BadAdditional { opt: None });
            }
            match read_opt(class, ttl, rdata) {
                Ok(e) => edns = Some(e),
                Err(()) => bad_options = Some(ttl & 0x8000 != 0),
            }
        }
    }
    match bad_options {
        Some(_) => Err(bad(None, bad_options)),
        None => Ok(edns),
    }
}

/// Skip a possibly compressed name; never follows pointers.
fn skip_name(packet: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *packet.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            1..=63 => pos += 1 + len as usize,
            0xC0..=0xFF => {
                packet.get(pos + 1)?;
                return Some(pos + 2);
            }
            _ => return None,
        }
    }
}

/// Decode an OPT record's class, TTL and options.
fn read_opt(class: u16, ttl: u32, mut rdata: &[u8]) -> Result<Edns, ()> {
    let mut edns = Edns {
        udp_size: class,
        version: (ttl >> 16) as u8,
        dnssec_ok: ttl & 0x8000 != 0,
        ecs: None,
    };
    while !rdata.is_empty() {
        if rdata.len() < 4 {
            return Err(());
        }
        let code = be16(rdata, 0);
        let len = be16(rdata, 2) as usize;
        let data = rdata.get(4..4 + len).ok_or(())?;
        if code == OPTION_ECS {
            if edns.ecs.is_some() {
                return Err(());
            }
            edns.ecs = Some(read_ecs(data)?);
        }
        rdata = &rdata[4 + len..];
    }
    Ok(edns)
}

/// Decode and validate a Client Subnet option (RFC 7871 §6: FORMERR on any violation).
fn read_ecs(data: &[u8]) -> Result<ClientSubnet, ()> {
    if data.len() < 4 {
        return Err(());
    }
    let family = be16(data, 0);
    let source = data[2];
    let scope = data[3];
    let addr_bytes = &data[4..];
    let max = match family {
        1 => 32,
        2 => 128,
        _ => return Err(()),
    };
    if source > max || scope != 0 || addr_bytes.len() != (source as usize).div_ceil(8) {
        return Err(());
    }
    let mut full = [0u8; 16];
    full[..addr_bytes.len()].copy_from_slice(addr_bytes);
    let addr = if family == 1 {
        IpAddr::V4(Ipv4Addr::new(full[0], full[1], full[2], full[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(full))
    };
    if mask(addr, source) != addr {
        return Err(()); // bits set beyond the source prefix
    }
    Ok(ClientSubnet {
        addr,
        source_prefix: source,
    })
}

/// `addr` with every bit after the first `prefix` cleared.
pub fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

/// Big-endian u16 at `at` (callers have checked the length).
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[u8], qtype: u16, extra: &[u8], arcount: u16) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0];
        p.extend_from_slice(&arcount.to_be_bytes());
        p.extend_from_slice(name);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&CLASS_IN.to_be_bytes());
        p.extend_from_slice(extra);
        p
    }

    fn opt(options: &[u8]) -> Vec<u8> {
        let mut o = vec![0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0];
        o.extend_from_slice(&(options.len() as u16).to_be_bytes());
        o.extend_from_slice(options);
        o
    }

    #[test]
    fn question_name_is_lowercased_with_label_offsets() {
        let p = query(b"\x03WwW\x07Example\x03com\x00", rtype::A, &[], 0);
        let mut q = Query::default();
        assert!(matches!(parse(&p, &mut q), Parsed::Query));
        assert_eq!(q.wire_name(), b"\x03www\x07example\x03com\x00");
        assert_eq!(q.suffix(1), b"\x07example\x03com\x00");
        assert_eq!(q.suffix(3), b"\x00");
        assert_eq!(q.question_end, p.len());
        assert!(q.rd);
    }

    #[test]
    fn compression_pointer_in_question_is_formerr() {
        let p = query(b"\xC0\x0C", rtype::A, &[], 0);
        assert!(
            matches!(parse(&p, &mut Query::default()), Parsed::Reject(r) if r.rcode == rcode::FORMERR)
        );
    }

    #[test]
    fn short_packets_and_responses_are_dropped() {
        assert!(matches!(
            parse(&[0; 11], &mut Query::default()),
            Parsed::Drop
        ));
        let mut p = query(b"\x00", rtype::A, &[], 0);
        p[2] |= 0x80;
        assert!(matches!(parse(&p, &mut Query::default()), Parsed::Drop));
    }

    #[test]
    fn ecs_is_decoded_and_validated() {
        let ecs = [0, 8, 0, 7, 0, 1, 24, 0, 81, 2, 69];
        let p = query(b"\x00", rtype::A, &opt(&ecs), 1);
        let mut q = Query::default();
        assert!(matches!(parse(&p, &mut q), Parsed::Query));
        let e = q.edns.expect("edns");
        assert_eq!(e.udp_size, 1232);
        assert!(e.dnssec_ok);
        let s = e.ecs.expect("ecs");
        assert_eq!(s.addr, IpAddr::from([81, 2, 69, 0]));
        assert_eq!(s.source_prefix, 24);
        // bits beyond the prefix
        let bad = [0, 8, 0, 7, 0, 1, 23, 0, 81, 2, 69];
        let p = query(b"\x00", rtype::A, &opt(&bad), 1);
        assert!(
            matches!(parse(&p, &mut Query::default()), Parsed::Reject(r) if r.rcode == rcode::FORMERR)
        );
        // nonzero scope in a query
        let bad = [0, 8, 0, 7, 0, 1, 24, 8, 81, 2, 69];
        let p = query(b"\x00", rtype::A, &opt(&bad), 1);
        assert!(
            matches!(parse(&p, &mut Query::default()), Parsed::Reject(r) if r.rcode == rcode::FORMERR)
        );
    }

    #[test]
    fn two_opt_records_are_formerr() {
        let mut extra = opt(&[]);
        extra.extend(opt(&[]));
        let p = query(b"\x00", rtype::A, &extra, 2);
        assert!(
            matches!(parse(&p, &mut Query::default()), Parsed::Reject(r) if r.rcode == rcode::FORMERR)
        );
    }

    #[test]
    fn mask_clears_host_bits() {
        assert_eq!(
            mask(IpAddr::from([10, 1, 2, 3]), 20),
            IpAddr::from([10, 1, 0, 0])
        );
        assert_eq!(
            mask(IpAddr::from([10, 1, 2, 3]), 0),
            IpAddr::from([0, 0, 0, 0])
        );
        let v6: IpAddr = "2001:db8:1234::1".parse().unwrap();
        assert_eq!(mask(v6, 32), "2001:db8::".parse::<IpAddr>().unwrap());
    }
}
