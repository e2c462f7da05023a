//! Response rate limiting per client network (/24 for IPv4, /56 for IPv6).
//!
//! A fixed table of atomic buckets indexed by a hash of the network: each bucket packs the
//! current second and the responses sent in it into one `u64`, updated with a CAS, so the
//! check is lock-free and the table never grows however many addresses an attacker
//! spoofs. Networks that collide in the table share a budget, which only errs on the side
//! of limiting; the table is large enough for that to be rare.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets in the table (a power of two).
const BUCKETS: usize = 1 << 14;

/// The per-network response budget of one listener.
#[derive(Debug)]
pub struct RateLimiter {
    buckets: Box<[AtomicU64]>,
}

// === impl RateLimiter ===

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl RateLimiter {
    /// Count one response to `client` at second `now_secs`; whether it is within `limit`
    /// responses per second for the client's network.
    pub fn allow(&self, client: IpAddr, now_secs: u64, limit: u32) -> bool {
        let bucket = &self.buckets[(network_hash(client) as usize) & (BUCKETS - 1)];
        let second = (now_secs & 0xFFFF_FFFF) << 32;
        let mut current = bucket.load(Ordering::Relaxed);
        loop {
            let count = if current & !0xFFFF_FFFF == second {
                current & 0xFFFF_FFFF
            } else {
                0
            };
            if count >= u64::from(limit) {
                return false;
            }
            match bucket.compare_exchange_weak(
                current,
                second | (count + 1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }
}

/// A hash of the client's /24 (IPv4) or /56 (IPv6).
fn network_hash(client: IpAddr) -> u64 {
    let key = match client {
        IpAddr::V4(a) => u64::from(u32::from(a) >> 8),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => u64::from(u32::from(v4) >> 8),
            None => ((u128::from(a) >> 72) as u64) | (1 << 63),
        },
    };
    // splitmix64 finaliser
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_applies_per_second_and_per_network() {
        let rl = RateLimiter::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let same_net: IpAddr = "192.0.2.200".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(rl.allow(a, 5, 3));
        assert!(rl.allow(same_net, 5, 3));
        assert!(rl.allow(a, 5, 3));
        assert!(!rl.allow(same_net, 5, 3));
        assert!(rl.allow(other, 5, 3));
        assert!(rl.allow(a, 6, 3), "a new second refills the budget");
    }

    #[test]
    fn ipv6_networks_are_slash_56() {
        let rl = RateLimiter::default();
        let a: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let same: IpAddr = "2001:db8:0:ff::2".parse().unwrap();
        let other: IpAddr = "2001:db8:0:100::1".parse().unwrap();
        assert!(rl.allow(a, 1, 1));
        assert!(!rl.allow(same, 1, 1));
        assert!(rl.allow(other, 1, 1));
    }
}
