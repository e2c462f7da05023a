//! PROXY protocol v1 and v2 (haproxy.org/download/2.9/doc/proxy-protocol.txt): a pure
//! parser for headers an upstream balancer sends us, and encoders for the headers we send
//! to servers.
//!
//! The parser is incremental and strict: [`parse`] returns `Ok(None)` while the bytes so
//! far are a valid prefix of a header, `Ok(Some((header, consumed)))` once a whole header
//! is there, and an error as soon as the bytes cannot become one. It never panics and never
//! reads past the header, so the caller forwards `buf[consumed..]` as the client's data.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What a PROXY header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A proxied connection: the real client (`source`) and the address it connected to.
    Proxied {
        /// The client's address and port.
        source: SocketAddr,
        /// The address and port the client connected to (the upstream balancer's listener).
        destination: SocketAddr,
    },
    /// v1 `UNKNOWN`, or v2 `PROXY` with an address family we do not carry (UNSPEC, UNIX):
    /// keep the socket's own addresses.
    Unknown,
    /// v2 `LOCAL`: the upstream balancer talking for itself (a health check).
    Local,
}

/// Why bytes are not a PROXY header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Neither the v1 (`PROXY `) nor the v2 signature.
    #[error("no PROXY protocol signature")]
    NoSignature,
    /// A v1 line longer than 107 bytes, or without its CRLF.
    #[error("PROXY v1 line longer than 107 bytes")]
    TooLong,
    /// A v1 line that breaks the grammar.
    #[error("malformed PROXY v1 line: {0}")]
    BadV1(&'static str),
    /// A v2 header that breaks the format.
    #[error("malformed PROXY v2 header: {0}")]
    BadV2(&'static str),
}

/// The 12-byte v2 signature.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 line, CRLF included.
pub const V1_MAX_LEN: usize = 107;

// === parse ===

/// Parses a PROXY header at the start of `buf`. `Ok(None)`: need more bytes.
pub fn parse(buf: &[u8]) -> Result<Option<(Header, usize)>, Error> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if n > 0 && buf[..n] == V2_SIGNATURE[..n] {
        return if n < V2_SIGNATURE.len() {
            Ok(None)
        } else {
            parse_v2(buf)
        };
    }
    let n = buf.len().min(V1_PREFIX.len());
    if buf[..n] != V1_PREFIX[..n] {
        return Err(Error::NoSignature);
    }
    parse_v1(buf)
}

fn parse_v1(buf: &[u8]) -> Result<Option<(Header, usize)>, Error> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        return if buf.len() >= V1_MAX_LEN {
            Err(Error::TooLong)
        } else if window.contains(&b'\n') {
            Err(Error::BadV1("bare LF"))
        } else {
            Ok(None)
        };
    };
    if cr + 2 > V1_MAX_LEN {
        return Err(Error::TooLong);
    }
    match buf.get(cr + 1) {
        None => return Ok(None),
        Some(b'\n') => {}
        Some(_) => return Err(Error::BadV1("CR not followed by LF")),
    }
    let line = &buf[V1_PREFIX.len()..cr];
    if !line.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(Error::BadV1("control or non-ASCII byte"));
    }
    let line = std::str::from_utf8(line).map_err(|_| Error::BadV1("not ASCII"))?;
    let consumed = cr + 2;
    if let Some(rest) = line.strip_prefix("UNKNOWN") {
        // "UNKNOWN" may be followed by anything up to the CRLF; the receiver ignores it.
        if rest.is_empty() || rest.starts_with(' ') {
            return Ok(Some((Header::Unknown, consumed)));
        }
        return Err(Error::BadV1("unknown protocol"));
    }
    let mut parts = line.split(' ');
    let family = parts.next().unwrap_or("");
    let (src, dst, sport, dport) = match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some(a), Some(b), Some(c), Some(d), None) => (a, b, c, d),
        _ => return Err(Error::BadV1("expected 5 space-separated fields")),
    };
    let (src, dst): (IpAddr, IpAddr) = match family {
        "TCP4" => (
            v1_ip::<Ipv4Addr>(src)?.into(),
            v1_ip::<Ipv4Addr>(dst)?.into(),
        ),
        "TCP6" => (
            v1_ip::<Ipv6Addr>(src)?.into(),
            v1_ip::<Ipv6Addr>(dst)?.into(),
        ),
        _ => return Err(Error::BadV1("unknown protocol")),
    };
    let header = Header::Proxied {
        source: SocketAddr::new(src, v1_port(sport)?),
        destination: SocketAddr::new(dst, v1_port(dport)?),
    };
    Ok(Some((header, consumed)))
}

fn v1_ip<T: std::str::FromStr>(s: &str) -> Result<T, Error> {
    s.parse().map_err(|_| Error::BadV1("invalid address"))
}

fn v1_port(s: &str) -> Result<u16, Error> {
    let digits = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) {
        return Err(Error::BadV1("invalid port"));
    }
    s.parse().map_err(|_| Error::BadV1("invalid port"))
}

fn parse_v2(buf: &[u8]) -> Result<Option<(Header, usize)>, Error> {
    let Some(fixed) = buf.get(..16) else {
        return check_v2_prefix(buf);
    };
    let (ver_cmd, family) = (fixed[12], fixed[13]);
    let len = u16::from_be_bytes([fixed[14], fixed[15]]) as usize;
    check_v2_prefix(fixed)?;
    let Some(body) = buf.get(16..16 + len) else {
        return Ok(None);
    };
    let consumed = 16 + len;
    let addr_len = match family >> 4 {
        0x1 => 12,
        0x2 => 36,
        0x3 => 216,
        _ => 0,
    };
    if body.len() < addr_len {
        return Err(Error::BadV2("length shorter than the addresses"));
    }
    check_tlvs(&body[addr_len..])?;
    if ver_cmd & 0x0f == 0 {
        return Ok(Some((Header::Local, consumed)));
    }
    let header = match family {
        0x11 | 0x12 => {
            let ip = |i: usize| IpAddr::from([body[i], body[i + 1], body[i + 2], body[i + 3]]);
            let port = |i: usize| u16::from_be_bytes([body[i], body[i + 1]]);
            Header::Proxied {
                source: SocketAddr::new(ip(0), port(8)),
                destination: SocketAddr::new(ip(4), port(10)),
            }
        }
        0x21 | 0x22 => {
            let ip = |i: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&body[i..i + 16]);
                IpAddr::from(o)
            };
            let port = |i: usize| u16::from_be_bytes([body[i], body[i + 1]]);
            Header::Proxied {
                source: SocketAddr::new(ip(0), port(32)),
                destination: SocketAddr::new(ip(16), port(34)),
            }
        }
        _ => Header::Unknown,
    };
    Ok(Some((header, consumed)))
}

/// Checks version, command and family as far as `buf` (signature included) goes.
fn check_v2_prefix(buf: &[u8]) -> Result<Option<(Header, usize)>, Error> {
    if let Some(&ver_cmd) = buf.get(12) {
        if ver_cmd >> 4 != 2 {
            return Err(Error::BadV2("version is not 2"));
        }
        if ver_cmd & 0x0f > 1 {
            return Err(Error::BadV2("command is neither LOCAL nor PROXY"));
        }
    }
    if let Some(&family) = buf.get(13) {
        let known_af = matches!(family >> 4, 0..=3);
        let known_tp = matches!(family & 0x0f, 0..=2);
        if !known_af || !known_tp {
            return Err(Error::BadV2("unknown address family or transport"));
        }
    }
    Ok(None)
}

/// TLVs are skipped, but each must fit exactly in what is left of the header.
fn check_tlvs(mut rest: &[u8]) -> Result<(), Error> {
    while !rest.is_empty() {
        let Some(head) = rest.get(..3) else {
            return Err(Error::BadV2("truncated TLV"));
        };
        let len = u16::from_be_bytes([head[1], head[2]]) as usize;
        rest = rest
            .get(3 + len..)
            .ok_or(Error::BadV2("TLV longer than the header"))?;
    }
    Ok(())
}

// === encode ===

/// The v1 line for a TCP connection from `source` to `destination`. Mixed families are
/// sent as TCP6 with the IPv4 address mapped (`::ffff:a.b.c.d`).
pub fn encode_v1(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let line = match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => format!(
            "PROXY TCP4 {s} {d} {} {}\r\n",
            source.port(),
            destination.port()
        ),
        (s, d) => format!(
            "PROXY TCP6 {} {} {} {}\r\n",
            to_v6(s),
            to_v6(d),
            source.port(),
            destination.port()
        ),
    };
    line.into_bytes()
}

/// The v2 header (command PROXY, transport STREAM, no TLVs) for a TCP connection.
pub fn encode_v2(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let mut out = Vec::with_capacity(52);
    out.extend_from_slice(&V2_SIGNATURE);
    out.push(0x21);
    match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.push(0x11);
            out.extend_from_slice(&12u16.to_be_bytes());
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (s, d) => {
            out.push(0x21);
            out.extend_from_slice(&36u16.to_be_bytes());
            out.extend_from_slice(&to_v6(s).octets());
            out.extend_from_slice(&to_v6(d).octets());
        }
    }
    out.extend_from_slice(&source.port().to_be_bytes());
    out.extend_from_slice(&destination.port().to_be_bytes());
    out
}

fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_tcp4_and_tcp6_round_trip() {
        for (s, d) in [
            ("192.0.2.1:5678", "198.51.100.2:443"),
            ("[2001:db8::1]:1", "[2001:db8::2]:65535"),
        ] {
            let line = encode_v1(sa(s), sa(d));
            let want = Header::Proxied {
                source: sa(s),
                destination: sa(d),
            };
            assert_eq!(parse(&line), Ok(Some((want, line.len()))));
        }
        assert_eq!(
            encode_v1(sa("192.0.2.1:5678"), sa("198.51.100.2:443")),
            b"PROXY TCP4 192.0.2.1 198.51.100.2 5678 443\r\n"
        );
    }

    #[test]
    fn v1_leaves_the_payload_after_the_header() {
        let buf = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET / HTTP/1.1\r\n";
        let (_, n) = parse(buf).unwrap().unwrap();
        assert_eq!(&buf[n..], b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn v1_every_prefix_needs_more_bytes() {
        let line = b"PROXY TCP6 2001:db8::1 2001:db8::2 65535 65535\r\n";
        for i in 0..line.len() {
            assert_eq!(parse(&line[..i]), Ok(None), "prefix of {i} bytes");
        }
    }

    #[test]
    fn v1_unknown_is_accepted_with_or_without_addresses() {
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Ok(Some((Header::Unknown, 15))));
        let l = b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
        assert_eq!(parse(l), Ok(Some((Header::Unknown, l.len()))));
    }

    #[test]
    fn v1_rejects_grammar_violations() {
        let bad: &[&[u8]] = &[
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
            b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY UNKNOWNX\r\n",
            b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"GET / HTTP/1.1\r\n",
        ];
        for b in bad {
            assert!(parse(b).is_err(), "{:?}", String::from_utf8_lossy(b));
        }
    }

    #[test]
    fn v1_longer_than_107_bytes_is_rejected() {
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX_LEN, b'a');
        assert_eq!(parse(&long), Err(Error::TooLong));
        long.truncate(V1_MAX_LEN - 2);
        long.extend_from_slice(b"\r\n");
        assert_eq!(parse(&long), Ok(Some((Header::Unknown, V1_MAX_LEN))));
        long[V1_MAX_LEN - 2] = b'a';
        long[V1_MAX_LEN - 1] = b'\r';
        assert_eq!(parse(&long), Err(Error::TooLong));
    }

    #[test]
    fn v2_round_trip_and_every_prefix_needs_more() {
        for (s, d) in [
            ("192.0.2.1:5678", "198.51.100.2:443"),
            ("[2001:db8::1]:1", "[2001:db8::2]:65535"),
        ] {
            let h = encode_v2(sa(s), sa(d));
            let want = Header::Proxied {
                source: sa(s),
                destination: sa(d),
            };
            assert_eq!(parse(&h), Ok(Some((want, h.len()))));
            for i in 0..h.len() {
                assert_eq!(parse(&h[..i]), Ok(None), "prefix of {i} bytes");
            }
        }
    }

    #[test]
    fn v2_local_skips_addresses_and_tlvs() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x20, 0x00, 0x00, 0x05, 0x04, 0x00, 0x02, b'h', b'i']);
        assert_eq!(parse(&h), Ok(Some((Header::Local, h.len()))));
    }

    #[test]
    fn v2_tlvs_are_skipped_but_length_checked() {
        let mut h = encode_v2(sa("1.2.3.4:1"), sa("5.6.7.8:2"));
        h[15] += 6;
        h.extend_from_slice(&[0x01, 0x00, 0x03, b'h', b'2', 0]);
        assert!(matches!(parse(&h), Ok(Some((Header::Proxied { .. }, 34)))));
        let mut bad = h.clone();
        bad[30] = 0x04; // TLV claims 4 bytes, 3 remain
        assert_eq!(parse(&bad), Err(Error::BadV2("TLV longer than the header")));
        let mut short = encode_v2(sa("1.2.3.4:1"), sa("5.6.7.8:2"));
        short[15] = 2;
        short.truncate(18);
        assert!(parse(&short).is_err());
    }

    #[test]
    fn v2_rejects_bad_version_command_family() {
        let h = encode_v2(sa("1.2.3.4:1"), sa("5.6.7.8:2"));
        for (i, v) in [(12, 0x11), (12, 0x22), (13, 0x41), (13, 0x13)] {
            let mut b = h.clone();
            b[i] = v;
            assert!(parse(&b).is_err(), "byte {i} = {v:#x}");
            assert!(parse(&b[..14]).is_err(), "prefix, byte {i} = {v:#x}");
        }
    }

    #[test]
    fn v2_unix_and_unspec_are_unknown() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x21, 0x00, 0x00, 0x00]);
        assert_eq!(parse(&h), Ok(Some((Header::Unknown, 16))));
        let mut u = V2_SIGNATURE.to_vec();
        u.extend_from_slice(&[0x21, 0x31, 0x00, 216]);
        u.resize(16 + 216, 0);
        assert_eq!(parse(&u), Ok(Some((Header::Unknown, 232))));
    }

    #[test]
    fn mixed_families_are_sent_as_tcp6() {
        let (s, d) = (sa("1.2.3.4:1"), sa("[::1]:2"));
        let l = encode_v1(s, d);
        assert!(l.starts_with(b"PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n"));
        assert!(matches!(parse(&encode_v2(s, d)), Ok(Some(_))));
    }
}
