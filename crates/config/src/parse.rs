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
    let source = read(path)?;
    parse(&source, &path.display().to_string())
}

/// The text of the configuration file at `path`. A file that is not UTF-8 (TOML must
/// be) is reported at the line and column of its first bad byte, so a Latin-1 `é` in a
/// comment can be found in a long file.
pub fn read(path: impl AsRef<Path>) -> Result<String, Errors> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let bytes = fs::read(path).map_err(|e| {
        Errors(vec![Error {
            file: file.clone(),
            line: 0,
            col: 0,
            message: format!("cannot read the configuration file: {e}"),
            hint: None,
        }])
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let good = String::from_utf8_lossy(&bytes[..at]);
        let line = good.matches('\n').count() + 1;
        let col = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Errors(vec![Error {
            file,
            line,
            col,
            message: format!(
                "the file is not valid UTF-8 (byte 0x{:02X}); TOML files must be UTF-8",
                bytes[at]
            ),
            hint: Some(
                "re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 OLD > NEW`".to_string(),
            ),
        }])
    })
}

/// Parse and validate `source`, naming it `file_name` in errors. Relative paths inside
/// it resolve against `file_name`'s directory (the current directory when it has none).
pub fn parse(source: &str, file_name: &str) -> Result<Config, Errors> {
    let base = Path::new(file_name)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut cx = Ctx::new(file_name, source, base);
    let Some(raw) = deserialize(source, &mut cx) else {
        return Err(cx.into_errors());
    };
    let config = validate::build(&raw, &mut cx);
    if cx.has_errors() {
        Err(cx.into_errors())
    } else {
        Ok(config)
    }
}

/// Most shape errors (unknown keys, wrong types) reported before giving up.
const MAX_SHAPE_ERRORS: usize = 20;

/// Deserialize into the raw structs. Serde stops at the first shape error; to report
/// more than one, the offending `key = value` line (or `[table]` and its body) is blanked
/// with spaces, which keeps every byte offset, and parsing is retried. Once a retry fails
/// in a way blanking could have caused (a syntax error, a key we removed now missing),
/// we stop without reporting it. When the blanked text parses, semantic validation runs
/// on it, so one run shows unknown keys and semantic errors together.
fn deserialize(source: &str, cx: &mut Ctx) -> Option<RawConfig> {
    let mut text = source.to_string();
    let mut removed: Vec<String> = Vec::new();
    for _ in 0..MAX_SHAPE_ERRORS {
        let e = match toml::from_str::<RawConfig>(&text) {
            Ok(raw) => return Some(raw),
            Err(e) => e,
        };
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim();
        let recoverable = [
            "unknown field",
            "invalid type",
            "invalid value",
            "invalid length",
        ]
        .iter()
        .any(|p| message.starts_with(p));
        if !removed.is_empty() {
            let missing_removed = message
                .strip_prefix("missing field `")
                .and_then(|r| r.split('`').next())
                .is_some_and(|k| removed.iter().any(|r| r == k));
            if missing_removed || !(recoverable || message.starts_with("missing field")) {
                return None;
            }
        }
        let (message, hint) = explain(source, &span, message);
        match hint {
            Some(h) => cx.error_hint(&span, message, h),
            None => cx.error(&span, message),
        }
        if !recoverable {
            return None;
        }
        let (blanked, key) = blank(&text, &span)?;
        text = blanked;
        removed.push(key);
    }
    None
}

/// Replace the line holding `span` (through the end of its value, or a whole table when
/// the line is a `[header]`) with spaces. Returns the new text and the key removed;
/// `None` when there was nothing left to remove.
fn blank(text: &str, span: &Range<usize>) -> Option<(String, String)> {
    let line_start = |at: usize| {
        text.get(..at)
            .and_then(|t| t.rfind('\n'))
            .map_or(0, |i| i + 1)
    };
    let line_end = |at: usize| {
        text.get(at..)
            .and_then(|t| t.find('\n'))
            .map_or(text.len(), |i| at + i)
    };
    let start = line_start(span.start.min(text.len()));
    let line = text.get(start..line_end(start))?;
    let header = line.trim_start().starts_with('[');
    let end = if header {
        let mut at = line_end(start);
        while at < text.len() {
            let next = line_end(at + 1);
            if text.get(at + 1..next)?.trim_start().starts_with('[') {
                break;
            }
            at = next;
        }
        at
    } else {
        value_end(text, start, line_end(span.end.max(start).min(text.len())))
    };
    let key = line
        .trim()
        .trim_matches(['[', ']'])
        .split('=')
        .next()?
        .trim()
        .to_string();
    let region = text.get(start..end)?;
    if region.trim().is_empty() {
        return None;
    }
    let spaces: String = region
        .bytes()
        .map(|b| if b == b'\n' { '\n' } else { ' ' })
        .collect();
    Some((format!("{}{spaces}{}", &text[..start], &text[end..]), key))
}

/// Where a `key = value` starting at `start` ends: `end` (its line's end) unless an
/// array or inline table opened on it continues on later lines.
fn value_end(text: &str, start: usize, end: usize) -> usize {
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    let bytes = text.as_bytes();
    let mut at = start;
    while at < bytes.len() {
        let b = bytes[at];
        match quote {
            Some(q) => {
                if b == q && !escaped {
                    quote = None;
                }
                escaped = b == b'\\' && !escaped && q == b'"';
            }
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b'[' | b'{' => depth += 1,
                b']' | b'}' => depth -= 1,
                b'#' => {
                    at = text[at..].find('\n').map_or(bytes.len(), |i| at + i);
                    continue;
                }
                b'\n' if at >= end && depth <= 0 => return at,
                _ => {}
            },
        }
        at += 1;
    }
    bytes.len().max(end)
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
    if let Some((found, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
    {
        let expected = match expected {
            "i64" | "u64" | "u32" | "i32" | "u16" | "u8" => "an integer",
            "f64" | "f32" => "a number",
            "a sequence" => "a list",
            "a boolean" => "true or false",
            e if e.starts_with("struct ") || e == "a map" => "a table",
            e => e,
        };
        let key = key_before(src, span.start);
        let msg = format!("{key} must be {expected}, not {found} (in {table})");
        let hint = (expected == "a string" && found.starts_with("integer"))
            .then(|| "durations are strings with a unit, e.g. \"2s\"".to_string());
        return (msg, hint);
    }
    (format!("{message} (in {table})"), None)
}

/// The key whose value starts at byte `at`: `weight` in `weight = "x"`, `connect` in
/// `timeouts = { connect = 5 }`, `values` in `values = [1, 2]`.
fn key_before(src: &str, at: usize) -> String {
    let before = src.get(..at.min(src.len())).unwrap_or("");
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let Some(eq) = line.rfind('=') else {
        return "value".to_string();
    };
    let key = line[..eq]
        .trim_end()
        .rsplit([' ', '{', ',', '\t'])
        .next()
        .unwrap_or("")
        .trim_matches('"');
    if key.is_empty() {
        "value".to_string()
    } else {
        key.to_string()
    }
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
                return format!("{key} in {header}");
            }
        }
    }
    header
}
