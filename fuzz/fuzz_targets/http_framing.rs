//! Fuzz the HTTP/1 framing guard: any byte stream, split anywhere, gives the same
//! released bytes and verdict as the whole stream; a refused head releases exactly the
//! poison after what was released before; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_http::framing::{Fed, Framer, POISON};

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let split = (split as usize).min(input.len());
    let mut whole = Framer::new(1024);
    let mut out_whole = Vec::new();
    let v_whole = whole.feed(input, &mut out_whole);

    let mut parts = Framer::new(1024);
    let mut out_parts = Vec::new();
    let v1 = parts.feed(&input[..split], &mut out_parts);
    let v2 = parts.feed(&input[split..], &mut out_parts);
    assert_eq!(out_whole, out_parts);
    let v_parts = if v1 != Fed::Ok { v1 } else { v2 };
    assert_eq!(v_whole, v_parts);
    if let Fed::Refused(_) = v_whole {
        assert!(out_whole.ends_with(POISON));
    }
    assert!(out_whole.len() <= input.len() + POISON.len());
});
