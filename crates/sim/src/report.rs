//! The results of a simulation: per-run summaries, the comparison table printed on
//! stdout, and `results.json`.
//!
//! `results.json` keeps the shape other tools read —
//! `{"algorithms": {NAME: {completed, dropped, errors, latency_ms: {mean, p50, p95, p99},
//! share: {SERVER: FRACTION}}}}` — and puts everything else (loads, Little's law, the time
//! series behind the charts) under other top-level keys, so the documented shape never
//! changes. Keys keep the scenario's order.

use std::fmt::Write as _;
use std::path::Path;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Value};

use crate::stats::RunStats;
use crate::SimError;

/// Everything a simulation found, one [`RunReport`] per algorithm (and `direct`).
#[derive(Debug, Clone)]
pub struct Report {
    pub seed: u64,
    /// Simulated seconds of arrivals, and the warm-up excluded from the numbers.
    pub duration_s: f64,
    pub warmup_s: f64,
    pub servers: Vec<String>,
    /// Start of each chart window, in seconds.
    pub window_starts: Vec<f64>,
    pub runs: Vec<RunReport>,
}

/// The numbers of one run.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub name: String,
    pub completed: u64,
    pub dropped: u64,
    pub errors: u64,
    /// Latency of completed requests, from arrival to answer (retries included).
    pub latency_ms: Latency,
    /// Fraction of the attempts sent to each server (scenario order).
    pub share: Vec<f64>,
    /// Time-average requests at each server (in service + queued).
    pub load_mean: Vec<f64>,
    pub load_peak: Vec<u64>,
    /// Little's law: time-average requests in the system, arrival rate (per second) and
    /// mean time in system (seconds) of the measured requests, however they ended.
    pub in_system: f64,
    /// Requests that arrived in the measured interval (completed + dropped + errors).
    pub arrivals: u64,
    pub arrival_rate: f64,
    pub time_in_system_s: f64,
    /// Per chart window: latency percentiles (ms) of the requests completed in it (the
    /// charts cover `[0, duration)`; requests finishing after it count only in totals).
    pub window_latency_ms: Vec<[f64; 3]>,
    pub window_errors: Vec<u64>,
    /// Per server, per window: time-average requests at the server.
    pub window_load: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// A JSON object whose keys keep their order (`serde_json::Value` would sort them).
struct Ordered(Vec<(String, Node)>);

/// A value inside an [`Ordered`] object: plain JSON, or another ordered object.
enum Node {
    V(Value),
    O(Ordered),
}

// === impl Report ===

impl Report {
    /// The run with this name (an algorithm, or `direct`).
    pub fn run(&self, name: &str) -> Option<&RunReport> {
        self.runs.iter().find(|r| r.name == name)
    }

    /// The comparison table printed by `switchyard simulate`.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let many = self.servers.len() > 6;
        let _ = write!(
            out,
            "{:<28} {:>10} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "algorithm",
            "completed",
            "dropped",
            "errors",
            "mean ms",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max/mean"
        );
        if many {
            let _ = write!(out, "  share min..max");
        } else {
            for s in &self.servers {
                let _ = write!(out, " {:>7}", trim(s, 7));
            }
        }
        out.push('\n');
        for r in &self.runs {
            let l = r.latency_ms;
            let _ = write!(
                out,
                "{:<28} {:>10} {:>8} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.2}",
                r.name,
                r.completed,
                r.dropped,
                r.errors,
                l.mean,
                l.p50,
                l.p95,
                l.p99,
                r.max_mean_load()
            );
            if many {
                let min = r.share.iter().cloned().fold(f64::INFINITY, f64::min);
                let max = r.share.iter().cloned().fold(0.0, f64::max);
                let _ = write!(out, "  {:.1}%..{:.1}%", min * 100.0, max * 100.0);
            } else {
                for s in &r.share {
                    let _ = write!(out, " {:>6.1}%", s * 100.0);
                }
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "(seed {}, {:.0}s simulated{}; latency of completed requests; columns after max/mean: share of attempts per server; max/mean: busiest server's mean load over the average)",
            self.seed,
            self.duration_s,
            if self.warmup_s > 0.0 { format!(", first {:.0}s not counted", self.warmup_s) } else { String::new() }
        );
        out
    }

    /// The `results.json` document.
    pub fn to_json(&self) -> String {
        let server_map = |values: &[f64]| -> Node {
            Ordered(
                self.servers
                    .iter()
                    .cloned()
                    .zip(values.iter().map(v))
                    .collect(),
            )
            .into()
        };
        let algorithms = self.runs.iter().map(|r| {
            let l = r.latency_ms;
            let body = Ordered(vec![
                ("completed".into(), v(r.completed)),
                ("dropped".into(), v(r.dropped)),
                ("errors".into(), v(r.errors)),
                (
                    "latency_ms".into(),
                    Node::V(json!({"mean": l.mean, "p50": l.p50, "p95": l.p95, "p99": l.p99})),
                ),
                ("share".into(), server_map(&r.share)),
            ]);
            (r.name.clone(), body.into())
        });
        let details = self.runs.iter().map(|r| {
            let peaks: Vec<f64> = r.load_peak.iter().map(|&p| p as f64).collect();
            let body = Ordered(vec![
                ("latency_max_ms".into(), v(r.latency_ms.max)),
                ("load_mean".into(), server_map(&r.load_mean)),
                ("load_peak".into(), server_map(&peaks)),
                ("max_mean_load".into(), v(r.max_mean_load())),
                ("in_system".into(), v(r.in_system)),
                ("arrivals".into(), v(r.arrivals)),
                ("arrival_rate".into(), v(r.arrival_rate)),
                ("time_in_system_s".into(), v(r.time_in_system_s)),
                ("window_latency_ms".into(), v(&r.window_latency_ms)),
                ("window_errors".into(), v(&r.window_errors)),
                (
                    "window_load".into(),
                    Ordered(
                        self.servers
                            .iter()
                            .cloned()
                            .zip(r.window_load.iter().map(v))
                            .collect(),
                    )
                    .into(),
                ),
            ]);
            (r.name.clone(), body.into())
        });
        let doc = Ordered(vec![
            ("algorithms".into(), Ordered(algorithms.collect()).into()),
            (
                "scenario".into(),
                Node::V(
                    json!({"seed": self.seed, "duration_s": self.duration_s, "warmup_s": self.warmup_s, "servers": self.servers, "window_starts_s": self.window_starts}),
                ),
            ),
            ("details".into(), Ordered(details.collect()).into()),
        ]);
        let mut text =
            serde_json::to_string_pretty(&doc).expect("plain numbers and strings serialize");
        text.push('\n');
        text
    }

    /// Writes `DIR/results.json` (creating DIR).
    pub fn write_json(&self, dir: &Path) -> Result<(), SimError> {
        write_file(&dir.join("results.json"), &self.to_json())
    }

    /// Writes `DIR/results.json`, the SVG charts and an `index.html` that shows them.
    pub fn write_all(&self, dir: &Path) -> Result<(), SimError> {
        self.write_json(dir)?;
        self.write_svgs(dir)
    }
}

/// Any serializable value as a JSON leaf.
fn v<T: Serialize>(x: T) -> Node {
    Node::V(serde_json::to_value(x).expect("plain numbers and strings serialize"))
}

/// Creates the parent directory and writes a file, naming it on failure.
pub(crate) fn write_file(path: &Path, text: &str) -> Result<(), SimError> {
    let wrap = |source| SimError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(wrap)?;
    }
    std::fs::write(path, text).map_err(|source| SimError::Write {
        path: path.to_owned(),
        source,
    })
}

fn trim(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

// === impl RunReport ===

impl RunReport {
    /// Builds the summary of a finished run.
    pub fn from_stats(name: &str, stats: &RunStats) -> Self {
        let frame = stats.frame;
        let ms = |ns: f64| ns / 1e6;
        let h = &stats.latency;
        let picks: u64 = stats.picks.iter().sum();
        let share = stats
            .picks
            .iter()
            .map(|&p| {
                if picks == 0 {
                    0.0
                } else {
                    p as f64 / picks as f64
                }
            })
            .collect();
        let secs = frame.measured_secs();
        let arrival_rate = stats.arrivals as f64 / secs;
        RunReport {
            name: name.to_owned(),
            completed: stats.completed,
            dropped: stats.dropped,
            errors: stats.errors,
            latency_ms: Latency {
                mean: ms(h.mean()),
                p50: ms(h.quantile(0.50) as f64),
                p95: ms(h.quantile(0.95) as f64),
                p99: ms(h.quantile(0.99) as f64),
                max: ms(h.max() as f64),
            },
            share,
            load_mean: stats.server_load.iter().map(|l| l.mean(&frame)).collect(),
            load_peak: stats.server_load.iter().map(|l| l.peak).collect(),
            in_system: stats.in_system.mean(&frame),
            arrivals: stats.arrivals,
            arrival_rate,
            time_in_system_s: if stats.arrivals == 0 {
                0.0
            } else {
                stats.sojourn_sum / stats.arrivals as f64 / 1e9
            },
            window_latency_ms: stats
                .window_latency
                .iter()
                .map(|h| [0.50, 0.95, 0.99].map(|q| ms(h.quantile(q) as f64)))
                .collect(),
            window_errors: stats.window_errors.clone(),
            window_load: stats
                .server_load
                .iter()
                .map(|l| l.window_means(&frame))
                .collect(),
        }
    }

    /// The busiest server's mean load over the average server's (1.0 is perfectly even).
    pub fn max_mean_load(&self) -> f64 {
        let n = self.load_mean.len() as f64;
        let mean = self.load_mean.iter().sum::<f64>() / n;
        let max = self.load_mean.iter().cloned().fold(0.0, f64::max);
        if mean > 0.0 {
            max / mean
        } else {
            0.0
        }
    }

    /// Fraction of the measured requests that did not complete.
    pub fn failure_rate(&self) -> f64 {
        let total = self.completed + self.dropped + self.errors;
        if total == 0 {
            0.0
        } else {
            (self.dropped + self.errors) as f64 / total as f64
        }
    }
}

// === impl Ordered ===

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::V(v) => v.serialize(s),
            Node::O(o) => o.serialize(s),
        }
    }
}

impl From<Value> for Node {
    fn from(v: Value) -> Node {
        Node::V(v)
    }
}

impl From<Ordered> for Node {
    fn from(o: Ordered) -> Node {
        Node::O(o)
    }
}
