//! `cargo run --release -p switchyard-sim --example simulate -- SCENARIO [--out DIR]`:
//! what `switchyard simulate` does, without the rest of the binary — prints the
//! comparison table and, with `--out`, writes results.json, the charts and index.html.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut scenario, mut out) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = args.next().map(PathBuf::from),
            _ if scenario.is_none() => scenario = Some(PathBuf::from(arg)),
            _ => scenario = None,
        }
    }
    let Some(scenario) = scenario else {
        eprintln!("usage: simulate SCENARIO [--out DIR]");
        return ExitCode::from(2);
    };
    match switchyard_sim::run_file(&scenario, out.as_deref(), true) {
        Ok(report) => {
            print!("{}", report.table());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
