//! Property tests for the health state machines and the wire decoders.

use std::time::Duration;

use proptest::prelude::*;
use switchyard_health::{
    decode_frame, decode_health_body, decode_health_response, encode_frame, encode_health_request,
    ActiveConfig, ActiveHealth, HealthState, Nanos, OutlierConfig, OutlierDetector, ProbeResult,
    StatusRanges,
};

fn result(ok: bool) -> ProbeResult {
    if ok {
        ProbeResult::success(Duration::from_millis(1), "status 200")
    } else {
        ProbeResult::failure(Duration::from_millis(1), "connection refused")
    }
}

/// The state a reference model expects after `results`.
fn model(rise: u32, fall: u32, results: &[bool]) -> HealthState {
    let mut state = HealthState::Unknown;
    for (i, _) in results.iter().enumerate() {
        let run = |want: bool| {
            results[..=i]
                .iter()
                .rev()
                .take_while(|&&r| r == want)
                .count()
        };
        state = match (state, results[i]) {
            (HealthState::Unknown, true) => HealthState::Up,
            (HealthState::Unknown, false) => HealthState::Down,
            (HealthState::Down, true) if run(true) >= rise as usize => HealthState::Up,
            (HealthState::Up, false) if run(false) >= fall as usize => HealthState::Down,
            (s, _) => s,
        };
    }
    state
}

proptest! {
    #[test]
    fn state_matches_the_reference_model(
        rise in 1u32..6, fall in 1u32..6,
        results in proptest::collection::vec(any::<bool>(), 0..60),
    ) {
        let mut h = ActiveHealth::new(&ActiveConfig { rise, fall, ..ActiveConfig::default() });
        for (i, &ok) in results.iter().enumerate() {
            let before = h.state();
            let t = h.record(result(ok), i as Nanos);
            // A transition is reported exactly when the state changes.
            prop_assert_eq!(t.is_some(), before != h.state());
            prop_assert_eq!(h.state(), model(rise, fall, &results[..=i]));
        }
    }

    #[test]
    fn fall_failures_always_take_an_up_server_down(
        rise in 1u32..6, fall in 1u32..6,
        prefix in proptest::collection::vec(any::<bool>(), 0..30),
    ) {
        let mut h = ActiveHealth::new(&ActiveConfig { rise, fall, ..ActiveConfig::default() });
        for (i, &ok) in prefix.iter().enumerate() {
            h.record(result(ok), i as Nanos);
        }
        for i in 0..fall {
            h.record(result(false), 100 + Nanos::from(i));
        }
        prop_assert_eq!(h.state(), HealthState::Down);
        for i in 0..rise {
            h.record(result(true), 200 + Nanos::from(i));
        }
        prop_assert_eq!(h.state(), HealthState::Up);
    }

    #[test]
    fn fewer_than_fall_failures_never_take_an_up_server_down(
        fall in 2u32..8, failures in 0u32..8,
    ) {
        let mut h = ActiveHealth::new(&ActiveConfig { rise: 2, fall, ..ActiveConfig::default() });
        h.record(result(true), 0);
        let failures = failures % fall;
        for i in 0..failures {
            prop_assert!(h.record(result(false), 1 + Nanos::from(i)).is_none());
        }
        prop_assert_eq!(h.state(), HealthState::Up);
    }

    #[test]
    fn outlier_never_exceeds_max_percent_beyond_the_first(
        servers in 1usize..12, percent in 0u8..=100, threshold in 1u32..4,
        events in proptest::collection::vec((0usize..12, any::<bool>(), 0u64..5), 0..300),
    ) {
        let config = OutlierConfig {
            consecutive_failures: threshold,
            base_ejection: Duration::from_nanos(100),
            max_ejection: Duration::from_nanos(300),
            max_ejection_percent: percent,
        };
        let mut d = OutlierDetector::new(config, servers);
        let mut now: Nanos = 0;
        for (server, ok, step) in events {
            now += step * 10;
            d.tick(now);
            d.record(server % servers, ok, now);
            let out = (0..servers).filter(|&s| d.is_ejected(s)).count();
            prop_assert_eq!(out, d.ejected_count());
            prop_assert!(out <= 1 || out * 100 <= usize::from(percent) * servers);
            if let Some(deadline) = d.next_deadline() {
                prop_assert!(deadline > now);
            }
        }
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_health_response(&bytes);
        let _ = decode_health_body(&bytes);
        let _ = decode_frame(&bytes);
    }

    #[test]
    fn frames_round_trip(message in proptest::collection::vec(any::<u8>(), 0..300)) {
        let framed = encode_frame(&message);
        prop_assert_eq!(decode_frame(&framed), Ok((&message[..], framed.len())));
    }

    #[test]
    fn requests_encode_their_service_length_exactly(service in "[a-z.]{0,300}") {
        let bytes = encode_health_request(&service);
        prop_assert!(bytes.is_empty() == service.is_empty());
        prop_assert!(bytes.ends_with(service.as_bytes()));
    }

    #[test]
    fn status_ranges_parse_their_own_display(
        ranges in proptest::collection::vec((100u16..600, 0u16..100), 1..5),
    ) {
        let text: Vec<String> = ranges
            .iter()
            .map(|&(low, span)| format!("{low}-{}", (low + span).min(599)))
            .collect();
        let parsed: StatusRanges = text.join(",").parse().expect("valid");
        let again: StatusRanges = parsed.to_string().parse().expect("display parses");
        prop_assert_eq!(&parsed, &again);
        for &(low, _) in &ranges {
            prop_assert!(parsed.matches(low));
        }
    }

    #[test]
    fn status_parser_never_panics(text in "\\PC{0,20}") {
        let _ = text.parse::<StatusRanges>();
    }
}
