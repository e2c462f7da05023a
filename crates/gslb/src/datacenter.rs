//! The places: datacenters (`[[datacenter]]`) and client locations (from GeoIP).
//!
//! A client's location is partial by nature: a GeoIP Country database gives a country
//! and perhaps a representative point, a City database usually both, a private address
//! neither. So both parts of [`Location`] are optional and the ordering rule uses what
//! is there.

use crate::distance::unit_vector;

/// A point on Earth in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}

/// `[[datacenter]]`: where a datacenter is and which countries it pins.
#[derive(Debug, Clone, PartialEq)]
pub struct Datacenter {
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
    /// ISO 3166-1 alpha-2 codes, uppercase: clients from these countries go here first.
    pub countries: Vec<String>,
}

/// Where a client is, as far as GeoIP knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Location {
    pub coordinates: Option<Coordinates>,
    /// ISO 3166-1 alpha-2 code (compared without regard to case).
    pub country: Option<String>,
}

/// A datacenter definition that cannot be used, naming the datacenter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GslbError {
    #[error("datacenter {name}: latitude {value} is not between -90 and 90")]
    Latitude { name: String, value: f64 },
    #[error("datacenter {name}: longitude {value} is not between -180 and 180")]
    Longitude { name: String, value: f64 },
    #[error(
        "datacenter {name}: country {value:?} is not an ISO 3166 code; write two uppercase \
         letters, e.g. \"US\""
    )]
    Country { name: String, value: String },
    #[error("default order names datacenter #{index}, but there are only {len}")]
    DefaultOrder { index: usize, len: usize },
}

// === impl Coordinates ===

impl Coordinates {
    pub fn new(latitude: f64, longitude: f64) -> Self {
        Self {
            latitude,
            longitude,
        }
    }

    /// Whether these are real coordinates (finite, within range). GeoIP data that is
    /// not is treated as "place unknown" rather than trusted.
    pub fn is_valid(&self) -> bool {
        (-90.0..=90.0).contains(&self.latitude) && (-180.0..=180.0).contains(&self.longitude)
    }

    pub(crate) fn unit_vector(&self) -> [f64; 3] {
        unit_vector(self.latitude, self.longitude)
    }
}

// === impl Datacenter ===

impl Datacenter {
    pub fn new(name: impl Into<String>, latitude: f64, longitude: f64) -> Self {
        Self {
            name: name.into(),
            latitude,
            longitude,
            countries: Vec::new(),
        }
    }

    /// Adds pinned countries (builder style, for tests and the demo).
    pub fn pinning<I, S>(mut self, countries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.countries.extend(countries.into_iter().map(Into::into));
        self
    }

    pub fn coordinates(&self) -> Coordinates {
        Coordinates::new(self.latitude, self.longitude)
    }

    /// Whether this datacenter pins `country`.
    pub fn pins(&self, country: &str) -> bool {
        self.countries
            .iter()
            .any(|c| c.eq_ignore_ascii_case(country))
    }

    /// Checks the coordinates' ranges and the country codes' shape.
    pub fn validate(&self) -> Result<(), GslbError> {
        let name = || self.name.clone();
        if !(-90.0..=90.0).contains(&self.latitude) {
            return Err(GslbError::Latitude {
                name: name(),
                value: self.latitude,
            });
        }
        if !(-180.0..=180.0).contains(&self.longitude) {
            return Err(GslbError::Longitude {
                name: name(),
                value: self.longitude,
            });
        }
        let is_code = |c: &str| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase());
        if let Some(bad) = self.countries.iter().find(|c| !is_code(c)) {
            return Err(GslbError::Country {
                name: name(),
                value: bad.clone(),
            });
        }
        Ok(())
    }
}

// === impl Location ===

impl Location {
    /// A place known by its coordinates only.
    pub fn at(latitude: f64, longitude: f64) -> Self {
        Self {
            coordinates: Some(Coordinates::new(latitude, longitude)),
            country: None,
        }
    }

    /// A place known by its country only.
    pub fn in_country(country: impl Into<String>) -> Self {
        Self {
            coordinates: None,
            country: Some(country.into()),
        }
    }

    pub fn with_country(mut self, country: impl Into<String>) -> Self {
        self.country = Some(country.into());
        self
    }

    /// The coordinates, when present and valid.
    pub fn valid_coordinates(&self) -> Option<Coordinates> {
        self.coordinates.filter(Coordinates::is_valid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_datacenter_and_the_value() {
        assert_eq!(Datacenter::new("tokyo", 35.68, 139.69).validate(), Ok(()));
        let err = Datacenter::new("nowhere", 91.0, 0.0)
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "datacenter nowhere: latitude 91 is not between -90 and 90"
        );
        let err = Datacenter::new("x", 0.0, f64::NAN).validate().unwrap_err();
        assert!(matches!(err, GslbError::Longitude { .. }));
        let err = Datacenter::new("virginia", 38.95, -77.45)
            .pinning(["US", "usa"])
            .validate()
            .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("datacenter virginia: country \"usa\""));
    }

    #[test]
    fn pins_ignore_case() {
        let dc = Datacenter::new("virginia", 38.95, -77.45).pinning(["US", "CA"]);
        assert!(dc.pins("US") && dc.pins("ca"));
        assert!(!dc.pins("MX"));
    }

    #[test]
    fn invalid_client_coordinates_count_as_unknown() {
        assert!(Location::at(f64::NAN, 0.0).valid_coordinates().is_none());
        assert!(Location::at(0.0, 181.0).valid_coordinates().is_none());
        assert!(Location::at(51.51, -0.09).valid_coordinates().is_some());
    }
}
