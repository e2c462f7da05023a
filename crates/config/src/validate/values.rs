//! Scalar conversions shared by every section: durations, addresses, names, bounded
//! integers and one-of-a-list choices, each reporting a located error on failure.
//!
//! Each returns `Option`: `None` means an error was recorded and the caller carries on
//! with a placeholder, so one pass finds every problem.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::{Range, RangeInclusive};
use std::time::Duration;

use crate::error::Ctx;
use crate::raw::{IntOrStr, Str, S};

/// Tracks first definitions of names of one kind, for duplicate errors.
pub(crate) struct Unique {
    kind: &'static str,
    seen: HashMap<String, Range<usize>>,
}

// === impl Unique ===

impl Unique {
    pub fn new(kind: &'static str) -> Self {
        Unique {
            kind,
            seen: HashMap::new(),
        }
    }

    /// Record `name`; a second definition is an error pointing at the first.
    pub fn check(
        &mut self,
        cx: &mut Ctx,
        name: &str,
        span: impl std::borrow::Borrow<Range<usize>>,
    ) {
        let span = span.borrow();
        if let Some(first) = self.seen.get(name) {
            let first = cx.location(first);
            cx.error(
                span,
                format!(
                    "duplicate {} \"{name}\" (first defined at {first})",
                    self.kind
                ),
            );
        } else {
            self.seen.insert(name.to_string(), span.clone());
        }
    }
}

/// A name of kind `kind` (`"pool"`, `"server"`...): `[a-z0-9_-]+`.
pub(crate) fn name(cx: &mut Ctx, v: &Str, kind: &str) -> String {
    let s = v.get_ref();
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !ok {
        let suggestion: String = s
            .to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let hint = if suggestion.is_empty() {
            "names use lowercase letters, digits, '_' and '-'".to_string()
        } else {
            format!("names use lowercase letters, digits, '_' and '-', e.g. \"{suggestion}\"")
        };
        cx.error_hint(v.span(), format!("invalid {kind} name \"{s}\""), hint);
    }
    s.clone()
}

/// Parse `"500ms"`, `"2s"`, `"1.5m"`, `"1h30m"`, `"14d"`.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * scale;
    }
    if !total.is_finite() || total > 1e12 {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

/// A duration value of key `key`.
pub(crate) fn duration(cx: &mut Ctx, v: &Str, key: &str) -> Option<Duration> {
    let parsed = parse_duration(v.get_ref());
    if parsed.is_none() {
        cx.error_hint(
            v.span(),
            format!("invalid duration \"{}\" for {key}", v.get_ref()),
            "use a number with a unit: ms, s, m, h, d (e.g. \"500ms\", \"2s\", \"1h30m\")",
        );
    }
    parsed
}

/// An optional duration with a default.
pub(crate) fn duration_or(cx: &mut Ctx, v: &Option<Str>, key: &str, default: Duration) -> Duration {
    v.as_ref()
        .and_then(|v| duration(cx, v, key))
        .unwrap_or(default)
}

/// An optional duration.
pub(crate) fn opt_duration(cx: &mut Ctx, v: &Option<Str>, key: &str) -> Option<Duration> {
    v.as_ref().and_then(|v| duration(cx, v, key))
}

/// Whole seconds from `300` or `"5m"` (DNS TTLs and SOA timers).
pub(crate) fn seconds(cx: &mut Ctx, v: &S<IntOrStr>, key: &str) -> Option<u32> {
    let secs = match v.get_ref() {
        IntOrStr::Int(n) => *n,
        IntOrStr::Str(s) => match parse_duration(s) {
            Some(d) => d.as_secs() as i64,
            None => {
                cx.error_hint(
                    v.span(),
                    format!("invalid {key} \"{s}\""),
                    "use seconds (300) or a duration with a unit: s, m, h, d (\"5m\")",
                );
                return None;
            }
        },
    };
    if !(0..=i64::from(i32::MAX)).contains(&secs) {
        cx.error(
            v.span(),
            format!("{key} {secs} is out of range 0..=2147483647 seconds"),
        );
        return None;
    }
    Some(secs as u32)
}

/// An `IP:PORT` address.
pub(crate) fn socket_addr(cx: &mut Ctx, v: &Str, key: &str) -> Option<SocketAddr> {
    let s = v.get_ref();
    match s.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            let hint = if s.matches(':').count() > 1 && !s.starts_with('[') {
                "write IPv6 addresses in brackets: \"[::1]:8080\"".to_string()
            } else if !s.contains(':') {
                format!("add a port: \"{s}:PORT\"")
            } else {
                "use IP:PORT, e.g. \"127.0.0.1:8080\" or \"[::1]:8080\"; host names are not resolved"
                    .to_string()
            };
            cx.error_hint(v.span(), format!("invalid {key} address \"{s}\""), hint);
            None
        }
    }
}

/// An integer within `range`.
pub(crate) fn int_in(
    cx: &mut Ctx,
    v: &S<i64>,
    key: &str,
    range: RangeInclusive<i64>,
) -> Option<i64> {
    let n = *v.get_ref();
    if range.contains(&n) {
        Some(n)
    } else {
        let shown = if *range.end() == i64::MAX {
            format!("{}..", range.start())
        } else {
            format!("{}..={}", range.start(), range.end())
        };
        cx.error(v.span(), format!("{key} {n} is out of range {shown}"));
        None
    }
}

/// An optional integer within `range`, with a default.
pub(crate) fn int_or(
    cx: &mut Ctx,
    v: &Option<S<i64>>,
    key: &str,
    range: RangeInclusive<i64>,
    default: i64,
) -> i64 {
    v.as_ref()
        .and_then(|v| int_in(cx, v, key, range))
        .unwrap_or(default)
}

/// One of a fixed list of words.
pub(crate) fn choice<T: Copy>(
    cx: &mut Ctx,
    v: &Str,
    key: &str,
    options: &[(&str, T)],
) -> Option<T> {
    let s = v.get_ref();
    if let Some((_, t)) = options.iter().find(|(n, _)| *n == s) {
        return Some(*t);
    }
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    unknown(cx, v.span(), key, s, &names);
    None
}

/// `unknown KEY "x"; expected one of a, b` with a did-you-mean hint.
pub(crate) fn unknown(cx: &mut Ctx, span: Range<usize>, key: &str, got: &str, names: &[&str]) {
    let message = format!(
        "unknown {key} \"{got}\"; expected one of {}",
        names.join(", ")
    );
    match did_you_mean(got, names) {
        Some(s) => cx.error_hint(&span, message, format!("did you mean \"{s}\"?")),
        None => cx.error(&span, message),
    }
}

/// The closest candidate within a small edit distance.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&word, c), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_compounds() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("14d"), Some(Duration::from_secs(14 * 86400)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        for bad in ["5 sec", "5", "", "s", "1x", "-1s", "1e999s", "..s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn did_you_mean_finds_near_misses_only() {
        let names = ["round_robin", "random", "maglev"];
        assert_eq!(did_you_mean("round_robbin", &names), Some("round_robin"));
        assert_eq!(did_you_mean("maglv", &names), Some("maglev"));
        assert_eq!(did_you_mean("fastest", &names), None);
    }
}
