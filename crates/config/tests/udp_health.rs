//! A pool that only udp listeners use is not TCP-checked by default: a UDP-only server
//! refuses TCP connections, so the default check would mark every server down.

use switchyard_config::*;

fn config(pool_extra: &str, listeners: &str) -> Config {
    let text = format!(
        "[[pool]]\nname = \"collectors\"\n{pool_extra}\n\
         [[pool.server]]\nname = \"c1\"\naddress = \"127.0.0.1:5514\"\n{listeners}"
    );
    parse(&text, "lb.toml").unwrap_or_else(|e| panic!("{e}"))
}

const UDP: &str = "[[listener]]\nname = \"syslog\"\nprotocol = \"udp\"\nlisten = \"127.0.0.1:5515\"\npool = \"collectors\"\n";
const TCP: &str = "[[listener]]\nname = \"db\"\nprotocol = \"tcp\"\nlisten = \"127.0.0.1:5516\"\npool = \"collectors\"\n";

fn check(c: &Config) -> CheckKind {
    c.pool("collectors").unwrap().health.check
}

#[test]
fn a_pool_only_udp_listeners_use_has_no_active_checks_by_default() {
    assert_eq!(check(&config("", UDP)), CheckKind::None);
}

#[test]
fn an_explicit_health_table_is_kept_for_udp_pools() {
    let c = config("[pool.health]\ncheck = \"tcp\"\ninterval = \"5s\"\n", UDP);
    assert_eq!(check(&c), CheckKind::Tcp);
}

#[test]
fn a_pool_a_tcp_listener_also_uses_keeps_the_tcp_check() {
    assert_eq!(check(&config("", &format!("{UDP}{TCP}"))), CheckKind::Tcp);
    assert_eq!(check(&config("", TCP)), CheckKind::Tcp);
    // Used by no listener at all (e.g. only by DNS records): the documented default.
    assert_eq!(check(&config("", "")), CheckKind::Tcp);
}
