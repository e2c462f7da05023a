//! Where a client is: a MaxMind DB lookup (City or Country database) of its address.
//!
//! Only the fields every GeoIP2/GeoLite2 City and Country record share are decoded
//! (`country.iso_code`, else `registered_country.iso_code`, and `location` when the
//! database has it), borrowed from the
//! database, so a lookup does not allocate. The network the answer came from is kept: its
//! prefix length is the ECS scope we return, so resolvers cache the answer for exactly the
//! clients it is right for.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::Reader;
use serde::Deserialize;

use crate::BuildError;

/// An open GeoIP database.
pub struct GeoDb {
    reader: Reader<Vec<u8>>,
}

/// What the database says about an address.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    /// ISO 3166-1 alpha-2 country code, uppercase.
    pub country: Option<[u8; 2]>,
    /// Latitude and longitude, when the database has them (City databases).
    pub coords: Option<(f64, f64)>,
    /// Prefix length of the database network that matched.
    pub prefix: u8,
}

/// The fields of a City or Country record we read.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<Country<'a>>,
    /// Where the network is registered: the country when a network has no other (some
    /// anycast and satellite networks), as MaxMind advises.
    #[serde(borrow, default)]
    registered_country: Option<Country<'a>>,
    #[serde(default)]
    location: Option<Location>,
}

impl Record<'_> {
    /// The country's code, uppercase: where the network is, else where it is registered.
    fn country_code(&self) -> Option<[u8; 2]> {
        let code = |c: &Option<Country<'_>>| {
            c.as_ref()
                .and_then(|c| c.iso_code)
                .and_then(|code| <[u8; 2]>::try_from(code.as_bytes()).ok())
                .map(|c| c.map(|b| b.to_ascii_uppercase()))
        };
        code(&self.country).or_else(|| code(&self.registered_country))
    }
}

#[derive(Deserialize)]
struct Country<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Location {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

// === impl GeoDb ===

impl GeoDb {
    /// Open and check a database file.
    pub fn open(path: &Path) -> Result<GeoDb, BuildError> {
        let err = |reason: String| BuildError::GeoIp {
            path: path.display().to_string(),
            reason,
        };
        let reader = Reader::open_readfile(path).map_err(|e| err(e.to_string()))?;
        // a first lookup finds a broken search tree or data section now, not per query
        reader
            .lookup(IpAddr::from([1, 1, 1, 1]))
            .and_then(|r| r.decode::<Record<'_>>().map(|_| ()))
            .map_err(|e| err(e.to_string()))?;
        Ok(GeoDb { reader })
    }

    /// The database type from its metadata (`"GeoLite2-City"`, `"GeoIP2-Country"`...).
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// Look `addr` up. A place with neither country nor coordinates when the database
    /// has no data there (the prefix still says for which network that holds); `None`
    /// only when the database cannot be read at that point.
    pub fn lookup(&self, addr: IpAddr) -> Option<Place> {
        let found = self.reader.lookup(addr).ok()?;
        let prefix = found.network().ok()?.prefix();
        let Some(record) = found.decode::<Record<'_>>().ok()? else {
            return Some(Place {
                country: None,
                coords: None,
                prefix,
            });
        };
        let country = record.country_code();
        let coords = record
            .location
            .and_then(|l| Some((l.latitude?, l.longitude?)));
        Some(Place {
            country,
            coords,
            prefix,
        })
    }
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("database_type", &self.database_type())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_with_only_a_registered_country_has_that_country() {
        let at = |code| Some(Country { iso_code: code });
        let record = |country, registered_country| Record {
            country,
            registered_country,
            location: None,
        };
        assert_eq!(record(None, at(Some("jp"))).country_code(), Some(*b"JP"));
        assert_eq!(
            record(at(Some("GB")), at(Some("US"))).country_code(),
            Some(*b"GB")
        );
        assert_eq!(
            record(at(None), at(Some("US"))).country_code(),
            Some(*b"US")
        );
        assert_eq!(record(None, None).country_code(), None);
        assert_eq!(record(at(Some("GBR")), None).country_code(), None);
    }

    fn db(name: &str) -> GeoDb {
        let path = format!(
            "{}/../../../shared/data/geoip/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        GeoDb::open(Path::new(&path)).expect("test database opens")
    }

    #[test]
    fn city_database_gives_country_coordinates_and_prefix() {
        let db = db("GeoLite2-City-Test.mmdb");
        let london = db.lookup("81.2.69.142".parse().unwrap()).expect("london");
        assert_eq!(london.country, Some(*b"GB"));
        let (lat, lon) = london.coords.expect("coords");
        assert!((lat - 51.5142).abs() < 0.1 && (lon + 0.0931).abs() < 0.1);
        assert_eq!(london.prefix, 31);
        let japan = db.lookup("2001:218::1".parse().unwrap()).expect("japan");
        assert_eq!(japan.country, Some(*b"JP"));
        assert_eq!(japan.prefix, 32);
    }

    #[test]
    fn country_database_gives_country_only() {
        let db = db("GeoLite2-Country-Test.mmdb");
        let jp = db.lookup("2001:218::1".parse().unwrap()).expect("japan");
        assert_eq!(jp.country, Some(*b"JP"));
        assert_eq!(jp.coords, None);
        let us = db.lookup("216.160.83.56".parse().unwrap()).expect("us");
        assert_eq!((us.country, us.prefix), (Some(*b"US"), 29));
    }

    #[test]
    fn unknown_addresses_have_no_place_but_a_network() {
        let db = db("GeoLite2-City-Test.mmdb");
        let p = db.lookup("10.0.0.1".parse().unwrap()).expect("readable");
        assert_eq!((p.country, p.coords), (None, None));
        assert!(p.prefix <= 8, "10.0.0.0/8 holds no data: {}", p.prefix);
    }

    #[test]
    fn broken_databases_are_refused_at_load() {
        let path = format!(
            "{}/../../../shared/data/geoip/MaxMind-DB-test-broken-search-tree-24.mmdb",
            env!("CARGO_MANIFEST_DIR")
        );
        let _ = GeoDb::open(Path::new(&path)).map(|db| {
            // the broken tree may only show on some addresses: lookups must not panic
            let _ = db.lookup("1.1.1.3".parse().unwrap());
        });
    }
}
