//! Fuzz the PROXY protocol v1/v2 parser: any bytes, never a panic; a parsed header never
//! claims more bytes than it was given, parses the same from exactly those bytes, and
//! every proper prefix of it is "need more" or an error, never a different header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_l4::proxy_proto::{encode_v1, encode_v2, parse, Header};

fuzz_target!(|data: &[u8]| {
    let Ok(Some((header, used))) = parse(data) else {
        return;
    };
    assert!(used > 0 && used <= data.len());
    assert_eq!(parse(&data[..used]), Ok(Some((header, used))));
    for cut in [used / 2, used.saturating_sub(1)] {
        if let Ok(Some(other)) = parse(&data[..cut]) {
            panic!("prefix of {cut} bytes parsed as {other:?}, whole as {header:?}");
        }
    }
    if let Header::Proxied { source, destination } = header {
        if source.is_ipv4() == destination.is_ipv4() {
            for wire in [encode_v1(source, destination), encode_v2(source, destination)] {
                assert_eq!(parse(&wire), Ok(Some((header, wire.len()))));
            }
        }
    }
});
