//! Passive outlier ejection driven by a virtual clock: thresholds, the `base × n`
//! backoff and its cap, `max_ejection_percent` with its "one can always go" rule,
//! expiry through `tick`, and the decay of the ejection count.

use std::time::Duration;

use switchyard_health::{Nanos, OutlierConfig, OutlierDetector, DECAY_FACTOR, MAX_EJECTION};

const SEC: Nanos = 1_000_000_000;

fn config(failures: u32, max_percent: u8) -> OutlierConfig {
    OutlierConfig {
        consecutive_failures: failures,
        base_ejection: Duration::from_secs(30),
        max_ejection: MAX_EJECTION,
        max_ejection_percent: max_percent,
    }
}

/// Fails `server` until it is ejected (at most 100 times); returns when it comes back.
fn fail_until_ejected(d: &mut OutlierDetector, server: usize, now: Nanos) -> Option<Nanos> {
    (0..100).find_map(|_| d.record(server, false, now).map(|e| e.until))
}

#[test]
fn consecutive_failures_eject_and_a_success_resets_the_count() {
    let mut d = OutlierDetector::new(config(3, 50), 4);
    assert!(d.record(0, false, 0).is_none());
    assert!(d.record(0, false, 1).is_none());
    assert!(d.record(0, true, 2).is_none());
    assert!(d.record(0, false, 3).is_none());
    assert!(d.record(0, false, 4).is_none());
    let e = d
        .record(0, false, 5)
        .expect("third failure in a row ejects");
    assert_eq!((e.server, e.at, e.until), (0, 5, 5 + 30 * SEC));
    assert_eq!((e.ejection_count, e.consecutive_failures), (1, 3));
    assert_eq!(
        e.reason(),
        "3 consecutive failed requests; out for 30s (ejection 1)"
    );
    assert!(d.is_ejected(0));
    assert_eq!(d.ejected_count(), 1);
}

#[test]
fn ejection_lengthens_by_base_each_time_and_caps_at_five_minutes() {
    let mut d = OutlierDetector::new(config(1, 100), 1);
    let mut now = 0;
    let mut lengths = Vec::new();
    for _ in 0..13 {
        let e = d.record(0, false, now).expect("ejected");
        lengths.push(e.duration.as_secs());
        now = e.until;
        assert_eq!(d.tick(now), vec![0]);
    }
    assert_eq!(
        lengths,
        vec![30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300, 300]
    );
    assert_eq!(d.stats(0, now).map(|s| s.ejections_total), Some(13));
}

#[test]
fn a_base_longer_than_the_cap_is_used_as_is() {
    let c = OutlierConfig {
        base_ejection: Duration::from_secs(600),
        ..config(1, 100)
    };
    assert_eq!(c.ejection_duration(1), Duration::from_secs(600));
    assert_eq!(c.ejection_duration(3), Duration::from_secs(600));
    assert_eq!(config(1, 100).ejection_duration(u32::MAX), MAX_EJECTION);
}

#[test]
fn max_ejection_sets_the_cap() {
    let c = OutlierConfig {
        max_ejection: Duration::from_secs(100),
        ..config(1, 100)
    };
    let lengths: Vec<u64> = (1..=5).map(|n| c.ejection_duration(n).as_secs()).collect();
    assert_eq!(lengths, vec![30, 60, 90, 100, 100]);
}

#[test]
fn tick_returns_expired_servers_and_next_deadline_tracks_the_earliest() {
    let mut d = OutlierDetector::new(config(1, 100), 3);
    assert_eq!(d.next_deadline(), None);
    d.record(2, false, 10 * SEC);
    d.record(0, false, 20 * SEC);
    assert_eq!(d.next_deadline(), Some(40 * SEC));
    assert!(d.tick(40 * SEC - 1).is_empty());
    assert_eq!(d.tick(40 * SEC), vec![2]);
    assert!(!d.is_ejected(2) && d.is_ejected(0));
    assert_eq!(d.next_deadline(), Some(50 * SEC));
    assert_eq!(d.tick(1000 * SEC), vec![0]);
    assert_eq!((d.next_deadline(), d.ejected_count()), (None, 0));
}

#[test]
fn outcomes_while_ejected_are_ignored() {
    let mut d = OutlierDetector::new(config(2, 100), 2);
    d.record(0, false, 0);
    d.record(0, false, 0);
    assert!(d.is_ejected(0));
    for _ in 0..10 {
        assert!(d.record(0, false, SEC).is_none());
    }
    assert_eq!(d.stats(0, SEC).map(|s| s.consecutive_failures), Some(0));
    assert_eq!(d.stats(0, SEC).map(|s| s.ejections_total), Some(1));
}

#[test]
fn max_ejection_percent_bounds_how_many_are_out() {
    let mut d = OutlierDetector::new(config(1, 50), 6);
    for server in 0..3 {
        assert!(d.record(server, false, 0).is_some(), "server {server}");
    }
    assert!(
        d.record(3, false, 0).is_none(),
        "a fourth of six is over 50%"
    );
    assert_eq!(d.ejected_count(), 3);
    assert_eq!(d.ejections_refused_total(), 1);
    // Once one comes back, the still-failing server is ejected on its next failure.
    assert_eq!(d.tick(30 * SEC), vec![0, 1, 2]);
    assert!(d.record(3, false, 30 * SEC).is_some());
}

#[test]
fn one_server_can_always_be_ejected_even_when_the_percent_rounds_to_zero() {
    let mut single = OutlierDetector::new(config(1, 10), 1);
    assert!(single.record(0, false, 0).is_some());

    let mut pair = OutlierDetector::new(config(1, 10), 2);
    assert!(pair.record(0, false, 0).is_some());
    assert!(
        pair.record(1, false, 0).is_none(),
        "10% of 2 allows only the first"
    );

    let mut zero = OutlierDetector::new(config(1, 0), 5);
    assert!(zero.record(4, false, 0).is_some());
    assert!(zero.record(3, false, 0).is_none());
}

#[test]
fn the_ejection_count_resets_after_a_quiet_period() {
    let mut d = OutlierDetector::new(config(1, 100), 1);
    let back = fail_until_ejected(&mut d, 0, 0).expect("ejected");
    d.tick(back);
    let back = fail_until_ejected(&mut d, 0, back + SEC).expect("ejected again");
    assert_eq!(back, 30 * SEC + SEC + 60 * SEC, "second ejection lasts 60s");
    d.tick(back);
    let quiet = 30 * SEC * u64::from(DECAY_FACTOR);
    assert_eq!(
        d.stats(0, back + quiet - 1).map(|s| s.ejection_count),
        Some(2)
    );
    assert_eq!(d.stats(0, back + quiet).map(|s| s.ejection_count), Some(0));
    let e = d
        .record(0, false, back + quiet)
        .expect("ejected after decay");
    assert_eq!((e.ejection_count, e.duration), (1, Duration::from_secs(30)));
}

#[test]
fn zero_consecutive_failures_disables_ejection() {
    let mut d = OutlierDetector::new(config(0, 100), 1);
    assert!((0..1000).all(|i| d.record(0, false, i).is_none()));
}

#[test]
fn reset_brings_a_server_back_and_forgets_its_backoff() {
    let mut d = OutlierDetector::new(config(1, 100), 2);
    d.record(1, false, 0);
    assert!(d.reset(1));
    assert!(!d.is_ejected(1) && d.ejected_count() == 0);
    let e = d.record(1, false, SEC).expect("ejected again");
    assert_eq!(e.ejection_count, 1);
    assert_eq!(d.stats(1, SEC).map(|s| s.ejections_total), Some(2));
    assert!(!d.reset(0));
    assert!(!d.reset(9));
}

#[test]
fn indices_outside_the_pool_are_ignored_and_resize_keeps_figures() {
    let mut d = OutlierDetector::new(config(1, 100), 2);
    assert!(d.record(5, false, 0).is_none());
    assert_eq!(d.stats(5, 0), None);
    d.record(1, false, 0);
    d.resize(4);
    assert_eq!((d.len(), d.ejected_count()), (4, 1));
    assert!(d.is_ejected(1));
    d.resize(1);
    assert_eq!(
        (d.len(), d.ejected_count(), d.next_deadline()),
        (1, 0, None)
    );
}
