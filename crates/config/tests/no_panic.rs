//! The parser never panics: every prefix of the full example, and that example with
//! each line removed or mangled, gives a config or located errors (a cheap stand-in for
//! the cargo-fuzz target in `fuzz/`, which needs nightly).

use std::path::Path;

fn full() -> (String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/full.toml");
    let src = std::fs::read_to_string(&path).unwrap();
    (src, path.display().to_string())
}

fn check(src: &str, file: &str) {
    if let Err(errors) = switchyard_config::parse(src, file) {
        assert!(!errors.is_empty());
        for e in errors.iter() {
            assert!(e.line >= 1 && e.col >= 1, "{e}");
            assert!(e.line <= src.lines().count() + 1, "{e}");
        }
    }
}

#[test]
fn every_prefix_of_the_full_example_parses_or_errors() {
    let (src, file) = full();
    for end in (0..src.len())
        .step_by(7)
        .filter(|i| src.is_char_boundary(*i))
    {
        check(&src[..end], &file);
    }
}

#[test]
fn each_line_removed_or_mangled_parses_or_errors() {
    let (src, file) = full();
    let lines: Vec<&str> = src.lines().collect();
    for i in 0..lines.len() {
        let mut without = lines.clone();
        without.remove(i);
        check(&without.join("\n"), &file);
        for mangle in ["\"\"", "-1", "0", "\"é\u{0}\"", "[]", "{}", "99999999999"] {
            let mut changed = lines.clone();
            let line = lines[i];
            let replaced = match line.split_once('=') {
                Some((k, _)) => format!("{k}= {mangle}"),
                None => format!("{line}{mangle}"),
            };
            changed[i] = &replaced;
            check(&changed.join("\n"), &file);
        }
    }
}
