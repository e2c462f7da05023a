//! Fuzzes the gRPC health decoders with arbitrary bytes off the wire: framing, the
//! response message, and the two together. None may panic; a frame that decodes must
//! lie within the input, and re-framing its message must reproduce the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_health::{decode_frame, decode_health_body, decode_health_response, encode_frame};

fuzz_target!(|data: &[u8]| {
    let _ = decode_health_response(data);
    let _ = decode_health_body(data);
    if let Ok((message, used)) = decode_frame(data) {
        assert!(used <= data.len());
        assert_eq!(encode_frame(message), &data[..used]);
    }
});
