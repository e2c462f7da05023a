//! Small conversions between [`Duration`] and [`Nanos`], and durations written the way
//! operators write them in the configuration (`"500ms"`, `"2s"`, `"5m"`), for log lines
//! such as `timeout after 1s` and `ejected for 30s`.

use std::time::Duration;

use crate::Nanos;

/// A duration in nanoseconds, saturating at `u64::MAX` (about 584 years).
pub fn nanos_of(d: Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Formats a duration as a whole number of the largest unit that writes it exactly, as
/// the configuration does: `1s`, `1500ms`, `5m`, `1h`, `250us`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    const UNITS: [(u128, &str); 5] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ];
    for (size, unit) in UNITS {
        if nanos % size == 0 {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(1)), "1s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_micros(250)), "250us");
        assert_eq!(format_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn nanos_saturate_instead_of_wrapping() {
        assert_eq!(nanos_of(Duration::from_secs(2)), 2_000_000_000);
        assert_eq!(nanos_of(Duration::MAX), u64::MAX);
    }
}
