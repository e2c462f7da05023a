//! Request hashing: which part of a request feeds the hash algorithms ([`HashKey`]) and
//! the hash itself ([`hash_bytes`]).
//!
//! The protocol crates extract the key bytes (they know HTTP and sockets); this crate only
//! fixes the function so the proxy, the DNS server and the simulator agree on placement.
//! The function is XXH64 (seed 0), written out here: it is fast, passes SMHasher, and is
//! defined byte-for-byte by its specification, so the value is the same on every
//! platform, endianness and run (unlike `std`'s randomly keyed `SipHash`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::Error;

/// Which part of a request the hash algorithms (`ring_hash`, `maglev`) hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HashKey {
    /// The client's IP address (without the port).
    SourceIp,
    /// The client's connection (IP and port): every request on a connection lands together.
    Connection,
    /// A request header, by lowercased name.
    Header(String),
    /// A cookie, by name (case-sensitive, as cookies are).
    Cookie(String),
    /// A query-string parameter, by name.
    Query(String),
    /// The request path (without the query string).
    Path,
    /// The `Host` header (or `:authority`).
    Host,
}

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

/// The 64-bit hash every algorithm in switchyard uses: XXH64 with seed 0.
///
/// Stable across platforms, builds and runs; `hash_bytes(b"abc") == 0x44bc2cf5ad770999`.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    xxh64(bytes, 0)
}

/// The `source_ip` key: [`hash_bytes`] of the address's octets (4 for IPv4, 16 for
/// IPv6; an IPv4-mapped IPv6 address hashes as its IPv4 form), so the L4 proxy, the HTTP
/// proxy and the DNS server agree on where a client goes.
pub fn hash_ip(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => hash_bytes(&v4.octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => hash_bytes(&v4.octets()),
            None => hash_bytes(&v6.octets()),
        },
    }
}

/// The `connection` key: the address's octets (as [`hash_ip`]) followed by the port,
/// big-endian.
pub fn hash_addr(addr: SocketAddr) -> u64 {
    let mut buf = [0u8; 18];
    let ip = match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let len = match ip {
        IpAddr::V4(v4) => {
            buf[..4].copy_from_slice(&v4.octets());
            4
        }
        IpAddr::V6(v6) => {
            buf[..16].copy_from_slice(&v6.octets());
            16
        }
    };
    buf[len..len + 2].copy_from_slice(&addr.port().to_be_bytes());
    hash_bytes(&buf[..len + 2])
}

/// XXH64 with an explicit seed: used internally to derive independent hashes of a name
/// (Maglev's offset and skip, ring points).
pub(crate) fn xxh64(input: &[u8], seed: u64) -> u64 {
    let len = input.len() as u64;
    let mut rest = input;
    let mut h = if input.len() >= 32 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        while rest.len() >= 32 {
            for (i, lane) in v.iter_mut().enumerate() {
                *lane = round(*lane, read_u64(&rest[i * 8..]));
            }
            rest = &rest[32..];
        }
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for lane in v {
            h = merge_round(h, lane);
        }
        h
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(len);
    while rest.len() >= 8 {
        h ^= round(0, read_u64(rest));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        let k = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as u64;
        h ^= k.wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = &rest[4..];
    }
    for &b in rest {
        h ^= (b as u64).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    avalanche(h)
}

/// SplitMix64's finalizer: a cheap bijective mixer for integers we derive (ring points,
/// Maglev rehashes on retry, tie-break streams).
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

fn merge_round(acc: u64, val: u64) -> u64 {
    (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

/// The server rendezvous (highest-random-weight) hashing gives `key` among `servers`:
/// removing a server moves only the keys it had. Session affinity by source IP or header
/// uses it, in the HTTP and the L4 proxies alike, so one client sticks to the same server
/// through both.
pub fn rendezvous(servers: &[crate::ServerId], key: u64) -> Option<crate::ServerId> {
    servers
        .iter()
        .copied()
        .max_by_key(|id| splitmix_finish(key ^ id.as_u64()))
}

/// splitmix64's finaliser.
fn splitmix_finish(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// === impl HashKey ===

impl FromStr for HashKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadHashKey {
            given: s.to_string(),
        };
        // Header and cookie names are HTTP tokens (RFC 9110 5.6.2, RFC 6265 4.1.1); a
        // query parameter name is anything a query string can hold before its `=`. A name
        // that no request can carry would silently never match.
        let named = |name: &str, fits: fn(u8) -> bool| {
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(fits) {
                Err(bad())
            } else {
                Ok(name.to_string())
            }
        };
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        let param = |b: u8| b.is_ascii_graphic() && !b"&=#".contains(&b);
        match s.split_once(':') {
            None => match s {
                "source_ip" => Ok(HashKey::SourceIp),
                "connection" => Ok(HashKey::Connection),
                "path" => Ok(HashKey::Path),
                "host" => Ok(HashKey::Host),
                _ => Err(bad()),
            },
            Some(("header", name)) => Ok(HashKey::Header(named(name, token)?.to_ascii_lowercase())),
            Some(("cookie", name)) => Ok(HashKey::Cookie(named(name, token)?)),
            Some(("query", name)) => Ok(HashKey::Query(named(name, param)?)),
            Some(_) => Err(bad()),
        }
    }
}

impl fmt::Display for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashKey::SourceIp => f.write_str("source_ip"),
            HashKey::Connection => f.write_str("connection"),
            HashKey::Header(n) => write!(f, "header:{n}"),
            HashKey::Cookie(n) => write!(f, "cookie:{n}"),
            HashKey::Query(n) => write!(f, "query:{n}"),
            HashKey::Path => f.write_str("path"),
            HashKey::Host => f.write_str("host"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh64_matches_reference_vectors() {
        // Reference values from the xxHash project's implementation.
        assert_eq!(hash_bytes(b""), 0xef46db3751d8e999);
        assert_eq!(hash_bytes(b"a"), 0xd24ec4f1a98c6e5b);
        assert_eq!(hash_bytes(b"abc"), 0x44bc2cf5ad770999);
        assert_eq!(hash_bytes(b"hello world"), 0x45ab6734b21e6968);
        let long: Vec<u8> = (0..100u8).collect();
        assert_eq!(hash_bytes(&long), 0x6ac1e58032166597);
        let seed = 0x9E37_79B9_7F4A_7C15;
        assert_eq!(xxh64(b"", seed), 0xc4349fc93c010000);
        assert_eq!(xxh64(b"abc", seed), 0x2ed0f59d6b43ac8b);
        assert_eq!(xxh64(&long, seed), 0x3b97d91eba03e785);
    }

    #[test]
    fn ip_hashes_agree_across_address_families() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(hash_ip(v4), hash_bytes(&[192, 0, 2, 7]));
        assert_eq!(hash_ip(v4), hash_ip(mapped));
        let a: SocketAddr = "192.0.2.7:443".parse().unwrap();
        let b: SocketAddr = "[::ffff:192.0.2.7]:443".parse().unwrap();
        assert_eq!(hash_addr(a), hash_addr(b));
        assert_eq!(hash_addr(a), hash_bytes(&[192, 0, 2, 7, 1, 187]));
        assert_ne!(hash_addr(a), hash_addr("192.0.2.7:444".parse().unwrap()));
    }

    #[test]
    fn hash_key_parses_every_spec_form() {
        assert_eq!("source_ip".parse(), Ok(HashKey::SourceIp));
        assert_eq!("connection".parse(), Ok(HashKey::Connection));
        assert_eq!("path".parse(), Ok(HashKey::Path));
        assert_eq!("host".parse(), Ok(HashKey::Host));
        assert_eq!(
            "header:X-User-Id".parse(),
            Ok(HashKey::Header("x-user-id".into()))
        );
        assert_eq!("cookie:SID".parse(), Ok(HashKey::Cookie("SID".into())));
        assert_eq!("query:u".parse(), Ok(HashKey::Query("u".into())));
        for k in [
            "source_ip",
            "header:x-a",
            "cookie:S",
            "query:q",
            "path",
            "host",
        ] {
            assert_eq!(k.parse::<HashKey>().unwrap().to_string(), k);
        }
    }

    #[test]
    fn hash_key_accepts_names_requests_can_carry() {
        for good in [
            "cookie:SYD_SRV",
            "header:X-User-Id",
            "query:user.id",
            "query:a[b]",
        ] {
            assert!(good.parse::<HashKey>().is_ok(), "{good}");
        }
    }

    #[test]
    fn hash_key_rejects_unknown_and_empty_names() {
        for bad in [
            "",
            "ip",
            "header:",
            "header: ",
            "body:x",
            "Source_IP",
            // names no request can carry: they would never match
            "cookie:a b",
            "header:x:y",
            "cookie:sess;id",
            "query:a=b",
            "query:a&b",
            "header:caf\u{e9}",
        ] {
            let err = bad.parse::<HashKey>().unwrap_err();
            assert!(err.to_string().contains("header:NAME"), "{err}");
        }
    }

    #[test]
    fn rendezvous_moves_only_the_removed_servers_keys() {
        let all: Vec<crate::ServerId> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| crate::ServerId::of_name(n))
            .collect();
        let fewer: Vec<crate::ServerId> = all.iter().copied().filter(|&s| s != all[2]).collect();
        let mut moved = 0;
        for key in 0..10_000u64 {
            let k = hash_bytes(&key.to_le_bytes());
            let before = rendezvous(&all, k).unwrap();
            let after = rendezvous(&fewer, k).unwrap();
            if before != all[2] {
                assert_eq!(before, after);
            } else {
                moved += 1;
            }
        }
        assert!((2000..3000).contains(&moved), "share of c: {moved}");
        assert_eq!(rendezvous(&[], 1), None);
    }
}
