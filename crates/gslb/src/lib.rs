//! Global server load balancing: which datacenter answers a client, by country pins and
//! great-circle distance, skipping datacenters that are down. Pure.
//!
//! The DNS server asks, per query, [`GeoMap::order_into`] for the client's datacenter
//! order (from its GeoIP [`Location`]), then [`choose_into`] for the first `max_answers`
//! datacenters that are up. Both write into caller buffers, so a query allocates nothing
//! once the buffers have grown. The rule: datacenters that pin the client's country come
//! first, in configured order; then the rest by increasing distance; an unknown place
//! gets the record's default order.

mod choose;
mod datacenter;
mod distance;
mod order;

pub use choose::{choose, choose_into, Answer};
pub use datacenter::{Coordinates, Datacenter, GslbError, Location};
pub use distance::{great_circle_km, EARTH_RADIUS_KM};
pub use order::{order, order_into, GeoMap};
