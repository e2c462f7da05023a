//! `check`, `run`, `simulate` and `generate`: each a few lines over a library crate.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, Generated, SimulateArgs};

/// `switchyard check -c FILE`: every error with its location, exit 2 when any.
pub fn check(path: &Path) -> ExitCode {
    match switchyard_config::load(path) {
        Ok(config) => {
            print_out(&format!(
                "{}: configuration is valid ({} listeners, {} pools, {} zones, {} datacenters)\n",
                path.display(),
                config.listeners.len(),
                config.pools.len(),
                config.zones.len(),
                config.datacenters.len()
            ));
            if let Some(warning) = serves_nothing(&config) {
                eprintln!("{}: warning: {warning}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            let n = errors.len();
            eprintln!(
                "{}: {n} error{}",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            ExitCode::from(2)
        }
    }
}

/// Why `config` would serve nothing, if so (an empty file, say): no listener, no admin
/// API, no anycast announcements. Valid, but surely not what was meant.
fn serves_nothing(config: &switchyard_config::Config) -> Option<&'static str> {
    (config.listeners.is_empty() && config.admin.is_none() && config.anycast.is_none()).then_some(
        "the configuration defines no [[listener]], no [admin] and no [anycast]: switchyard will serve nothing",
    )
}

/// Writes `text` to standard output. A reader that went away (`| head`) is not an error,
/// as for any Unix filter; `print!` would panic on it.
pub fn print_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("switchyard: cannot write to standard output: {e}");
        }
        _ => {}
    }
}

/// `switchyard run -c FILE`: serve until SIGTERM/SIGINT, reload on SIGHUP.
pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = match switchyard_config::load(path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    let fd_limit = raise_open_file_limit();
    warn_about_flows_beyond(fd_limit, &config);
    if let Some(warning) = serves_nothing(&config) {
        tracing::warn!(config = %path.display(), "{warning}");
    }
    let runtime = async_runtime(config.global.workers)?;
    runtime.block_on(async {
        let signals =
            switchyard_runtime::Signals::install().context("cannot listen for signals")?;
        let system = switchyard_runtime::Runtime::start(config, Some(path.to_path_buf()))
            .await
            .with_context(|| format!("cannot start with {}", path.display()))?;
        tracing::info!(config = %path.display(), "switchyard is running");
        system
            .run_until_signalled(signals)
            .await
            .context("signal handling failed")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Raises the open-file limit to the hard limit (each proxied connection holds two
/// descriptors), and says so; warns when even that is low. Returns the limit in force,
/// when known.
pub fn raise_open_file_limit() -> Option<u64> {
    match switchyard_net::raise_open_file_limit() {
        Ok(limit) => {
            if limit.now > limit.before {
                tracing::debug!(
                    from = limit.before,
                    to = limit.now,
                    "raised the open-file limit to its hard limit"
                );
            }
            if limit.now < switchyard_net::LOW_FD_LIMIT {
                tracing::warn!(
                    limit = limit.now,
                    "the open-file limit is {}: about {} connections can be proxied at once; raise it with `ulimit -n` or systemd's LimitNOFILE=",
                    limit.now,
                    limit.now / 2
                );
            }
            Some(limit.now)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            None
        }
    }
}

/// Each UDP flow holds a socket: a udp listener allowed more flows than the process may
/// open files would, once full, leave no descriptor for any other listener or the admin
/// API until its flows expire. Said at start, with the setting to change.
fn warn_about_flows_beyond(fd_limit: Option<u64>, config: &switchyard_config::Config) {
    let Some(fd_limit) = fd_limit else { return };
    for l in &config.listeners {
        if let switchyard_config::ListenerKind::Udp { max_flows, .. } = l.kind {
            if max_flows as u64 >= fd_limit {
                tracing::warn!(
                    listener = %l.name,
                    max_flows,
                    fd_limit,
                    "udp listener {}: max_flows {} is not below the open-file limit {}: its flows could take every descriptor; lower max_flows or raise the limit",
                    l.name,
                    max_flows,
                    fd_limit
                );
            }
        }
    }
}

/// The tokio runtime for `global.workers` threads (one per core when unset; a single
/// thread runs the current-thread scheduler, which avoids cross-thread wake-ups).
pub fn async_runtime(workers: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = match workers {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `switchyard simulate SCENARIO [--out DIR]`.
pub fn simulate(args: &SimulateArgs) -> ExitCode {
    use std::io::IsTerminal;
    let progress = std::io::stderr().is_terminal();
    match switchyard_sim::run_file(&args.scenario, args.out.as_deref(), progress) {
        Ok(report) => {
            print_out(&report.table());
            if let Some(dir) = &args.out {
                print_out(&format!("results written to {}\n", dir.display()));
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("switchyard: {error}");
            // A scenario that cannot be read or understood is a usage error; failing to
            // write results is a runtime failure.
            match error {
                switchyard_sim::SimError::Write { .. } => ExitCode::from(1),
                _ => ExitCode::from(2),
            }
        }
    }
}

/// Completions and the man page, generated from the clap definition. They are built in
/// memory and written at once; a reader that stops early (`| head`) ends the output
/// quietly, as for any Unix filter, where clap_complete would panic on the closed pipe.
pub fn generate(what: Generated) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut command = Cli::command();
    let mut text = Vec::new();
    let shell = match what {
        Generated::Bash => Some(clap_complete::Shell::Bash),
        Generated::Zsh => Some(clap_complete::Shell::Zsh),
        Generated::Fish => Some(clap_complete::Shell::Fish),
        Generated::Man => None,
    };
    match shell {
        Some(shell) => clap_complete::generate(shell, &mut command, "switchyard", &mut text),
        None => clap_mangen::Man::new(command)
            .render(&mut text)
            .context("cannot render the man page")?,
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(&text).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e).context("cannot write to standard output"),
    }
}
