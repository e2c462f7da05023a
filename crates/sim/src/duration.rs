//! Durations as scenario files write them (`"150ms"`, `"2s"`, `"1.5s"`, `"5m"`), turned
//! into the virtual clock's unit, nanoseconds.
//!
//! The simulator keeps its own tiny parser rather than depending on the configuration
//! crate: scenario files are not configuration files, and fractional values (`"0.5s"`)
//! are common in workload models.

use crate::Nanos;

/// Parses `NUMBER UNIT` with unit `ns`, `us`, `ms`, `s`, `m` or `h`; the number may have
/// a fraction. Returns a message in the scenario author's words on failure.
pub fn parse_duration(text: &str) -> Result<Nanos, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            format!("duration {text:?} has no unit (write e.g. \"150ms\", \"2s\", \"5m\")")
        })?;
    let (number, unit) = text.split_at(split);
    let scale: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => {
            return Err(format!(
                "duration {text:?} has an unknown unit {unit:?} (use ns, us, ms, s, m or h)"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("duration {text:?} does not start with a number"))?;
    let nanos = value * scale;
    if !nanos.is_finite() || nanos > u64::MAX as f64 / 2.0 {
        return Err(format!("duration {text:?} is too long"));
    }
    Ok(nanos.round() as Nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_fractions() {
        assert_eq!(parse_duration("150ms"), Ok(150_000_000));
        assert_eq!(parse_duration("2s"), Ok(2_000_000_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("5m"), Ok(300_000_000_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000_000_000));
        assert_eq!(parse_duration("250us"), Ok(250_000));
        assert_eq!(parse_duration("7ns"), Ok(7));
        assert_eq!(parse_duration("0s"), Ok(0));
    }

    #[test]
    fn rejects_missing_or_unknown_units() {
        assert!(parse_duration("15").unwrap_err().contains("no unit"));
        assert!(parse_duration("15d").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("ms").unwrap_err().contains("number"));
        assert!(parse_duration("1.2.3s").unwrap_err().contains("number"));
    }
}
