//! The command line, defined once with clap so that completions and the man page are
//! generated from the same definition.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// One load balancer for every layer: DNS, L4, L7, global traffic and anycast.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about, long_about = None)]
pub struct Cli {
    /// Log format on stderr (filter with RUST_LOG, e.g. RUST_LOG=switchyard=debug).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run with a configuration file.
    Run(ConfigArg),
    /// Validate a configuration: exit 0 when valid, 2 with FILE:LINE:COL errors when not.
    Check(ConfigArg),
    /// Run the whole system on this machine with built-in demo backends, no file needed.
    Demo(DemoArgs),
    /// Run a discrete-event simulation of a scenario file and compare algorithms.
    Simulate(SimulateArgs),
    /// Print shell completions or the man page (for packagers).
    #[command(hide = true)]
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The configuration file (TOML).
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Print the equivalent configuration file and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Run a built-in client sending RATE requests per second to the HTTP listener.
    #[arg(long, value_name = "RATE", value_parser = traffic_rate, allow_negative_numbers = true)]
    pub traffic: Option<f64>,
}

/// `--traffic RATE`: a bad rate is a usage error (exit 2), reported by clap.
fn traffic_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 10_000.0 => Ok(rate),
        _ => Err(format!(
            "expected a rate above 0 and at most 10000 requests per second, not {text:?}"
        )),
    }
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Write results.json and SVG charts into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to generate.
    #[arg(value_enum)]
    pub what: Generated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generated {
    Bash,
    Zsh,
    Fish,
    Man,
}
