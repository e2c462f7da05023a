//! Raw TOML structures to the validated model, one section per module.
//!
//! Order matters only for references: pools and datacenters are converted first so
//! listeners, records and announcements can check what they name. Every check records
//! its error and carries on with a placeholder, so one pass reports everything.

use std::time::Duration;

use crate::error::Ctx;
use crate::model::{
    AccessLog, Admin, CheckKind, Config, Global, Listener, ListenerKind, LogFormat, LogTarget,
    Pool, ProxyProtocol,
};
use crate::raw::{RawAdmin, RawConfig, RawGlobal, RawPool, Str, S};

mod dns;
mod gslb;
mod listener;
mod pool;
mod rdata;
mod route;
mod tls;
pub(crate) mod values;

/// A pool without `[pool.health]` that only udp listeners use gets no active checks
/// (`check = "none"`) instead of the default TCP connect check: a UDP-only server
/// refuses TCP connections, so every server would be marked down and every datagram
/// dropped. Passive ejection and the admin API still apply.
fn udp_pools_default_to_no_checks(pools: &mut [Pool], raw: &[RawPool], listeners: &[Listener]) {
    for pool in pools.iter_mut() {
        let explicit = raw
            .iter()
            .any(|r| r.name.get_ref() == &pool.name && r.health.is_some());
        let users: Vec<&Listener> = listeners
            .iter()
            .filter(|l| l.pools().contains(&pool.name.as_str()))
            .collect();
        let udp_only = !users.is_empty()
            && users
                .iter()
                .all(|l| matches!(l.kind, ListenerKind::Udp { .. }));
        if !explicit && udp_only {
            pool.health.check = CheckKind::None;
        }
    }
}

/// A pool that tcp/tls listeners send PROXY headers to has servers that require one:
/// its checks send one too (see `Health::proxy_header`). Without it every check was a bad
/// header to such a server (nginx logs `broken header` per check) and http checks failed.
fn checks_send_proxy_headers(pools: &mut [Pool], listeners: &[Listener]) {
    for pool in pools.iter_mut() {
        let sent = listeners
            .iter()
            .filter(|l| l.pools().contains(&pool.name.as_str()))
            .filter_map(|l| match &l.kind {
                ListenerKind::Tcp { proxy_protocol, .. }
                | ListenerKind::Tls { proxy_protocol, .. } => Some(*proxy_protocol),
                _ => None,
            });
        pool.health.proxy_header = sent
            .max_by_key(|p| match p {
                ProxyProtocol::Off => 0,
                ProxyProtocol::V1 => 1,
                ProxyProtocol::V2 => 2,
            })
            .unwrap_or_default();
    }
}

/// Build the model from the raw file; errors go to `cx`.
pub(crate) fn build(raw: &RawConfig, cx: &mut Ctx) -> Config {
    let global = raw
        .global
        .as_ref()
        .map(|g| global(cx, g))
        .unwrap_or_default();
    let admin = raw.admin.as_ref().and_then(|a| admin(cx, a));
    let mut pools = pool::pools(cx, &raw.pool);
    let mut pool_names: Vec<String> = raw.pool.iter().map(|p| p.name.get_ref().clone()).collect();
    pool_names.dedup();
    pool_names.sort();
    pool_names.dedup();
    let refs = Refs { pools: &pool_names };
    let listeners = listener::listeners(cx, &raw.listener, &refs, &pools);
    udp_pools_default_to_no_checks(&mut pools, &raw.pool, &listeners);
    checks_send_proxy_headers(&mut pools, &listeners);
    if let (Some(a), Some(raw_admin)) = (&admin, &raw.admin) {
        listener::admin_conflicts(cx, a.listen, &raw_admin.get_ref().listen, &listeners);
    }
    let datacenters = gslb::datacenters(cx, &raw.datacenter, &refs);
    let geoip = raw.geoip.as_ref().and_then(|g| gslb::geoip(cx, g));
    let env = dns::Env {
        pools: &pools,
        refs: &refs,
        datacenters: &datacenters,
        raw_datacenters: &raw.datacenter,
        has_geoip: raw.geoip.is_some(),
    };
    let zones = dns::zones(cx, &raw.zone, &env);
    let anycast = raw
        .anycast
        .as_ref()
        .map(|a| gslb::anycast(cx, a, &refs, &pools));
    Config {
        global,
        admin,
        pools,
        listeners,
        zones,
        datacenters,
        geoip,
        anycast,
    }
}

/// Names that other sections may refer to.
pub(crate) struct Refs<'a> {
    pub pools: &'a [String],
}

// === impl Refs ===

impl Refs<'_> {
    /// Check that `v` names a pool; `what` says who refers to it ("route", "record").
    pub fn pool(&self, cx: &mut Ctx, v: &Str, what: &str) -> String {
        let name = v.get_ref();
        if !self.pools.iter().any(|p| p == name) {
            undefined(cx, v, &format!("{what} pool"), "pools", self.pools);
        }
        name.clone()
    }
}

/// `WHAT "x" is not defined; KINDS are: a, b` with a did-you-mean hint.
pub(crate) fn undefined(cx: &mut Ctx, v: &Str, what: &str, kinds: &str, defined: &[String]) {
    let name = v.get_ref();
    let message = if defined.is_empty() {
        format!("{what} \"{name}\" is not defined; no {kinds} are defined")
    } else {
        format!(
            "{what} \"{name}\" is not defined; {kinds} are: {}",
            defined.join(", ")
        )
    };
    let names: Vec<&str> = defined.iter().map(String::as_str).collect();
    match values::did_you_mean(name, &names) {
        Some(s) => cx.error_hint(v.span(), message, format!("did you mean \"{s}\"?")),
        None => cx.error(v.span(), message),
    }
}

/// Render a duration the way users write them: `"1m30s"`, `"500ms"`.
pub(crate) fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// Reject a key that the surrounding choice makes meaningless.
pub(crate) fn not_here<T>(cx: &mut Ctx, v: &Option<S<T>>, key: &str, why: &str) {
    if let Some(v) = v {
        cx.error(v.span(), format!("{key} {why}"));
    }
}

fn global(cx: &mut Ctx, g: &RawGlobal) -> Global {
    let shutdown_timeout = values::duration_or(
        cx,
        &g.shutdown_timeout,
        "shutdown_timeout",
        Global::DEFAULT_SHUTDOWN_TIMEOUT,
    );
    let mut access_log = AccessLog::default();
    if let Some(a) = &g.access_log {
        if let Some(t) = &a.target {
            access_log.target = match t.get_ref().as_str() {
                "off" => LogTarget::Off,
                "stdout" => LogTarget::Stdout,
                "" => {
                    cx.error(
                        t.span(),
                        "access_log target is empty; use off, stdout or a file path",
                    );
                    LogTarget::Off
                }
                path => LogTarget::File(cx.resolve(path)),
            };
        }
        if let Some(f) = &a.format {
            let options = [("json", LogFormat::Json), ("combined", LogFormat::Combined)];
            access_log.format =
                values::choice(cx, f, "access_log format", &options).unwrap_or_default();
        }
    }
    let workers = g
        .workers
        .as_ref()
        .and_then(|w| values::int_in(cx, w, "workers", 1..=1024))
        .map(|n| n as usize);
    Global {
        shutdown_timeout,
        workers,
        access_log,
    }
}

fn admin(cx: &mut Ctx, a: &S<RawAdmin>) -> Option<Admin> {
    let a = a.get_ref();
    let listen = values::socket_addr(cx, &a.listen, "admin listen");
    let token = a.token.as_ref().map(|t| {
        if t.get_ref().trim().is_empty() {
            cx.error_hint(
                t.span(),
                "admin token is empty",
                "remove the key to disable authentication",
            );
        }
        t.get_ref().clone()
    });
    Some(Admin {
        listen: listen?,
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_render_like_users_write_them() {
        assert_eq!(show_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(show_duration(Duration::from_secs(2)), "2s");
        assert_eq!(show_duration(Duration::ZERO), "0s");
    }
}
