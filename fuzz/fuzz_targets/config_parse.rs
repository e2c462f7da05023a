//! Fuzz the configuration parser: any UTF-8 text is either a valid configuration or a
//! list of located errors; nothing panics, and every error points inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = switchyard_config::parse(source, "fuzz.toml") {
        assert!(!errors.is_empty());
        for e in errors.iter() {
            assert!(e.line >= 1 && e.col >= 1);
            assert!(e.line <= source.lines().count() + 1);
        }
    }
});
