//! Fuzzes the BIRD control-protocol reply parser with arbitrary text, line by line, as the
//! control socket would deliver it. Nothing may panic, and every reply it completes must be
//! non-empty and readable by the helpers the controller uses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_anycast::ReplyParser;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parser = ReplyParser::default();
    for line in text.split('\n') {
        match parser.push_line(line) {
            Ok(Some(reply)) => {
                assert!(!reply.lines.is_empty());
                let _ = reply.protocols();
                let _ = reply.toggle("vip_web");
            }
            Ok(None) => {}
            Err(_) => parser = ReplyParser::default(),
        }
    }
});
