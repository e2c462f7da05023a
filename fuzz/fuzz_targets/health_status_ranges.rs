//! Fuzzes the `expect_status` parser: it must never panic, and whatever it accepts must
//! print as text that parses back to the same ranges.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_health::StatusRanges;

fuzz_target!(|text: &str| {
    if let Ok(ranges) = text.parse::<StatusRanges>() {
        let again: StatusRanges = ranges.to_string().parse().expect("display parses back");
        assert_eq!(ranges, again);
    }
});
