//! `cargo run -p switchyard-config --example check -- FILE`: validate a file and print
//! every error, like `switchyard check`.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: check FILE");
        std::process::exit(2);
    };
    match switchyard_config::load(&path) {
        Ok(config) => println!(
            "{path}: ok ({} pools, {} listeners, {} zones)",
            config.pools.len(),
            config.listeners.len(),
            config.zones.len()
        ),
        Err(errors) => {
            eprintln!("{errors}");
            std::process::exit(2);
        }
    }
}
