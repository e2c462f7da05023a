//! The workload model: when requests arrive and how much work each one is.
//!
//! Every run of a scenario (one per algorithm) draws from its own copy of the same seeded
//! stream in the same order — gap, then work, then the client's resolver or balancer —
//! so all algorithms face exactly the same requests. A trace is read line by line, so
//! memory stays flat however long it is.

use std::fs::File;
use std::io::{BufRead, BufReader, Lines};
use std::path::PathBuf;

use rand::rngs::SmallRng;
use rand::Rng;

use crate::scenario::{Arrivals, Service};
use crate::{Nanos, SimError};

/// Produces arrival times in increasing order until the scenario's duration.
pub struct ArrivalStream {
    kind: Kind,
    /// The last arrival time produced.
    now: Nanos,
    end: Nanos,
}

enum Kind {
    Poisson {
        mean_gap: f64,
    },
    Bursty {
        mean_gap: f64,
        on: Nanos,
        period: Nanos,
    },
    Constant {
        gap: f64,
        count: u64,
    },
    Trace {
        path: PathBuf,
        lines: Lines<BufReader<File>>,
        line: usize,
    },
}

// === impl ArrivalStream ===

impl ArrivalStream {
    /// Arrivals from time 0 until `end` (exclusive).
    pub fn new(arrivals: &Arrivals, end: Nanos) -> Result<Self, SimError> {
        let kind = match arrivals {
            Arrivals::Poisson { rate } => Kind::Poisson {
                mean_gap: 1e9 / rate,
            },
            Arrivals::Bursty { rate, on, off } => Kind::Bursty {
                mean_gap: 1e9 / rate,
                on: *on,
                period: on + off,
            },
            Arrivals::Constant { rate } => Kind::Constant {
                gap: 1e9 / rate,
                count: 0,
            },
            Arrivals::Trace { file } => {
                let f = File::open(file).map_err(|source| SimError::Read {
                    path: file.clone(),
                    source,
                })?;
                Kind::Trace {
                    path: file.clone(),
                    lines: BufReader::new(f).lines(),
                    line: 0,
                }
            }
        };
        Ok(Self { kind, now: 0, end })
    }

    /// The next arrival time, or `None` once past the end.
    pub fn next(&mut self, rng: &mut SmallRng) -> Result<Option<Nanos>, SimError> {
        let next = match &mut self.kind {
            Kind::Poisson { mean_gap } => self.now.saturating_add(exponential(rng, *mean_gap)),
            Kind::Constant { gap, count } => {
                *count += 1;
                (*gap * *count as f64).round() as Nanos
            }
            Kind::Bursty {
                mean_gap,
                on,
                period,
            } => {
                let mut t = self.now.saturating_add(exponential(rng, *mean_gap));
                // Time spent in an off period does not count: skip to the next on period
                // and carry the leftover gap into it (memoryless, so still Poisson).
                while t < self.end && t % *period >= *on {
                    let start_off = t - t % *period + *on;
                    let leftover = t - start_off;
                    t = (start_off - *on)
                        .saturating_add(*period)
                        .saturating_add(leftover);
                }
                t
            }
            Kind::Trace { path, lines, line } => match next_trace_time(path, lines, line)? {
                Some(t) if t < self.now => {
                    return Err(SimError::Trace {
                        path: path.clone(),
                        line: *line,
                        message: "arrival times must not go back in time".into(),
                    })
                }
                Some(t) => t,
                None => return Ok(None),
            },
        };
        self.now = next;
        Ok((next < self.end).then_some(next))
    }
}

/// Reads the next time (seconds) from a trace, skipping blank lines and `#` comments.
fn next_trace_time(
    path: &std::path::Path,
    lines: &mut Lines<BufReader<File>>,
    line: &mut usize,
) -> Result<Option<Nanos>, SimError> {
    for text in lines.by_ref() {
        *line += 1;
        let text = text.map_err(|source| SimError::Read {
            path: path.to_owned(),
            source,
        })?;
        let text = text.split('#').next().unwrap_or("").trim();
        if text.is_empty() {
            continue;
        }
        return match text.parse::<f64>() {
            Ok(secs) if secs.is_finite() && secs >= 0.0 => Ok(Some((secs * 1e9).round() as Nanos)),
            _ => Err(SimError::Trace {
                path: path.to_owned(),
                line: *line,
                message: format!("{text:?} is not an arrival time in seconds"),
            }),
        };
    }
    Ok(None)
}

/// Draws a request's work at speed 1, in nanoseconds.
pub fn sample_service(service: &Service, rng: &mut SmallRng) -> Nanos {
    match *service {
        Service::Exponential { mean } => exponential(rng, mean as f64),
        Service::Constant { mean } => mean,
        Service::Lognormal { mean, sigma } => {
            let mu = (mean as f64).ln() - sigma * sigma / 2.0;
            (mu + sigma * standard_normal(rng)).exp().round() as Nanos
        }
        Service::Bimodal {
            fast,
            slow,
            slow_fraction,
        } => {
            if rng.random::<f64>() < slow_fraction {
                slow
            } else {
                fast
            }
        }
    }
}

/// An exponential draw with the given mean, rounded to whole nanoseconds (float to
/// integer casts saturate, so absurd means give huge times, never a panic).
fn exponential(rng: &mut SmallRng, mean: f64) -> Nanos {
    // 1 - U lies in (0, 1], so the logarithm is finite.
    let u: f64 = rng.random();
    (-(1.0 - u).ln() * mean + 0.5) as Nanos
}

/// A standard normal draw (Box–Muller; the second value is not kept, for simplicity).
fn standard_normal(rng: &mut SmallRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn mean_of(service: &Service, n: usize) -> f64 {
        let mut rng = SmallRng::seed_from_u64(3);
        (0..n)
            .map(|_| sample_service(service, &mut rng) as f64)
            .sum::<f64>()
            / n as f64
    }

    #[test]
    fn service_distributions_have_the_configured_mean() {
        let ms = 1_000_000;
        for s in [
            Service::Exponential { mean: 100 * ms },
            Service::Lognormal {
                mean: 100 * ms,
                sigma: 1.0,
            },
            Service::Constant { mean: 100 * ms },
            Service::Bimodal {
                fast: 50 * ms,
                slow: 550 * ms,
                slow_fraction: 0.1,
            },
        ] {
            let m = mean_of(&s, 200_000) / ms as f64;
            assert!((m - 100.0).abs() < 2.0, "{s:?}: mean {m} ms");
        }
    }

    #[test]
    fn poisson_and_constant_arrivals_have_the_configured_rate() {
        let mut rng = SmallRng::seed_from_u64(9);
        for a in [
            Arrivals::Poisson { rate: 50.0 },
            Arrivals::Constant { rate: 50.0 },
        ] {
            let mut s = ArrivalStream::new(&a, 1_000_000_000_000).unwrap();
            let mut n = 0;
            while s.next(&mut rng).unwrap().is_some() {
                n += 1;
            }
            assert!((n as f64 - 50_000.0).abs() < 700.0, "{a:?}: {n}");
        }
    }

    #[test]
    fn bursty_arrivals_fall_only_in_on_periods() {
        let mut rng = SmallRng::seed_from_u64(9);
        let sec = 1_000_000_000;
        let a = Arrivals::Bursty {
            rate: 100.0,
            on: 2 * sec,
            off: 3 * sec,
        };
        let mut s = ArrivalStream::new(&a, 1000 * sec).unwrap();
        let mut n = 0;
        while let Some(t) = s.next(&mut rng).unwrap() {
            assert!(t % (5 * sec) < 2 * sec, "arrival at {t} in an off period");
            n += 1;
        }
        // 200 on-periods of 2 s at 100/s.
        assert!((n as f64 - 40_000.0).abs() < 800.0, "{n}");
    }
}
