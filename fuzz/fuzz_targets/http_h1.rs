//! Fuzz the HTTP/1 engine's head parsers: request heads (scanner, framing check,
//! httparse into parts and back out) and server answers (rewritten for the client).
//! Nothing may panic; what is written out is always a complete head.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    switchyard_http::fuzz_h1(data);
});
