//! A strict checker for the Prometheus text format 0.0.4, independent of the writer
//! under test: it parses every line and checks the rules a scraper relies on.

use std::collections::{HashMap, HashSet};

/// A sample's labels in order.
pub type Labels = Vec<(String, String)>;

#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

/// Parses and validates `text`; returns the samples or every problem found.
pub fn check(text: &str) -> Result<Vec<Sample>, Vec<String>> {
    let mut problems = Vec::new();
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped: HashSet<String> = HashSet::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut samples = Vec::new();
    let mut series = HashSet::new();
    if !text.ends_with('\n') {
        problems.push("exposition does not end with a newline".to_owned());
    }
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let arg = parts.next().unwrap_or("");
            if !valid_name(name) {
                problems.push(format!("line {n}: bad metric name {name:?}"));
            }
            if current.as_deref() != Some(name) {
                if let Some(prev) = current.take() {
                    finished.insert(prev);
                }
                if finished.contains(name) {
                    problems.push(format!("line {n}: family {name} appears twice"));
                }
                current = Some(name.to_owned());
            }
            match kw {
                "HELP" => {
                    if !helped.insert(name.to_owned()) {
                        problems.push(format!("line {n}: second HELP for {name}"));
                    }
                    check_help_escapes(arg)
                        .unwrap_or_else(|e| problems.push(format!("line {n}: {e}")));
                }
                "TYPE" => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&arg) {
                        problems.push(format!("line {n}: unknown type {arg:?}"));
                    }
                    if types.insert(name.to_owned(), arg.to_owned()).is_some() {
                        problems.push(format!("line {n}: second TYPE for {name}"));
                    }
                }
                _ => {}
            }
            continue;
        }
        match parse_sample(line) {
            Ok(sample) => {
                let family = family_of(&sample.name, &types);
                match (&family, &current) {
                    (Some(f), Some(c)) if f == c => {}
                    _ => problems.push(format!(
                        "line {n}: sample {} is not under its family's TYPE",
                        sample.name
                    )),
                }
                let key = format!("{}{:?}", sample.name, sample.labels);
                if !series.insert(key.clone()) {
                    problems.push(format!("line {n}: duplicate series {key}"));
                }
                samples.push(sample);
            }
            Err(e) => problems.push(format!("line {n}: {e}: {line}")),
        }
    }
    check_families(&samples, &types, &mut problems);
    if problems.is_empty() {
        Ok(samples)
    } else {
        Err(problems)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn check_help_escapes(help: &str) -> Result<(), String> {
    let mut chars = help.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && !matches!(chars.next(), Some('\\') | Some('n')) {
            return Err("bad escape in HELP".into());
        }
    }
    Ok(())
}

fn family_of(sample: &str, types: &HashMap<String, String>) -> Option<String> {
    if types.contains_key(sample) {
        return Some(sample.to_owned());
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample.strip_suffix(suffix) {
            if types.get(base).map(String::as_str) == Some("histogram") {
                return Some(base.to_owned());
            }
        }
    }
    None
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err(format!("bad sample name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, remaining) = parse_labels(after)?;
        labels = parsed;
        rest = remaining;
    }
    let value_text = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut fields = value_text.split(' ');
    let value = parse_value(fields.next().unwrap_or(""))?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>().map_err(|_| "bad timestamp")?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s.find('=').ok_or("label without =")?;
        let key = &s[..eq];
        if !valid_name(key) || key.starts_with("__") {
            return Err(format!("bad label name {key:?}"));
        }
        if labels.iter().any(|(k, _)| k == key) {
            return Err(format!("label {key} twice"));
        }
        let mut chars = s[eq + 1..].char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err("label value not quoted".into());
        }
        let mut value = String::new();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break eq + 1 + i + 1,
                Some((_, '\\')) => match chars.next().map(|(_, c)| c) {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    _ => return Err("bad escape in label value".into()),
                },
                Some((_, '\n')) => return Err("raw newline in label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((key.to_owned(), value));
        s = &s[end..];
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err("expected , or } after a label".into());
        }
    }
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        t => t.parse::<f64>().map_err(|_| format!("bad value {t:?}")),
    }
}

fn check_families(samples: &[Sample], types: &HashMap<String, String>, problems: &mut Vec<String>) {
    for (name, kind) in types {
        if kind == "counter" && !name.ends_with("_total") {
            problems.push(format!("counter {name} does not end in _total"));
        }
        if kind == "histogram" {
            check_histogram(name, samples, problems);
        }
    }
    for s in samples {
        if types.get(&s.name).map(String::as_str) == Some("counter") && s.value < 0.0 {
            problems.push(format!("counter {} is negative", s.name));
        }
    }
}

fn check_histogram(name: &str, samples: &[Sample], problems: &mut Vec<String>) {
    let bucket = format!("{name}_bucket");
    let mut groups: HashMap<Labels, Vec<(f64, f64)>> = HashMap::new();
    for s in samples.iter().filter(|s| s.name == bucket) {
        let Some(le) = s.labels.iter().find(|(k, _)| k == "le") else {
            problems.push(format!("{bucket} without le"));
            continue;
        };
        let Ok(bound) = parse_value(&le.1) else {
            problems.push(format!("{bucket} le {:?} is not a number", le.1));
            continue;
        };
        let rest: Vec<_> = s
            .labels
            .iter()
            .filter(|(k, _)| k != "le")
            .cloned()
            .collect();
        groups.entry(rest).or_default().push((bound, s.value));
    }
    for (labels, buckets) in groups {
        let in_order = buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
        if !in_order {
            problems.push(format!(
                "{name}{labels:?}: buckets not increasing or not cumulative"
            ));
        }
        let inf = buckets.last().filter(|b| b.0.is_infinite()).map(|b| b.1);
        let find = |suffix: &str| {
            samples
                .iter()
                .find(|s| s.name == format!("{name}{suffix}") && s.labels == labels)
                .map(|s| s.value)
        };
        match (inf, find("_count"), find("_sum")) {
            (Some(inf), Some(count), Some(_)) if inf == count => {}
            other => problems.push(format!(
                "{name}{labels:?}: +Inf/_count/_sum wrong: {other:?}"
            )),
        }
    }
}
