//! Datacenter choice for real places: pins before distance, failover to the next
//! nearest, default order for unknown places, and properties of the order.

use proptest::prelude::*;
use switchyard_gslb::{
    choose, great_circle_km, order, Answer, Coordinates, Datacenter, GeoMap, Location,
};

const VIRGINIA: usize = 0;
const FRANKFURT: usize = 1;
const TOKYO: usize = 2;

fn datacenters() -> Vec<Datacenter> {
    vec![
        Datacenter::new("virginia", 38.95, -77.45).pinning(["US", "CA"]),
        Datacenter::new("frankfurt", 50.11, 8.68),
        Datacenter::new("tokyo", 35.68, 139.69).pinning(["JP"]),
    ]
}

fn map() -> GeoMap {
    GeoMap::new(datacenters(), Vec::new()).expect("valid")
}

fn london() -> Location {
    Location::at(51.51, -0.09).with_country("GB")
}

fn names(map: &GeoMap, order: &[usize]) -> Vec<String> {
    order
        .iter()
        .map(|&i| map.datacenters()[i].name.clone())
        .collect()
}

#[test]
fn a_london_client_goes_to_frankfurt_then_virginia_then_tokyo() {
    let m = map();
    assert_eq!(
        names(&m, &m.order(Some(&london()))),
        ["frankfurt", "virginia", "tokyo"]
    );
}

#[test]
fn a_japanese_client_goes_to_tokyo_by_country_alone() {
    let m = map();
    let order = m.order(Some(&Location::in_country("JP")));
    assert_eq!(order[0], TOKYO);
    assert_eq!(
        order,
        [TOKYO, VIRGINIA, FRANKFURT],
        "the rest in default order"
    );
}

#[test]
fn a_client_in_changchun_goes_to_tokyo_by_distance() {
    let m = map();
    let order = m.order(Some(&Location::at(43.88, 125.32).with_country("CN")));
    assert_eq!(order, [TOKYO, FRANKFURT, VIRGINIA]);
}

#[test]
fn a_us_client_is_pinned_to_virginia_even_with_a_closer_datacenter() {
    let mut dcs = datacenters();
    dcs.push(Datacenter::new("vancouver", 49.28, -123.12));
    let m = GeoMap::new(dcs, Vec::new()).expect("valid");
    let milton = Location::at(47.25, -122.31).with_country("US");
    assert_eq!(
        names(&m, &m.order(Some(&milton))),
        ["virginia", "vancouver", "tokyo", "frankfurt"]
    );
    // Without its country, the same place goes to the nearest.
    let milton_no_country = Location::at(47.25, -122.31);
    assert_eq!(m.order(Some(&milton_no_country))[0], 3);
}

#[test]
fn when_the_nearest_is_down_the_next_nearest_answers() {
    let m = map();
    let order = m.order(Some(&london()));
    let up = |i: usize| i != FRANKFURT;
    assert_eq!(choose(&order, up, 1), (Answer::Healthy, vec![VIRGINIA]));
    let only_tokyo = |i: usize| i == TOKYO;
    assert_eq!(
        choose(&order, only_tokyo, 1),
        (Answer::Healthy, vec![TOKYO])
    );
}

#[test]
fn when_every_datacenter_is_down_the_answer_fails_open() {
    let m = map();
    let order = m.order(Some(&london()));
    assert_eq!(
        choose(&order, |_| false, 1),
        (Answer::FailOpen, vec![FRANKFURT, VIRGINIA, TOKYO])
    );
}

#[test]
fn max_answers_bounds_the_answer() {
    let m = map();
    let order = m.order(Some(&london()));
    for n in 1..=3 {
        assert_eq!(choose(&order, |_| true, n).1, order[..n]);
    }
    assert_eq!(choose(&order, |_| true, 10).1, order);
}

#[test]
fn an_unknown_place_gets_the_default_order() {
    let m = GeoMap::new(datacenters(), vec![TOKYO, FRANKFURT]).expect("valid");
    assert_eq!(m.order(None), [TOKYO, FRANKFURT, VIRGINIA]);
    assert_eq!(
        m.order(Some(&Location::default())),
        [TOKYO, FRANKFURT, VIRGINIA]
    );
    // A country that pins nothing is as good as unknown.
    assert_eq!(
        m.order(Some(&Location::in_country("BR"))),
        [TOKYO, FRANKFURT, VIRGINIA]
    );
    // Invalid coordinates are not trusted.
    assert_eq!(
        m.order(Some(&Location::at(f64::NAN, 0.0))),
        [TOKYO, FRANKFURT, VIRGINIA]
    );
    assert_eq!(
        map().order(None),
        [VIRGINIA, FRANKFURT, TOKYO],
        "empty: configured order"
    );
}

#[test]
fn free_functions_agree_with_the_map() {
    let dcs = datacenters();
    let m = map();
    let places = [Some(london()), Some(Location::in_country("JP")), None];
    for place in &places {
        assert_eq!(order(&dcs, place.as_ref(), &[]), m.order(place.as_ref()));
    }
    // The free function tolerates bad default entries.
    assert_eq!(order(&dcs, None, &[7, 2, 2]), [TOKYO, VIRGINIA, FRANKFURT]);
}

#[test]
fn the_map_rejects_bad_definitions() {
    assert!(GeoMap::new(datacenters(), vec![3]).is_err());
    let bad = vec![Datacenter::new("x", 0.0, 200.0)];
    assert_eq!(
        GeoMap::new(bad, Vec::new()).unwrap_err().to_string(),
        "datacenter x: longitude 200 is not between -180 and 180"
    );
    assert_eq!(map().index_of("tokyo"), Some(TOKYO));
}

fn arb_datacenters() -> impl Strategy<Value = Vec<Datacenter>> {
    let country = prop::sample::select(vec!["US", "JP", "DE", "GB"]);
    let dc = (
        -90.0..=90.0f64,
        -180.0..=180.0f64,
        prop::collection::vec(country, 0..2),
    );
    prop::collection::vec(dc, 0..8).prop_map(|dcs| {
        dcs.into_iter()
            .enumerate()
            .map(|(i, (lat, lon, countries))| {
                Datacenter::new(format!("dc{i}"), lat, lon).pinning(countries)
            })
            .collect()
    })
}

fn arb_location() -> impl Strategy<Value = Location> {
    let country = prop::option::of(prop::sample::select(vec!["US", "JP", "FR"]));
    let place = prop::option::of((-90.0..=90.0f64, -180.0..=180.0f64));
    (country, place).prop_map(|(country, place)| Location {
        coordinates: place.map(|(lat, lon)| Coordinates::new(lat, lon)),
        country: country.map(str::to_owned),
    })
}

proptest! {
    #[test]
    fn the_order_is_a_permutation_with_pins_first_then_by_distance(
        dcs in arb_datacenters(), client in arb_location(),
    ) {
        let m = GeoMap::new(dcs.clone(), Vec::new()).expect("valid");
        let got = m.order(Some(&client));
        let mut sorted = got.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted, (0..dcs.len()).collect::<Vec<_>>());

        let pinned: Vec<usize> = match &client.country {
            Some(c) => (0..dcs.len()).filter(|&i| dcs[i].pins(c)).collect(),
            None => Vec::new(),
        };
        prop_assert_eq!(&got[..pinned.len()], &pinned[..]);

        if let Some(here) = client.coordinates {
            let here = (here.latitude, here.longitude);
            let km = |i: usize| great_circle_km(here, (dcs[i].latitude, dcs[i].longitude));
            for pair in got[pinned.len()..].windows(2) {
                prop_assert!(km(pair[0]) <= km(pair[1]) + 1e-3, "{:?}", pair);
            }
        }
        prop_assert_eq!(order(&dcs, Some(&client), &[]), got);
    }

    #[test]
    fn choose_answers_only_up_datacenters_or_fails_open(
        n in 0usize..8, up_mask in any::<u8>(), max in 0usize..4,
    ) {
        let order: Vec<usize> = (0..n).rev().collect();
        let up = |i: usize| up_mask & (1 << i) != 0;
        let (answer, got) = choose(&order, up, max);
        let ups: Vec<usize> = order.iter().copied().filter(|&i| up(i)).collect();
        if ups.is_empty() && n > 0 {
            prop_assert_eq!(answer, Answer::FailOpen);
            prop_assert_eq!(got, order);
        } else {
            prop_assert_eq!(answer, Answer::Healthy);
            let limit = if max == 0 { ups.len() } else { max.min(ups.len()) };
            prop_assert_eq!(got, &ups[..limit]);
        }
    }
}
