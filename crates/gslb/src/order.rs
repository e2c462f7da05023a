//! The order in which datacenters should answer a client.
//!
//! Datacenters that pin the client's country come first, in configured order; the rest
//! follow by increasing great-circle distance from the client, ties broken by configured
//! order. Without coordinates (a Country-only database, or no GeoIP answer) the rest
//! follow the record's default order; with neither country nor coordinates, the client
//! gets the default order outright. An empty default order means configured order. The
//! result is always a permutation of all the datacenters.
//!
//! [`GeoMap`] precomputes each datacenter's unit vector once per configuration, so ordering
//! a query costs a few dot products; the free functions do the same work from a plain
//! slice, for callers that order rarely.

use crate::datacenter::{Datacenter, GslbError, Location};
use crate::distance::{dot, unit_vector};

/// Datacenters prepared for ordering many queries (built once per configuration).
#[derive(Debug, Clone)]
pub struct GeoMap {
    datacenters: Vec<Datacenter>,
    points: Vec<[f64; 3]>,
    default_order: Vec<usize>,
}

/// The order for `client` (see the module docs), into `out` (cleared first).
/// Out-of-range or repeated entries of `default_order` are skipped.
pub fn order_into(
    datacenters: &[Datacenter],
    client: Option<&Location>,
    default_order: &[usize],
    out: &mut Vec<usize>,
) {
    let point = |i: usize| unit_vector(datacenters[i].latitude, datacenters[i].longitude);
    order_with(datacenters, point, client, default_order, out);
}

/// [`order_into`] into a new vector.
pub fn order(
    datacenters: &[Datacenter],
    client: Option<&Location>,
    default_order: &[usize],
) -> Vec<usize> {
    let mut out = Vec::with_capacity(datacenters.len());
    order_into(datacenters, client, default_order, &mut out);
    out
}

/// The one implementation; `point(i)` is datacenter i's unit vector.
fn order_with(
    datacenters: &[Datacenter],
    point: impl Fn(usize) -> [f64; 3],
    client: Option<&Location>,
    default_order: &[usize],
    out: &mut Vec<usize>,
) {
    out.clear();
    let all = 0..datacenters.len();
    let country = client.and_then(|c| c.country.as_deref());
    if let Some(country) = country {
        out.extend(all.clone().filter(|&i| datacenters[i].pins(country)));
    }
    let pinned = out.len();
    match client.and_then(Location::valid_coordinates) {
        Some(coordinates) => {
            let here = coordinates.unit_vector();
            let unpinned = |&i: &usize| country.is_none_or(|c| !datacenters[i].pins(c));
            out.extend(all.filter(unpinned));
            // A larger cosine is a shorter distance.
            out[pinned..].sort_unstable_by(|&a, &b| {
                dot(here, point(b))
                    .total_cmp(&dot(here, point(a)))
                    .then(a.cmp(&b))
            });
        }
        None => {
            for i in default_order.iter().copied().chain(all) {
                if i < datacenters.len() && !out.contains(&i) {
                    out.push(i);
                }
            }
        }
    }
}

// === impl GeoMap ===

impl GeoMap {
    /// Validates the datacenters and the default order (indices into `datacenters`;
    /// empty means configured order).
    pub fn new(datacenters: Vec<Datacenter>, default_order: Vec<usize>) -> Result<Self, GslbError> {
        for dc in &datacenters {
            dc.validate()?;
        }
        let len = datacenters.len();
        if let Some(&index) = default_order.iter().find(|&&i| i >= len) {
            return Err(GslbError::DefaultOrder { index, len });
        }
        let points = datacenters
            .iter()
            .map(|dc| unit_vector(dc.latitude, dc.longitude))
            .collect();
        Ok(Self {
            datacenters,
            points,
            default_order,
        })
    }

    pub fn datacenters(&self) -> &[Datacenter] {
        &self.datacenters
    }

    /// The index of the datacenter called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.datacenters.iter().position(|dc| dc.name == name)
    }

    /// The order for `client`, into `out` (cleared first; no allocation once `out` has
    /// room for every datacenter).
    pub fn order_into(&self, client: Option<&Location>, out: &mut Vec<usize>) {
        let point = |i: usize| self.points[i];
        order_with(&self.datacenters, point, client, &self.default_order, out);
    }

    /// [`order_into`](Self::order_into) into a new vector.
    pub fn order(&self, client: Option<&Location>) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.datacenters.len());
        self.order_into(client, &mut out);
        out
    }
}
