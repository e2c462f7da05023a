//! Great-circle distance on a spherical Earth, and the unit vectors that let
//! [`crate::GeoMap`] compare distances with three multiplications instead of trigonometry.
//!
//! A sphere is off by up to 0.5% against the WGS-84 ellipsoid, far below what matters when
//! choosing between datacenters hundreds of kilometres apart.

/// Mean Earth radius (IUGG), in kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Haversine distance in kilometres between two `(latitude, longitude)` points in degrees.
pub fn great_circle_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let d_lat = lat2 - lat1;
    let d_lon = (b.1 - a.1).to_radians();
    let h = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The point on the unit sphere at `(latitude, longitude)` degrees. The dot product of two
/// such vectors is the cosine of the angle between them: the larger, the closer.
pub(crate) fn unit_vector(latitude: f64, longitude: f64) -> [f64; 3] {
    let (lat, lon) = (latitude.to_radians(), longitude.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        (actual - expected).abs() <= expected * tolerance
    }

    #[test]
    fn london_to_new_york_is_about_5570_km() {
        let d = great_circle_km((51.5074, -0.1278), (40.7128, -74.0060));
        assert!(close(d, 5570.0, 0.005), "{d}");
    }

    #[test]
    fn known_distances_between_the_test_places() {
        let virginia = (38.95, -77.45);
        let frankfurt = (50.11, 8.68);
        let tokyo = (35.68, 139.69);
        // Reference values from an independent haversine (Python) on the same radius.
        assert!(close(great_circle_km(virginia, frankfurt), 6_553.32, 1e-6));
        assert!(close(great_circle_km(frankfurt, tokyo), 9_332.95, 1e-6));
        assert!(close(great_circle_km(virginia, tokyo), 10_882.60, 1e-6));
    }

    #[test]
    fn degenerate_cases() {
        assert_eq!(great_circle_km((10.0, 20.0), (10.0, 20.0)), 0.0);
        let half = std::f64::consts::PI * EARTH_RADIUS_KM;
        assert!(close(great_circle_km((0.0, 0.0), (0.0, 180.0)), half, 1e-9));
        assert!(close(
            great_circle_km((90.0, 0.0), (-90.0, 0.0)),
            half,
            1e-9
        ));
        // The antimeridian is no wall: 179E to 179W is 2 degrees of longitude.
        assert!(great_circle_km((0.0, 179.0), (0.0, -179.0)) < 223.0);
    }

    #[test]
    fn dot_product_orders_like_distance() {
        let london = unit_vector(51.51, -0.09);
        let frankfurt = unit_vector(50.11, 8.68);
        let tokyo = unit_vector(35.68, 139.69);
        assert!(dot(london, frankfurt) > dot(london, tokyo));
        assert!((dot(london, london) - 1.0).abs() < 1e-12);
    }
}
