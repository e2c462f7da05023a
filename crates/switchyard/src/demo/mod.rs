//! `switchyard demo`: the whole system on this machine with no file needed.
//!
//! It starts four demo backends (`backends`), writes the embedded configuration
//! (`demo.toml`) and MaxMind's test GeoIP database into a private temporary directory,
//! runs the same runtime `switchyard run` does on it (so `SIGHUP` reloads that file), and
//! with `--traffic RATE` a built-in client (`traffic`) so the dashboard moves at once.

pub mod backends;
mod traffic;

use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::cli::DemoArgs;

/// The demo's configuration, as `--print-config` shows it.
pub const CONFIG: &str = include_str!("demo.toml");

/// MaxMind's GeoLite2 City test database (made-up data, MIT licensed).
const GEOIP_DB: &[u8] = include_bytes!("../../assets/GeoLite2-City-Test.mmdb");

/// What `--print-config` prints: the demo's configuration with the geo record and the
/// `[geoip]` section commented out. The demo writes its embedded test database beside
/// its own copy of the file; a saved copy has none, and `switchyard check` would reject
/// the missing database. Uncommented with a real database, it is the demo's file.
pub fn printable_config() -> String {
    CONFIG
        .split("\n\n")
        .map(|block| {
            let note = if block.starts_with("[geoip]") {
                "# The demo embeds a GeoIP test database; a saved file cannot. To answer the geo\n\
                 # record above, uncomment this section and put a MaxMind City database\n\
                 # (e.g. GeoLite2-City.mmdb) beside this file.\n"
            } else if block.contains("policy = \"geo\"") {
                "# A geo record needs the [geoip] database (see the end of the file).\n"
            } else {
                return block.to_string();
            };
            let mut out = note.to_string();
            for (i, line) in block.lines().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str("# ");
                out.push_str(line);
            }
            if block.ends_with('\n') {
                out.push('\n');
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Entry point of `switchyard demo`.
pub fn main(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    if args.print_config {
        crate::commands::print_out(&printable_config());
        return Ok(ExitCode::SUCCESS);
    }
    let dir = tempfile::Builder::new()
        .prefix("switchyard-demo-")
        .tempdir()
        .context("cannot create a temporary directory for the demo configuration")?;
    let path = dir.path().join("switchyard.toml");
    std::fs::write(&path, CONFIG).context("cannot write the demo configuration")?;
    std::fs::write(dir.path().join("GeoLite2-City-Test.mmdb"), GEOIP_DB)
        .context("cannot write the demo GeoIP database")?;
    let config = switchyard_config::load(&path).map_err(|errors| {
        anyhow::anyhow!("the embedded demo configuration is invalid (a bug):\n{errors}")
    })?;
    crate::commands::raise_open_file_limit();
    let runtime = crate::commands::async_runtime(config.global.workers)?;
    runtime.block_on(async {
        let signals =
            switchyard_runtime::Signals::install().context("cannot listen for signals")?;
        let stop_backends = CancellationToken::new();
        backends::start(stop_backends.clone()).await?;
        let system = switchyard_runtime::Runtime::start(config, Some(path.clone()))
            .await
            .context("cannot start the demo")?;
        print_banner(&path);
        if let Some(rate) = args.traffic {
            tokio::spawn(traffic::run(
                "http://127.0.0.1:8080/",
                rate,
                stop_backends.clone(),
            ));
        }
        system.run_until_signalled(signals).await?;
        stop_backends.cancel();
        Ok(ExitCode::SUCCESS)
    })
}

fn print_banner(path: &std::path::Path) {
    println!(
        "\
switchyard demo is running (Ctrl-C to stop)

  dashboard   http://127.0.0.1:9900/
  HTTP        http://127.0.0.1:8080/   balancing over fast, medium, slow and flaky
  DNS         127.0.0.1:5353           zone demo.test
  config      {config}   (edit it, then `kill -HUP {pid}` to reload)

Try:
  curl -s http://127.0.0.1:8080/                      # answered by one of the four backends
  for i in $(seq 20); do curl -s http://127.0.0.1:8080/; done | sort | uniq -c
  curl -s http://127.0.0.1:8080/hello                 # a route that answers by itself
  dig @127.0.0.1 -p 5353 app.demo.test A +short       # the pool's healthy servers
  dig @127.0.0.1 -p 5353 www.demo.test A +short       # static round-robin: order rotates
  dig @127.0.0.1 -p 5353 global.demo.test A +subnet=81.2.69.142/32 +short   # London: nearest datacenter
  curl -s http://127.0.0.1:9900/api/v1/state | head -c 600
  curl -s -X POST http://127.0.0.1:9900/api/v1/pools/demo/servers/fast/drain
  curl -s -X PUT -d '{{\"algorithm\":\"round_robin\"}}' http://127.0.0.1:9900/api/v1/pools/demo/algorithm
  curl -s http://127.0.0.1:9900/metrics | grep switchyard_ | head
",
        config = path.display(),
        pid = std::process::id()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_configuration_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchyard.toml");
        std::fs::write(&path, CONFIG).unwrap();
        std::fs::write(dir.path().join("GeoLite2-City-Test.mmdb"), GEOIP_DB).unwrap();
        let config = switchyard_config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let pool = config.pool("demo").expect("the demo pool");
        let names: Vec<&str> = pool.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["fast", "medium", "slow", "flaky"]);
        for (server, backend) in pool.servers.iter().zip(backends::BACKENDS) {
            assert_eq!(
                server.address.to_string(),
                format!("{}:{}", backend.ip, backend.port)
            );
        }
    }

    #[test]
    fn the_printed_configuration_is_valid_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchyard.toml");
        let printed = printable_config();
        std::fs::write(&path, &printed).unwrap();
        let config = switchyard_config::load(&path).unwrap_or_else(|e| panic!("{e}\n{printed}"));
        assert!(config.geoip.is_none());
        assert!(config.pool("demo").is_some());
        assert_eq!(config.datacenters.len(), 3);
        // The geo parts are there to uncomment; every other line is the demo's own.
        assert!(printed.contains("\n# [geoip]\n") && printed.contains("\n# policy = \"geo\"\n"));
        let uncommented: Vec<&str> = printed
            .lines()
            .filter(|l| !l.starts_with("# The demo embeds") && !l.starts_with("# A geo record"))
            .filter(|l| !l.starts_with("# record above") && !l.starts_with("# (e.g. GeoLite2"))
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if !CONFIG.lines().any(|c| c == l) => rest,
                _ => l,
            })
            .collect();
        assert_eq!(uncommented, CONFIG.lines().collect::<Vec<_>>());
    }

    /// A user who saves the printed file and runs it gets every server down (the demo
    /// backends live in `switchyard demo`); the file says so before they wonder why.
    #[test]
    fn the_printed_configuration_says_its_servers_are_the_demos_own() {
        let printed = printable_config();
        let header: String = printed
            .lines()
            .take_while(|l| l.starts_with('#'))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            header.contains("built into `switchyard demo` only")
                && header.contains("503")
                && header.contains("your own servers"),
            "{header}"
        );
    }
}
