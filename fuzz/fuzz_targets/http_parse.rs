//! Fuzz the small request readers (host, cookies, query) and the affinity token codec:
//! nothing panics, and tokens round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_http::{affinity, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut mid = s.len() / 2;
    while !s.is_char_boundary(mid) {
        mid -= 1;
    }
    let (a, b) = s.split_at(mid);
    let _ = parse::strip_port(s);
    let _ = parse::cookie_in(s, a.trim());
    let _ = parse::query_has(s, a, b);
    let _ = parse::query_value(s, b);
    if let Some(v) = affinity::decode(s) {
        assert_eq!(affinity::encode(v), s);
    }
    if data.len() >= 8 {
        let v = u64::from_le_bytes(data[..8].try_into().unwrap());
        assert_eq!(affinity::decode(&affinity::encode(v)), Some(v));
    }
});
