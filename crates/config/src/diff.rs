//! What changed between two validated configurations, for hot reload.
//!
//! Items are matched by name: a pool, listener, zone or datacenter with the same name in
//! both is "changed" or "unchanged", never removed and re-added, so the runtime keeps
//! its sockets, counters and health state where it can. For changed pools the diff goes
//! down to servers and says which aspects changed, so a weight edit does not reset
//! health history.

use std::fmt;

use crate::model::{Config, Listener, Pool};

/// The difference between an old and a new configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigDiff {
    /// `[global]` changed.
    pub global: bool,
    /// `[admin]` changed (added, removed or edited).
    pub admin: bool,
    /// Listeners by name.
    pub listeners: NameDiff,
    /// Changed listeners whose `listen` address or `protocol` changed: their socket must
    /// be replaced. The rest of `listeners.changed` can swap settings in place.
    pub listeners_rebind: Vec<String>,
    /// Pools by name.
    pub pools: NameDiff,
    /// Details for each pool in `pools.changed`, same order.
    pub pool_changes: Vec<PoolDiff>,
    /// Zones by name.
    pub zones: NameDiff,
    /// Datacenters by name.
    pub datacenters: NameDiff,
    /// `[geoip]` changed.
    pub geoip: bool,
    /// `[anycast]` changed.
    pub anycast: bool,
}

/// Added, removed, changed and unchanged names of one kind, in file order (new file
/// for added/changed/unchanged, old file for removed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameDiff {
    /// Only in the new configuration.
    pub added: Vec<String>,
    /// Only in the old configuration.
    pub removed: Vec<String>,
    /// In both, different.
    pub changed: Vec<String>,
    /// In both, equal.
    pub unchanged: Vec<String>,
}

/// How one pool changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolDiff {
    /// The pool's name.
    pub name: String,
    /// `algorithm`, `hash_key` or the algorithm parameters changed.
    pub algorithm: bool,
    /// `[pool.health]` changed.
    pub health: bool,
    /// `[pool.outlier]` changed.
    pub outlier: bool,
    /// `[pool.affinity]` changed.
    pub affinity: bool,
    /// `slow_start`, `panic_threshold`, `drain_timeout` or `backend_protocol` changed.
    pub settings: bool,
    /// Servers by name (changed: address, weight, backup or check_address).
    pub servers: NameDiff,
    /// Changed servers whose only change is `weight`.
    pub reweighted: Vec<String>,
}

/// Compare two configurations.
pub fn diff(old: &Config, new: &Config) -> ConfigDiff {
    let pools = names(&old.pools, &new.pools, |p| &p.name);
    let pool_changes = pools
        .changed
        .iter()
        .filter_map(|n| Some(pool_diff(old.pool(n)?, new.pool(n)?)))
        .collect();
    let listeners = names(&old.listeners, &new.listeners, |l| &l.name);
    let listeners_rebind = listeners
        .changed
        .iter()
        .filter(|n| match (old.listener(n), new.listener(n)) {
            (Some(a), Some(b)) => needs_rebind(a, b),
            _ => false,
        })
        .cloned()
        .collect();
    ConfigDiff {
        global: old.global != new.global,
        admin: old.admin != new.admin,
        listeners,
        listeners_rebind,
        pools,
        pool_changes,
        zones: names(&old.zones, &new.zones, |z| &z.name),
        datacenters: names(&old.datacenters, &new.datacenters, |d| &d.name),
        geoip: old.geoip != new.geoip,
        anycast: old.anycast != new.anycast,
    }
}

// === impl ConfigDiff ===

impl ConfigDiff {
    /// Whether nothing changed at all.
    pub fn is_empty(&self) -> bool {
        !self.global
            && !self.admin
            && self.listeners.is_unchanged()
            && self.pools.is_unchanged()
            && self.zones.is_unchanged()
            && self.datacenters.is_unchanged()
            && !self.geoip
            && !self.anycast
    }

    /// The details of a changed pool.
    pub fn pool(&self, name: &str) -> Option<&PoolDiff> {
        self.pool_changes.iter().find(|p| p.name == name)
    }
}

/// One line in operators' words for the reload log, e.g. `added pool canary; removed
/// listener old; changed pool app (servers added c, health), admin; 3 unchanged`, or
/// `nothing changed`.
impl fmt::Display for ConfigDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds = [
            ("listener", &self.listeners),
            ("pool", &self.pools),
            ("zone", &self.zones),
            ("datacenter", &self.datacenters),
        ];
        let tagged = |pick: fn(&NameDiff) -> &Vec<String>| -> Vec<String> {
            kinds
                .iter()
                .flat_map(|(kind, d)| pick(d).iter().map(move |n| format!("{kind} {n}")))
                .collect()
        };
        let mut changed = Vec::new();
        for (kind, d) in kinds {
            for name in &d.changed {
                let detail = match kind {
                    "pool" => self.pool(name).map(PoolDiff::aspects).unwrap_or_default(),
                    "listener" if self.listeners_rebind.contains(name) => {
                        "address or protocol".to_string()
                    }
                    _ => String::new(),
                };
                changed.push(if detail.is_empty() {
                    format!("{kind} {name}")
                } else {
                    format!("{kind} {name} ({detail})")
                });
            }
        }
        let sections = [
            ("global", self.global),
            ("admin", self.admin),
            ("geoip", self.geoip),
            ("anycast", self.anycast),
        ];
        changed.extend(sections.iter().filter(|s| s.1).map(|s| s.0.to_string()));
        let unchanged: usize = kinds.iter().map(|(_, d)| d.unchanged.len()).sum();
        let mut parts = Vec::new();
        for (verb, list) in [
            ("added", tagged(|d| &d.added)),
            ("removed", tagged(|d| &d.removed)),
            ("changed", changed),
        ] {
            if !list.is_empty() {
                parts.push(format!("{verb} {}", list.join(", ")));
            }
        }
        if parts.is_empty() {
            parts.push("nothing changed".to_string());
        }
        if unchanged > 0 {
            parts.push(format!("{unchanged} unchanged"));
        }
        f.write_str(&parts.join("; "))
    }
}

// === impl PoolDiff ===

impl PoolDiff {
    /// What changed in the pool, e.g. `servers added c, removed a, health`.
    fn aspects(&self) -> String {
        let mut servers = Vec::new();
        for (verb, list) in [
            ("added", &self.servers.added),
            ("removed", &self.servers.removed),
            ("changed", &self.servers.changed),
        ] {
            if !list.is_empty() {
                servers.push(format!("{verb} {}", list.join(" ")));
            }
        }
        let mut out = Vec::new();
        if !servers.is_empty() {
            out.push(format!("servers {}", servers.join(", ")));
        }
        let flags = [
            ("algorithm", self.algorithm),
            ("health", self.health),
            ("outlier", self.outlier),
            ("affinity", self.affinity),
            ("settings", self.settings),
        ];
        out.extend(flags.iter().filter(|f| f.1).map(|f| f.0.to_string()));
        out.join(", ")
    }
}

// === impl NameDiff ===

impl NameDiff {
    /// Whether nothing was added, removed or changed.
    pub fn is_unchanged(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

fn names<T: PartialEq>(old: &[T], new: &[T], name: impl Fn(&T) -> &String) -> NameDiff {
    let mut d = NameDiff::default();
    for n in new {
        match old.iter().find(|o| name(o) == name(n)) {
            None => d.added.push(name(n).clone()),
            Some(o) if o == n => d.unchanged.push(name(n).clone()),
            Some(_) => d.changed.push(name(n).clone()),
        }
    }
    for o in old {
        if !new.iter().any(|n| name(n) == name(o)) {
            d.removed.push(name(o).clone());
        }
    }
    d
}

fn pool_diff(old: &Pool, new: &Pool) -> PoolDiff {
    let servers = names(&old.servers, &new.servers, |s| &s.name);
    let reweighted = servers
        .changed
        .iter()
        .filter(|n| match (old.server(n), new.server(n)) {
            (Some(a), Some(b)) => {
                a.weight != b.weight
                    && a.address == b.address
                    && a.backup == b.backup
                    && a.check_address == b.check_address
            }
            _ => false,
        })
        .cloned()
        .collect();
    PoolDiff {
        name: new.name.clone(),
        algorithm: old.algorithm != new.algorithm
            || old.hash_key != new.hash_key
            || old.params != new.params,
        health: old.health != new.health,
        outlier: old.outlier != new.outlier,
        affinity: old.affinity != new.affinity,
        settings: old.slow_start != new.slow_start
            || old.panic_threshold != new.panic_threshold
            || old.drain_timeout != new.drain_timeout
            || old.backend_protocol != new.backend_protocol,
        servers,
        reweighted,
    }
}

fn needs_rebind(old: &Listener, new: &Listener) -> bool {
    old.listen != new.listen || old.protocol() != new.protocol()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    const BASE: &str = r#"
[[pool]]
name = "app"
[[pool.server]]
name = "a"
address = "127.0.0.1:9001"
[[pool.server]]
name = "b"
address = "127.0.0.1:9002"

[[pool]]
name = "old"
[[pool.server]]
name = "x"
address = "127.0.0.1:9100"

[[listener]]
name = "web"
protocol = "http"
listen = "127.0.0.1:8080"
pool = "app"

[[listener]]
name = "db"
protocol = "tcp"
listen = "127.0.0.1:5432"
pool = "old"
"#;

    fn cfg(src: &str) -> Config {
        parse(src, "t.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn identical_configs_have_an_empty_diff() {
        let d = diff(&cfg(BASE), &cfg(BASE));
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(d.pools.unchanged, ["app", "old"]);
        assert_eq!(d.listeners.unchanged, ["web", "db"]);
    }

    #[test]
    fn server_level_changes_are_named() {
        let new = BASE
            .replace(
                "address = \"127.0.0.1:9002\"",
                "address = \"127.0.0.1:9002\"\nweight = 5",
            )
            .replace(
                "name = \"a\"\naddress = \"127.0.0.1:9001\"",
                "name = \"c\"\naddress = \"127.0.0.1:9003\"",
            );
        let d = diff(&cfg(BASE), &cfg(&new));
        assert_eq!(d.pools.changed, ["app"]);
        let p = d.pool("app").unwrap();
        assert_eq!(p.servers.added, ["c"]);
        assert_eq!(p.servers.removed, ["a"]);
        assert_eq!(p.servers.changed, ["b"]);
        assert_eq!(p.reweighted, ["b"]);
        assert!(!p.algorithm && !p.health && !p.settings);
    }

    #[test]
    fn algorithm_and_health_changes_are_flagged() {
        let new = BASE.replacen(
            "name = \"app\"\n",
            "name = \"app\"\nalgorithm = \"maglev\"\n[pool.health]\ninterval = \"5s\"\n",
            1,
        );
        let d = diff(&cfg(BASE), &cfg(&new));
        let p = d.pool("app").unwrap();
        assert!(p.algorithm && p.health && !p.outlier && !p.affinity);
        assert!(p.servers.is_unchanged());
    }

    #[test]
    fn listeners_and_pools_added_removed_and_rebound() {
        let new = BASE
            .replace("127.0.0.1:8080", "127.0.0.1:8081")
            .replace("name = \"old\"", "name = \"fresh\"")
            .replace("pool = \"old\"", "pool = \"fresh\"")
            + "\n[[listener]]\nname = \"udp\"\nprotocol = \"udp\"\nlisten = \"127.0.0.1:5514\"\npool = \"app\"\n";
        let d = diff(&cfg(BASE), &cfg(&new));
        assert_eq!(d.pools.added, ["fresh"]);
        assert_eq!(d.pools.removed, ["old"]);
        assert_eq!(d.listeners.added, ["udp"]);
        assert_eq!(d.listeners.changed, ["web", "db"]);
        assert_eq!(d.listeners_rebind, ["web"]);
        assert!(!d.global && !d.admin && !d.geoip && !d.anycast);
    }

    #[test]
    fn sections_changed_flags() {
        let new = format!(
            "[global]\nshutdown_timeout = \"5s\"\n[admin]\nlisten = \"127.0.0.1:9900\"\n{BASE}"
        );
        let d = diff(&cfg(BASE), &cfg(&new));
        assert!(d.global && d.admin && !d.is_empty());
        assert!(d.pools.is_unchanged() && d.listeners.is_unchanged());
    }

    #[test]
    fn the_reload_log_line_names_what_changed_in_words() {
        let new = BASE
            .replace("127.0.0.1:8080", "127.0.0.1:8081")
            .replace(
                "name = \"a\"\naddress = \"127.0.0.1:9001\"",
                "name = \"c\"\naddress = \"127.0.0.1:9003\"",
            )
            .replacen(
                "name = \"app\"\n",
                "name = \"app\"\nalgorithm = \"maglev\"\n",
                1,
            )
            .replace("name = \"old\"", "name = \"fresh\"")
            .replace("pool = \"old\"", "pool = \"fresh\"");
        let new = format!("[admin]\nlisten = \"127.0.0.1:9900\"\n{new}");
        let d = diff(&cfg(BASE), &cfg(&new));
        assert_eq!(
            d.to_string(),
            "added pool fresh; removed pool old; changed listener web (address or protocol), \
             listener db, pool app (servers added c, removed a, algorithm), admin"
        );
        assert_eq!(
            diff(&cfg(BASE), &cfg(BASE)).to_string(),
            "nothing changed; 4 unchanged"
        );
    }
}
