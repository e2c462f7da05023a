//! Global server load balancing: which datacenter answers a client, by country pins and
//! great-circle distance, skipping datacenters that are down. Pure.
//!
//! The DNS server asks, per query, [`GeoMap::order_into`] for the client's datacenter
//! order (from its GeoIP [`Location`]), then [`choose_into`] for the first `max_answers`
//! datacenters that are up. Both write into caller buffers, so a query allocates nothing
//! once the buffers have grown. The rule: datacenters that pin the client's country come
//! first, in configured order; then the rest by increasing distance; an unknown place
//! gets the record's default order.
//!
//! ```
//! use switchyard_gslb::{choose, Answer, Datacenter, GeoMap, Location};
//!
//! let map = GeoMap::new(
//!     vec![
//!         Datacenter::new("virginia", 38.95, -77.45).pinning(["US", "CA"]),
//!         Datacenter::new("frankfurt", 50.11, 8.68),
//!         Datacenter::new("tokyo", 35.68, 139.69),
//!     ],
//!     Vec::new(),
//! )?;
//! let london = Location::at(51.51, -0.09).with_country("GB");
//! let order = map.order(Some(&london));
//! assert_eq!(order, [1, 0, 2]); // frankfurt, virginia, tokyo
//! let frankfurt_down = |i: usize| i != 1;
//! assert_eq!(choose(&order, frankfurt_down, 1), (Answer::Healthy, vec![0]));
//! # Ok::<(), switchyard_gslb::GslbError>(())
//! ```

mod choose;
mod datacenter;
mod distance;
mod order;

pub use choose::{choose, choose_into, Answer};
pub use datacenter::{Coordinates, Datacenter, GslbError, Location};
pub use distance::{great_circle_km, EARTH_RADIUS_KM};
pub use order::{order, order_into, GeoMap};
