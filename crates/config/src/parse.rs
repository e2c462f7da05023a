//! Entry points: read a file, deserialize the TOML into `raw`, validate into the model.
//!
//! TOML syntax and shape errors come from the `toml` crate with a byte span; they are
//! rendered in the same `FILE:LINE:COL` form as semantic errors, with unknown keys
//! turned into "did you mean" hints. Serde stops at the first such error; semantic
//! validation then reports every problem it finds in one pass.

use std::fs;
use std::ops::Range;
use std::path::Path;

use crate::error::{Ctx, Error, Errors};
use crate::model::Config;
use crate::raw::RawConfig;
use crate::validate;
use crate::validate::values::did_you_mean;

/// Read, parse and validate the configuration file at `path`. Relative paths inside it
/// (certificates, GeoIP database, access log) resolve against its directory.
pub fn load(path: impl AsRef<Path>) -> Result<Config, Errors> {
    let path = path.as_ref();
    let file = path.display().to_string();
    match fs::read_to_string(path) {
        Ok(source) => parse(&source, &file),
        Err(e) => Err(Errors(vec![Error {
            file,
            line: 0,
            col: 0,
            message: format!("cannot read the configuration file: {e}"),
            hint: None,
        }])),
    }
}

/// Parse and validate `source`, naming it `file_name` in errors. Relative paths inside
/// it resolve against `file_name`'s directory (the current directory when it has none).
pub fn parse(source: &str, file_name: &str) -> Result<Config, Errors> {
    let base = Path::new(file_name)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut cx = Ctx::new(file_name, source, base);
    let raw: RawConfig = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let (message, hint) = explain(source, &span, e.message());
            match hint {
                Some(h) => cx.error_hint(&span, message, h),
                None => cx.error(&span, message),
            }
            return Err(cx.into_errors());
        }
    };
    let config = validate::build(&raw, &mut cx);
    if cx.has_errors() {
        Err(cx.into_errors())
    } else {
        Ok(config)
    }
}

/// Operator wording for the toml crate's messages.
fn explain(src: &str, span: &Range<usize>, message: &str) -> (String, Option<String>) {
    let message = message.trim();
    let table = enclosing_table(src, span.start);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let allowed: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let msg = format!("unknown key \"{key}\" in {table}");
        let list = allowed.join(", ");
        let hint = match did_you_mean(key, &allowed) {
            Some(s) => format!("did you mean \"{s}\"? {table} takes: {list}"),
            None if allowed.is_empty() => format!("{table} takes no keys"),
            None => format!("{table} takes: {list}"),
        };
        return (msg, Some(hint));
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let key = rest.split('`').next().unwrap_or(rest);
        return (format!("missing required key \"{key}\" in {table}"), None);
    }
    if message.contains("invalid type: map, expected a sequence") {
        let line = src
            .get(span.start..)
            .and_then(|s| s.lines().next())
            .unwrap_or("");
        let key = line.trim().trim_matches(['[', ']']).trim();
        if line.trim_start().starts_with('[') && !key.is_empty() {
            return (
                format!("[{key}] must be written [[{key}]]: there can be several"),
                Some(format!("write [[{key}]] once per entry")),
            );
        }
    }
    if message.contains("expected a string") && message.contains("integer") {
        return (
            format!("{message} (in {table})"),
            Some("durations are strings with a unit, e.g. \"2s\"".to_string()),
        );
    }
    (format!("{message} (in {table})"), None)
}

/// The table header (`[[pool]]`, `[pool.health]`) around byte `at`, or the inline
/// table's key when `at` is inside `key = { ... }` on its line.
fn enclosing_table(src: &str, at: usize) -> String {
    let at = at.min(src.len());
    let before = src.get(..at).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let on_line = &before[line_start..];
    let line_end = src
        .get(at..)
        .and_then(|rest| rest.find('\n'))
        .map_or(src.len(), |i| at + i);
    let header = src
        .get(..line_end)
        .unwrap_or(before)
        .lines()
        .rev()
        .map(str::trim_start)
        .find(|l| l.starts_with('['))
        .map(|l| {
            let end = l.rfind(']').map_or(l.len(), |i| i + 1);
            l[..end].to_string()
        })
        .unwrap_or_else(|| "the top level".to_string());
    if let Some(brace) = on_line.rfind('{') {
        if !on_line[brace..].contains('}') {
            let key = on_line[..brace].trim_end().trim_end_matches('=').trim();
            let key = key.rsplit([',', '{', ' ']).next().unwrap_or(key);
            if !key.is_empty() {
                return format!("{key} (in {header})");
            }
        }
    }
    header
}
