//! `expect_status`: which HTTP status codes make a health check pass, written as
//! `"200-399"` or `"200,204,300-308"`. Parsed once at configuration time; [`matches`]
//! is a short scan of a handful of ranges.
//!
//! [`matches`]: StatusRanges::matches

use std::fmt;
use std::str::FromStr;

/// A set of inclusive HTTP status ranges (each within 100..=599).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRanges {
    ranges: Vec<(u16, u16)>,
}

/// Why an `expect_status` value was rejected; the message quotes the whole value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusRangeError {
    #[error("expect_status {value:?} is not a status range; write e.g. \"200-399\"")]
    NotARange { value: String },
    #[error("expect_status {value:?}: {status} is not an HTTP status (100-599)")]
    OutOfRange { value: String, status: u32 },
    #[error("expect_status {value:?}: range {low}-{high} ends before it starts")]
    Backwards { value: String, low: u16, high: u16 },
}

// === impl StatusRanges ===

impl StatusRanges {
    /// Whether `status` is in one of the ranges.
    pub fn matches(&self, status: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(low, high)| (low..=high).contains(&status))
    }

    /// The ranges as parsed, in the order written.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }
}

impl Default for StatusRanges {
    /// `200-399`: success and redirects, like HAProxy's `http-check` default.
    fn default() -> Self {
        Self {
            ranges: vec![(200, 399)],
        }
    }
}

impl FromStr for StatusRanges {
    type Err = StatusRangeError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let not_a_range = || StatusRangeError::NotARange {
            value: value.to_owned(),
        };
        let mut ranges = Vec::new();
        for part in value.split(',') {
            let part = part.trim();
            let (low, high) = match part.split_once('-') {
                Some((low, high)) => (low.trim(), high.trim()),
                None => (part, part),
            };
            let low = parse_status(value, low).ok_or_else(not_a_range)??;
            let high = parse_status(value, high).ok_or_else(not_a_range)??;
            if high < low {
                return Err(StatusRangeError::Backwards {
                    value: value.to_owned(),
                    low,
                    high,
                });
            }
            ranges.push((low, high));
        }
        Ok(Self { ranges })
    }
}

/// `None` when `digits` is not a number; `Some(Err)` when it is not an HTTP status.
fn parse_status(value: &str, digits: &str) -> Option<Result<u16, StatusRangeError>> {
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let status: u32 = digits.parse().ok()?;
    Some(match u16::try_from(status) {
        Ok(s) if (100..=599).contains(&s) => Ok(s),
        _ => Err(StatusRangeError::OutOfRange {
            value: value.to_owned(),
            status,
        }),
    })
}

impl fmt::Display for StatusRanges {
    /// The canonical spelling: `200-399`, `200,204,300-308`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(low, high)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if low == high {
                write!(f, "{low}")?;
            } else {
                write!(f, "{low}-{high}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<StatusRanges, StatusRangeError> {
        s.parse()
    }

    #[test]
    fn parses_a_single_range() {
        let r = parse("200-399").unwrap();
        assert!(r.matches(200) && r.matches(302) && r.matches(399));
        assert!(!r.matches(199) && !r.matches(400) && !r.matches(503));
    }

    #[test]
    fn parses_lists_of_codes_and_ranges_with_spaces() {
        let r = parse("200, 204 ,300 - 308").unwrap();
        assert_eq!(r.ranges(), &[(200, 200), (204, 204), (300, 308)]);
        assert!(r.matches(204) && r.matches(307));
        assert!(!r.matches(201) && !r.matches(309));
        assert_eq!(r.to_string(), "200,204,300-308");
    }

    #[test]
    fn rejects_wildcards_with_a_hint() {
        let err = parse("20x").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"expect_status "20x" is not a status range; write e.g. "200-399""#
        );
    }

    #[test]
    fn rejects_empty_parts_and_junk() {
        for bad in [
            "",
            ",",
            "200,",
            "-",
            "200-",
            "-399",
            "2xx",
            "200-399-500",
            "+200",
            "ok",
        ] {
            assert!(
                matches!(parse(bad), Err(StatusRangeError::NotARange { .. })),
                "{bad:?} should be rejected as not a range"
            );
        }
    }

    #[test]
    fn rejects_codes_outside_http() {
        assert_eq!(
            parse("200-600").unwrap_err().to_string(),
            r#"expect_status "200-600": 600 is not an HTTP status (100-599)"#
        );
        assert!(matches!(
            parse("99"),
            Err(StatusRangeError::OutOfRange { status: 99, .. })
        ));
        assert!(matches!(
            parse("99999"),
            Err(StatusRangeError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse("999999"),
            Err(StatusRangeError::NotARange { .. })
        ));
    }

    #[test]
    fn rejects_backwards_ranges() {
        assert_eq!(
            parse("399-200").unwrap_err().to_string(),
            r#"expect_status "399-200": range 399-200 ends before it starts"#
        );
    }

    #[test]
    fn default_is_success_and_redirects() {
        assert_eq!(StatusRanges::default(), parse("200-399").unwrap());
    }
}
