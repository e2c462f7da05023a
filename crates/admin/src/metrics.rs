//! A small Prometheus text-format (0.0.4) writer.
//!
//! The exposition is built into one `String` per scrape: [`family`] writes a metric
//! family's `# HELP` and `# TYPE` lines and returns a [`Family`] that appends its samples
//! right under them, which is what the format requires (every sample of a family in one
//! block). Label values and help text are escaped here, once, so callers pass raw
//! operator-chosen names (pools, servers, listeners) without thinking about quoting.
//! Histograms come from [`HistogramSnapshot`] and are written as cumulative
//! `_bucket{le=...}` series, `_sum` (seconds) and `_count`.
//!
//! Naming: every name starts with `switchyard_`, counters end in `_total`, and values
//! carry their unit in the name (`_seconds`, `_bytes`).

use std::fmt::Write;

use crate::histogram::{HistogramSnapshot, EXPORTED_BOUNDS};

/// The content type of the exposition served on `/metrics`.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `# TYPE` of a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// A metric family being written: its samples follow its header.
#[derive(Debug)]
pub struct Family<'a> {
    out: &'a mut String,
    name: &'a str,
}

/// A sample value: integers print exactly, floats in Prometheus' spelling.
pub trait MetricValue {
    fn write_to(&self, out: &mut String);
}

/// Starts the family `name`: writes its `# HELP` and `# TYPE` lines.
///
/// `name` must be a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`); that is a programming
/// error, checked in debug builds.
pub fn family<'a>(out: &'a mut String, name: &'a str, kind: MetricKind, help: &str) -> Family<'a> {
    debug_assert!(valid_name(name), "invalid metric name {name:?}");
    let kind = match kind {
        MetricKind::Counter => "counter",
        MetricKind::Gauge => "gauge",
        MetricKind::Histogram => "histogram",
    };
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    escape_help(out, help);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
    Family { out, name }
}

/// True for a valid metric or label name.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends `value` escaped for use inside a quoted label value.
pub fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn write_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let extra = le.map(|le| ("le", le));
    for (i, (key, value)) in labels.iter().copied().chain(extra).enumerate() {
        debug_assert!(valid_name(key), "invalid label name {key:?}");
        if i > 0 {
            out.push(',');
        }
        out.push_str(key);
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }
    out.push('}');
}

// === impl Family ===

impl Family<'_> {
    /// Writes one sample of this family with the given labels.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: impl MetricValue) -> &mut Self {
        self.line("", labels, None, &value);
        self
    }

    /// Writes a histogram's `_bucket`, `_sum` and `_count` series for one label set.
    pub fn histogram(
        &mut self,
        labels: &[(&str, &str)],
        snapshot: &HistogramSnapshot,
    ) -> &mut Self {
        for (bound, le) in EXPORTED_BOUNDS {
            self.line("_bucket", labels, Some(le), &snapshot.cumulative_at(bound));
        }
        let count = snapshot.count();
        self.line("_bucket", labels, Some("+Inf"), &count);
        self.line("_sum", labels, None, &snapshot.sum().as_secs_f64());
        self.line("_count", labels, None, &count);
        self
    }

    /// Writes a histogram kept in some other shape: `buckets` are `(upper bound in
    /// seconds, cumulative count)` pairs in increasing order, without `+Inf`, which is
    /// written from `count`. For histograms that are not a [`HistogramSnapshot`].
    pub fn histogram_buckets(
        &mut self,
        labels: &[(&str, &str)],
        buckets: &[(f64, u64)],
        sum_seconds: f64,
        count: u64,
    ) -> &mut Self {
        let mut le = String::new();
        for (bound, cumulative) in buckets {
            le.clear();
            bound.write_to(&mut le);
            self.line("_bucket", labels, Some(&le), cumulative);
        }
        self.line("_bucket", labels, Some("+Inf"), &count);
        self.line("_sum", labels, None, &sum_seconds);
        self.line("_count", labels, None, &count);
        self
    }

    fn line(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        le: Option<&str>,
        value: &dyn MetricValue,
    ) {
        self.out.push_str(self.name);
        self.out.push_str(suffix);
        write_labels(self.out, labels, le);
        self.out.push(' ');
        value.write_to(self.out);
        self.out.push('\n');
    }
}

// === impl MetricValue ===

macro_rules! integer_value {
    ($($t:ty),*) => {$(
        impl MetricValue for $t {
            fn write_to(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}

integer_value!(u8, u16, u32, u64, usize, i32, i64);

impl MetricValue for f64 {
    fn write_to(&self, out: &mut String) {
        if self.is_nan() {
            out.push_str("NaN");
        } else if self.is_infinite() {
            out.push_str(if *self > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            let _ = write!(out, "{self}");
        }
    }
}

impl MetricValue for bool {
    fn write_to(&self, out: &mut String) {
        out.push(if *self { '1' } else { '0' });
    }
}

impl<T: MetricValue + ?Sized> MetricValue for &T {
    fn write_to(&self, out: &mut String) {
        (**self).write_to(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::Histogram;
    use std::time::Duration;

    #[test]
    fn family_writes_header_then_samples() {
        let mut out = String::new();
        family(
            &mut out,
            "switchyard_x_total",
            MetricKind::Counter,
            "Things.\nMore",
        )
        .sample(&[], 3u64)
        .sample(&[("pool", "a\"b\\c\nd")], 4u64);
        assert_eq!(
            out,
            "# HELP switchyard_x_total Things.\\nMore\n# TYPE switchyard_x_total counter\n\
             switchyard_x_total 3\nswitchyard_x_total{pool=\"a\\\"b\\\\c\\nd\"} 4\n"
        );
    }

    #[test]
    fn floats_use_prometheus_spelling() {
        let mut out = String::new();
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.25] {
            v.write_to(&mut out);
            out.push(' ');
        }
        assert_eq!(out, "NaN +Inf -Inf 0.25 ");
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf() {
        let h = Histogram::new();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(30));
        let mut out = String::new();
        family(
            &mut out,
            "switchyard_lat_seconds",
            MetricKind::Histogram,
            "Latency.",
        )
        .histogram(&[("pool", "p")], &h.snapshot());
        assert!(out.contains("switchyard_lat_seconds_bucket{pool=\"p\",le=\"0.0025\"} 0\n"));
        assert!(out.contains("switchyard_lat_seconds_bucket{pool=\"p\",le=\"0.005\"} 1\n"));
        assert!(out.contains("switchyard_lat_seconds_bucket{pool=\"p\",le=\"0.05\"} 2\n"));
        assert!(out.contains("switchyard_lat_seconds_bucket{pool=\"p\",le=\"10\"} 2\n"));
        assert!(out.contains("switchyard_lat_seconds_bucket{pool=\"p\",le=\"+Inf\"} 3\n"));
        assert!(out.contains("switchyard_lat_seconds_sum{pool=\"p\"} 30.033\n"));
        assert!(out.contains("switchyard_lat_seconds_count{pool=\"p\"} 3\n"));
    }

    #[test]
    fn foreign_histograms_render_like_ours() {
        let mut out = String::new();
        family(
            &mut out,
            "switchyard_x_seconds",
            MetricKind::Histogram,
            "X.",
        )
        .histogram_buckets(&[("pool", "p")], &[(0.001, 1), (0.5, 3)], 0.75, 4);
        assert_eq!(
            out,
            "# HELP switchyard_x_seconds X.\n# TYPE switchyard_x_seconds histogram\n\
             switchyard_x_seconds_bucket{pool=\"p\",le=\"0.001\"} 1\n\
             switchyard_x_seconds_bucket{pool=\"p\",le=\"0.5\"} 3\n\
             switchyard_x_seconds_bucket{pool=\"p\",le=\"+Inf\"} 4\n\
             switchyard_x_seconds_sum{pool=\"p\"} 0.75\n\
             switchyard_x_seconds_count{pool=\"p\"} 4\n"
        );
    }

    #[test]
    fn names_are_validated() {
        assert!(valid_name("switchyard_up"));
        assert!(valid_name("a:b_c9"));
        assert!(!valid_name("9abc"));
        assert!(!valid_name("a-b"));
        assert!(!valid_name(""));
    }
}
