//! Session affinity: which server a request is sticky to, and the cookie that says so.
//!
//! - `cookie`: the cookie's value is an opaque token, base64url (no padding) of the
//!   64-bit XXH64 hash of `"switchyard-affinity\0POOL\0SERVER"`. It names no address or
//!   port and stays the same across restarts and reloads while the server keeps its
//!   name. The state maps tokens back to servers ([`Affinity::Cookie`]).
//! - `source_ip` and `header`: the client IP (or the header's value) is hashed and mapped
//!   to a server by rendezvous hashing over the pool's configured servers (highest
//!   `mix(key, server id)` wins). Adding or removing a server only moves the keys that
//!   server wins or held. The chosen server is passed to the balancer as the sticky
//!   server, so a down server's users are re-picked and a draining one keeps them.

use std::collections::HashMap;

use http::{HeaderName, HeaderValue};
use switchyard_balance::{hash_bytes, ServerId};

/// A pool's affinity rule, compiled.
#[derive(Debug)]
pub(crate) enum Affinity {
    None,
    Cookie {
        name: Box<str>,
        by_token: HashMap<u64, ServerId>,
        /// The whole `Set-Cookie` value for each server.
        set_cookie: HashMap<ServerId, HeaderValue>,
    },
    SourceIp {
        servers: Vec<ServerId>,
    },
    Header {
        name: HeaderName,
        servers: Vec<ServerId>,
    },
}

/// The cookie token of `server` in `pool`.
pub fn token(pool: &str, server: &str) -> u64 {
    let mut key = Vec::with_capacity(24 + pool.len() + server.len());
    key.extend_from_slice(b"switchyard-affinity\0");
    key.extend_from_slice(pool.as_bytes());
    key.push(0);
    key.extend_from_slice(server.as_bytes());
    hash_bytes(&key)
}

/// The `Set-Cookie` value for a token.
pub(crate) fn set_cookie_value(
    name: &str,
    token: u64,
    secure: bool,
    max_age: Option<u64>,
) -> String {
    let mut v = format!("{name}={}; Path=/; HttpOnly; SameSite=Lax", encode(token));
    if secure {
        v.push_str("; Secure");
    }
    if let Some(age) = max_age {
        v.push_str(&format!("; Max-Age={age}"));
    }
    v
}

pub use switchyard_balance::rendezvous;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding of the 8 big-endian bytes (11 characters).
pub fn encode(v: u64) -> String {
    let bytes = v.to_be_bytes();
    let mut out = String::with_capacity(11);
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            n |= u32::from(*b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The inverse of [`encode`]; `None` for anything else.
pub fn decode(s: &str) -> Option<u64> {
    let s = s.as_bytes();
    if s.len() != 11 {
        return None;
    }
    let mut acc: u128 = 0;
    for &c in s {
        let d = ALPHABET.iter().position(|&a| a == c)? as u128;
        acc = acc << 6 | d;
    }
    // 66 bits were read for 64: the last 2 must be zero (canonical form only).
    if acc & 0b11 != 0 {
        return None;
    }
    Some((acc >> 2) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_base64url() {
        for v in [0, 1, u64::MAX, 0xdead_beef_0123_4567, token("app", "a")] {
            let s = encode(v);
            assert_eq!(s.len(), 11);
            assert!(s.bytes().all(|b| ALPHABET.contains(&b)));
            assert_eq!(decode(&s), Some(v), "{s}");
        }
        assert_eq!(decode("AAAAAAAAAAB"), None, "non-canonical tail bits");
        assert_eq!(decode("short"), None);
        assert_eq!(decode("AAAAAAAAAA="), None);
    }

    #[test]
    fn the_cookie_value_names_no_address() {
        let v = set_cookie_value("SYD_SRV", token("app", "a"), true, Some(3600));
        assert!(v.starts_with("SYD_SRV="));
        assert!(v.ends_with("; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=3600"));
        assert!(!v.contains("127.0.0.1") && !v.contains(":900"));
        assert_ne!(token("app", "a"), token("app", "b"));
        assert_ne!(token("app", "a"), token("other", "a"));
    }
}
