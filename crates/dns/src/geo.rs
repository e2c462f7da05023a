//! Geo records: answer with the addresses of the datacenter(s) nearest the client.
//!
//! The client's place comes from EDNS Client Subnet when the query carries it, else from
//! the query's source address, looked up in the GeoIP database. `switchyard-gslb` orders
//! the record's datacenters (country pins, then great-circle distance; the record's
//! default order for an unknown place) and picks the first `max_answers` that are up. A
//! datacenter is up while its pool has an Up server (no pool: always up) and it has
//! addresses of the query's family. With ECS, the answer's scope is the prefix length of
//! the GeoIP network that decided it.

use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use switchyard_balance::{Pool, ServerState};
use switchyard_config as config;
use switchyard_gslb::{self as gslb, GeoMap};

use crate::dynamic::Scratch;
use crate::geoip::GeoDb;
use crate::wire::ClientSubnet;
use crate::BuildError;

/// Every `[[datacenter]]`, with its addresses split by family and its pool handle.
#[derive(Debug, Default)]
pub struct Datacenters {
    /// In configuration order.
    pub list: Vec<Datacenter>,
}

/// One datacenter.
#[derive(Debug)]
pub struct Datacenter {
    /// `name`.
    pub name: String,
    /// The IPv4 `addresses`.
    pub v4: Vec<IpAddr>,
    /// The IPv6 `addresses`.
    pub v6: Vec<IpAddr>,
    /// The pool whose health decides whether the datacenter is up.
    pub pool: Option<Arc<Pool>>,
    /// Position and pinned countries, for `switchyard-gslb`.
    pub place: gslb::Datacenter,
}

/// A geo RRset.
#[derive(Debug)]
pub struct Geo {
    map: GeoMap,
    /// Index in `datacenters.list` of each of `map`'s datacenters.
    members: Vec<usize>,
    datacenters: Arc<Datacenters>,
    max_answers: usize,
    v6: bool,
    last_fail_open_log: AtomicU64,
}

// === impl Datacenters ===

impl Datacenters {
    /// From the configuration, resolving pool names.
    pub fn build(
        dcs: &[config::Datacenter],
        pools: &std::collections::HashMap<String, Arc<Pool>>,
    ) -> Result<Self, BuildError> {
        let mut list = Vec::with_capacity(dcs.len());
        for d in dcs {
            let pool = match &d.pool {
                Some(name) => Some(Arc::clone(pools.get(name).ok_or_else(|| {
                    BuildError::Datacenter {
                        datacenter: d.name.clone(),
                        reason: format!("pool {name:?} does not exist"),
                    }
                })?)),
                None => None,
            };
            let place = gslb::Datacenter::new(d.name.clone(), d.latitude, d.longitude)
                .pinning(d.countries.iter().cloned());
            place.validate().map_err(|e| BuildError::Datacenter {
                datacenter: d.name.clone(),
                reason: e.to_string(),
            })?;
            list.push(Datacenter {
                name: d.name.clone(),
                v4: d
                    .addresses
                    .iter()
                    .copied()
                    .filter(IpAddr::is_ipv4)
                    .collect(),
                v6: d
                    .addresses
                    .iter()
                    .copied()
                    .filter(IpAddr::is_ipv6)
                    .collect(),
                pool,
                place,
            });
        }
        Ok(Datacenters { list })
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|d| d.name == name)
    }
}

// === impl Datacenter ===

impl Datacenter {
    /// Whether the datacenter's pool has an Up server (always, without a pool).
    pub fn is_up(&self) -> bool {
        self.pool.as_ref().is_none_or(|p| {
            p.snapshot()
                .servers()
                .iter()
                .any(|s| s.state() == ServerState::Up)
        })
    }

    /// The addresses of one family.
    pub fn addresses(&self, v6: bool) -> &[IpAddr] {
        if v6 {
            &self.v6
        } else {
            &self.v4
        }
    }
}

// === impl Geo ===

impl Geo {
    /// A geo record over the named datacenters.
    pub fn new(
        datacenters: &Arc<Datacenters>,
        names: &[String],
        default_order: &[String],
        max_answers: usize,
        v6: bool,
    ) -> Result<Self, String> {
        let find = |n: &String| {
            datacenters
                .index_of(n)
                .ok_or_else(|| format!("datacenter {n:?} does not exist"))
        };
        let members = names.iter().map(find).collect::<Result<Vec<_>, _>>()?;
        let mut default = Vec::with_capacity(default_order.len());
        for n in default_order {
            let global = find(n)?;
            let local = members
                .iter()
                .position(|&m| m == global)
                .ok_or_else(|| format!("default_order names {n:?}, which is not in datacenters"))?;
            default.push(local);
        }
        let places = members
            .iter()
            .map(|&m| datacenters.list[m].place.clone())
            .collect();
        let map = GeoMap::new(places, default).map_err(|e| e.to_string())?;
        Ok(Geo {
            map,
            members,
            datacenters: Arc::clone(datacenters),
            max_answers,
            v6,
            last_fail_open_log: AtomicU64::new(0),
        })
    }

    /// Fill `scratch.addrs` for a client; the ECS scope prefix to return.
    pub fn pick(
        &self,
        geoip: Option<&GeoDb>,
        ecs: Option<ClientSubnet>,
        client: IpAddr,
        scratch: &mut Scratch,
    ) -> u8 {
        scratch.addrs.clear();
        let (addr, source) = match ecs {
            Some(e) if e.source_prefix > 0 => (e.addr, Some(e.source_prefix)),
            _ => (client, None),
        };
        let place = geoip.and_then(|db| db.lookup(addr));
        let located = match place {
            Some(p) if p.country.is_some() || p.coords.is_some() => {
                let loc = &mut scratch.location;
                loc.coordinates = p.coords.map(|(la, lo)| gslb::Coordinates::new(la, lo));
                match p.country {
                    Some(c) => {
                        let s = loc.country.get_or_insert_with(String::new);
                        s.clear();
                        s.extend(c.iter().map(|&b| b as char));
                    }
                    None => loc.country = None,
                }
                true
            }
            _ => false,
        };
        let client_place = located.then_some(&scratch.location);
        self.map.order_into(client_place, &mut scratch.order);
        let dcs = &self.datacenters.list;
        let usable = |i: usize| {
            let d = &dcs[self.members[i]];
            !d.addresses(self.v6).is_empty() && d.is_up()
        };
        let answer = gslb::choose_into(
            &scratch.order,
            usable,
            self.max_answers,
            &mut scratch.chosen,
        );
        if answer == gslb::Answer::FailOpen {
            self.log_fail_open();
        }
        for &i in &scratch.chosen {
            scratch
                .addrs
                .extend_from_slice(dcs[self.members[i]].addresses(self.v6));
        }
        match (source, place) {
            (Some(_), Some(p)) => p.prefix,
            _ => 0,
        }
    }

    /// Log a fail-open answer, at most once every 10 seconds per record.
    fn log_fail_open(&self) {
        if crate::dynamic::fail_open_log_due(&self.last_fail_open_log) {
            let names: Vec<&str> = self
                .members
                .iter()
                .map(|&m| self.datacenters.list[m].name.as_str())
                .collect();
            tracing::warn!(
                datacenters = ?names,
                "no datacenter of a geo record is up: DNS answers every datacenter (fail open)"
            );
        }
    }
}
