//! The discrete-event simulator behind `switchyard simulate SCENARIO [--out DIR]`.
//!
//! It runs the real decision code — `switchyard-balance` for picking servers,
//! `switchyard-health` for rise/fall health checks — against a workload model on a
//! virtual clock, so what the simulator shows is what the proxy would do. Nothing here
//! re-implements an algorithm or a health rule: `pool.rs` is the one adapter between the
//! engine and those crates.
//!
//! ```text
//! scenario/  TOML -> Scenario (raw serde, checks)  workload.rs  arrivals, service times
//! engine/    event loop, requests; control plane   server.rs    concurrency, queue, crashes
//! pool.rs    balance + health adapter              stats.rs     streaming measurements
//! report.rs  table, results.json                   svg.rs       charts, index.html
//! ```
//!
//! Every algorithm of a scenario runs on the same seeded workload, one after the other;
//! a run is a pure function of the scenario and its seed.

mod duration;
mod engine;
mod error;
mod histogram;
mod pool;
mod progress;
mod report;
mod scenario;
mod server;
mod stats;
mod svg;
mod workload;

use std::path::Path;

pub use duration::parse_duration;
pub use error::SimError;
pub use histogram::Histogram;
pub use report::{Latency, Report, RunReport};
pub use scenario::{
    Action, Arrivals, DeadServer, Dns, Event, HealthSpec, OutlierSpec, Scenario, Service,
    SimServer, DEFAULT_TIMEOUT,
};

use engine::{Engine, Route};
use progress::Progress;

/// Nanoseconds on the virtual clock (the unit `switchyard-balance` and `-health` take).
pub type Nanos = u64;

/// The name of the baseline run in which every request goes straight to one server.
pub const DIRECT: &str = "direct";

/// Reads a scenario, runs it, prints nothing, and with `out_dir` writes `results.json`,
/// the SVG charts and `index.html` there. With `progress`, draws a progress bar on stderr
/// when stderr is a terminal. The caller prints [`Report::table`].
pub fn run_file(path: &Path, out_dir: Option<&Path>, progress: bool) -> Result<Report, SimError> {
    let scenario = Scenario::load(path)?;
    if let Some(dir) = out_dir {
        // before the run, which may take minutes: a bad DIR is said at once
        prepare_out_dir(dir)?;
    }
    let report = run(&scenario, progress)?;
    if let Some(dir) = out_dir {
        report.write_all(dir)?;
    }
    Ok(report)
}

/// Creates `dir` (and its parents) for the results, or says why it cannot be.
fn prepare_out_dir(dir: &Path) -> Result<(), SimError> {
    let wrap = |source| SimError::Write {
        path: dir.to_owned(),
        source,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(wrap(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "it is a file, not a directory",
        )));
    }
    std::fs::create_dir_all(dir).map_err(wrap)
}

/// Runs every run of a scenario (`direct` first if asked for, then each algorithm).
pub fn run(scenario: &Scenario, progress: bool) -> Result<Report, SimError> {
    let mut bar = Progress::new(progress);
    let names = scenario.run_names();
    let mut runs = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        bar.phase(format!("{name} ({}/{})", i + 1, names.len()));
        let route = route_for(scenario, name);
        let stats = Engine::new(scenario, route)?.run(&mut |f| bar.update(f))?;
        runs.push(RunReport::from_stats(name, &stats));
    }
    bar.finish();
    let window = scenario.duration as f64 / 1e9 / scenario.windows as f64;
    Ok(Report {
        seed: scenario.seed,
        duration_s: scenario.duration as f64 / 1e9,
        warmup_s: scenario.warmup as f64 / 1e9,
        servers: scenario.servers.iter().map(|s| s.name.clone()).collect(),
        window_starts: (0..scenario.windows).map(|i| i as f64 * window).collect(),
        runs,
    })
}

/// How requests are routed in the run called `name`.
fn route_for(scenario: &Scenario, name: &str) -> Route {
    if name == DIRECT {
        if let Some(server) = scenario.direct {
            return Route::Direct(server);
        }
    }
    let balancers = (0..scenario.balancers)
        .map(|i| pool::Balancer::new(scenario, name, i as u64))
        .collect();
    match &scenario.dns {
        Some(dns) => Route::Dns {
            balancers,
            cache: vec![(u32::MAX, 0); dns.shares.len()],
            ttl: dns.ttl,
        },
        None => Route::Balanced(balancers),
    }
}
