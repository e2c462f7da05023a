//! Fuzz the TLS ClientHello SNI reader: any bytes, never a panic; a complete answer is
//! stable when more bytes follow, and a name is lowercase DNS characters only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_l4::sni::read_sni;

fuzz_target!(|data: &[u8]| {
    let result = read_sni(data);
    if let Ok(Some(sni)) = &result {
        if let Some(name) = sni {
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b)));
        }
        let mut longer = data.to_vec();
        longer.extend_from_slice(b"\x17\x03\x03\x00\x01x");
        assert_eq!(read_sni(&longer), result, "trailing bytes changed a complete answer");
    }
});
