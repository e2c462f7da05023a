//! Turns the raw scenario into a validated [`Scenario`]: cross-references (servers named
//! by events and `direct`), ranges, and exactly one action per event, each problem
//! reported at the position of the key that causes it.

use std::collections::HashSet;
use std::path::Path;

use toml::Spanned;

use super::raw::*;
use super::*;

/// Builds a [`Scenario`] from raw parts, turning each problem into a positioned error.
pub(super) struct Checker<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
}

impl Checker<'_> {
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> Result<T, SimError> {
        Err(SimError::at(self.file, self.text, span.start, message))
    }

    pub(super) fn build(&self, raw: RawScenario, dir: &Path) -> Result<Scenario, SimError> {
        let servers = self.servers(&raw.servers)?;
        let find = |name: &Spanned<String>| -> Result<usize, SimError> {
            match servers.iter().position(|s| s.name == *name.get_ref()) {
                Some(i) => Ok(i),
                None => self.err(name.span(), format!("no server named {:?}", name.get_ref())),
            }
        };
        let algorithms = self.algorithms(&raw.algorithms)?;
        let direct = raw.direct.as_ref().map(find).transpose()?;
        if *raw.balancers.get_ref() == 0 {
            return self.err(raw.balancers.span(), "balancers must be at least 1");
        }
        if *raw.windows.get_ref() == 0 || *raw.windows.get_ref() > 10_000 {
            return self.err(raw.windows.span(), "windows must be between 1 and 10000");
        }
        let duration = raw.duration.0;
        if duration == 0 {
            return self.err(0..0, "duration must be greater than 0");
        }
        let warmup = raw.warmup.map_or(0, |w| w.0);
        if warmup >= duration {
            return self.err(0..0, "warmup must be shorter than duration");
        }
        let mut events = Vec::with_capacity(raw.events.len());
        for event in &raw.events {
            events.push(self.event(event, &servers, duration)?);
        }
        events.sort_by_key(|e| e.at);
        Ok(Scenario {
            seed: raw.seed,
            duration,
            warmup,
            algorithms,
            direct,
            balancers: *raw.balancers.get_ref() as usize,
            clients: match raw.clients {
                Some(c) if *c.get_ref() == 0 => {
                    return self.err(c.span(), "clients must be at least 1")
                }
                c => c.map(|c| *c.get_ref()),
            },
            timeout: raw.timeout.map_or(Some(DEFAULT_TIMEOUT), |t| t.0),
            retries: raw.retries,
            dead_server: raw.dead_server,
            slow_start: raw.slow_start.map(|d| d.0).filter(|&d| d > 0),
            panic_threshold: match raw.panic_threshold {
                Some(p) if *p.get_ref() > 100 => {
                    return self.err(p.span(), "panic_threshold is a percentage: 0..=100")
                }
                p => p.map(|p| *p.get_ref()),
            },
            windows: *raw.windows.get_ref() as usize,
            arrivals: self.arrivals(&raw.arrivals, dir)?,
            service: self.service(&raw.service)?,
            health: raw.health.as_ref().map(|h| self.health(h)).transpose()?,
            outlier: raw.outlier.as_ref().map(|o| self.outlier(o)).transpose()?,
            servers,
            events,
            dns: raw.dns.as_ref().map(|d| self.dns(d)).transpose()?,
        })
    }

    fn algorithms(&self, raw: &Spanned<Vec<Spanned<String>>>) -> Result<Vec<String>, SimError> {
        if raw.get_ref().is_empty() {
            return self.err(raw.span(), "algorithms must name at least one algorithm");
        }
        let mut seen = HashSet::new();
        let mut names = Vec::new();
        for name in raw.get_ref() {
            crate::pool::check_algorithm(name.get_ref()).or_else(|m| self.err(name.span(), m))?;
            if name.get_ref() == crate::DIRECT {
                return self.err(
                    name.span(),
                    "\"direct\" is not an algorithm: use direct = \"SERVER\"",
                );
            }
            if !seen.insert(name.get_ref().clone()) {
                return self.err(
                    name.span(),
                    format!("algorithm {:?} is listed twice", name.get_ref()),
                );
            }
            names.push(name.get_ref().clone());
        }
        Ok(names)
    }

    fn servers(&self, raw: &Spanned<Vec<Spanned<RawServer>>>) -> Result<Vec<SimServer>, SimError> {
        if raw.get_ref().is_empty() {
            return self.err(raw.span(), "a scenario needs at least one [[server]]");
        }
        let mut seen = HashSet::new();
        let mut servers = Vec::new();
        for s in raw.get_ref() {
            let (span, s) = (s.span(), s.get_ref());
            if !seen.insert(s.name.clone()) {
                return self.err(span, format!("server {:?} is defined twice", s.name));
            }
            if !(s.speed.is_finite() && s.speed > 0.0) {
                return self.err(
                    span,
                    format!("server {:?}: speed must be greater than 0", s.name),
                );
            }
            if s.concurrency == 0 {
                return self.err(
                    span,
                    format!("server {:?}: concurrency must be at least 1", s.name),
                );
            }
            if !(1..=1000).contains(&s.weight) {
                return self.err(
                    span,
                    format!("server {:?}: weight must be 1..=1000", s.name),
                );
            }
            servers.push(SimServer {
                name: s.name.clone(),
                speed: s.speed,
                concurrency: s.concurrency,
                queue: s.queue.unwrap_or(u32::MAX),
                weight: s.weight,
            });
        }
        Ok(servers)
    }

    fn event(
        &self,
        raw: &Spanned<RawEvent>,
        servers: &[SimServer],
        duration: Nanos,
    ) -> Result<Event, SimError> {
        let (span, e) = (raw.span(), raw.get_ref());
        if e.at.0 >= duration {
            // most likely a typo ("300s" for "30s"): say so rather than run without it
            let secs = |n: Nanos| n as f64 / 1e9;
            return self.err(
                span,
                format!(
                    "event at {}s is not before the end of the run (duration = \"{}s\"): it would never happen",
                    secs(e.at.0),
                    secs(duration)
                ),
            );
        }
        let mut actions: Vec<(&str, Action)> = Vec::new();
        if let Some(s) = &e.kill {
            actions.push((s, Action::Kill));
        }
        if let Some(s) = &e.revive {
            actions.push((s, Action::Revive));
        }
        if let Some(w) = &e.set_weight {
            if !(1..=1000).contains(&w.weight) {
                return self.err(span, "set_weight: weight must be 1..=1000");
            }
            actions.push((&w.server, Action::SetWeight(w.weight)));
        }
        if let Some(s) = &e.slow {
            if !(s.factor.is_finite() && s.factor > 0.0) {
                return self.err(span, "slow: factor must be greater than 0");
            }
            actions.push((&s.server, Action::Slow(s.factor)));
        }
        if actions.len() != 1 {
            return self.err(
                span,
                "an [[event]] needs exactly one of kill, revive, set_weight, slow",
            );
        }
        let (name, action) = actions.remove(0);
        let Some(server) = servers.iter().position(|s| s.name == name) else {
            return self.err(span, format!("event names no server called {name:?}"));
        };
        Ok(Event {
            at: e.at.0,
            server,
            action,
        })
    }

    fn arrivals(&self, raw: &Spanned<RawArrivals>, dir: &Path) -> Result<Arrivals, SimError> {
        let rate_ok = |rate: f64| rate > 0.0 && rate <= 1e9;
        let arrivals = match raw.get_ref() {
            RawArrivals::Poisson { rate } => Arrivals::Poisson { rate: *rate },
            RawArrivals::Constant { rate } => Arrivals::Constant { rate: *rate },
            RawArrivals::Bursty { rate, on, off } => {
                if on.0 == 0 {
                    return self.err(raw.span(), "arrivals: bursty needs on greater than 0");
                }
                Arrivals::Bursty {
                    rate: *rate,
                    on: on.0,
                    off: off.0,
                }
            }
            RawArrivals::Trace { file } => {
                return Ok(Arrivals::Trace {
                    file: dir.join(file),
                })
            }
        };
        match arrivals {
            Arrivals::Poisson { rate }
            | Arrivals::Constant { rate }
            | Arrivals::Bursty { rate, .. }
                if !rate_ok(rate) =>
            {
                self.err(
                    raw.span(),
                    "arrivals: rate must be greater than 0 and at most 1e9 (requests per second)",
                )
            }
            a => Ok(a),
        }
    }

    fn service(&self, raw: &Spanned<RawService>) -> Result<Service, SimError> {
        let service = match raw.get_ref() {
            RawService::Exponential { mean } => Service::Exponential { mean: mean.0 },
            RawService::Constant { mean } => Service::Constant { mean: mean.0 },
            RawService::Lognormal { mean, sigma } => {
                if !(sigma.is_finite() && *sigma >= 0.0) {
                    return self.err(raw.span(), "service: sigma must be 0 or more");
                }
                Service::Lognormal {
                    mean: mean.0,
                    sigma: *sigma,
                }
            }
            RawService::Bimodal {
                fast,
                slow,
                slow_fraction,
            } => {
                if !(0.0..=1.0).contains(slow_fraction) {
                    return self.err(raw.span(), "service: slow_fraction must be between 0 and 1");
                }
                Service::Bimodal {
                    fast: fast.0,
                    slow: slow.0,
                    slow_fraction: *slow_fraction,
                }
            }
        };
        Ok(service)
    }

    fn health(&self, raw: &Spanned<RawHealth>) -> Result<HealthSpec, SimError> {
        let h = raw.get_ref();
        if h.interval.0 == 0 || h.timeout.0 == 0 {
            return self.err(
                raw.span(),
                "health: interval and timeout must be greater than 0",
            );
        }
        if h.rise == 0 || h.fall == 0 {
            return self.err(raw.span(), "health: rise and fall must be at least 1");
        }
        Ok(HealthSpec {
            interval: h.interval.0,
            timeout: h.timeout.0,
            rise: h.rise,
            fall: h.fall,
        })
    }

    fn outlier(&self, raw: &Spanned<RawOutlier>) -> Result<OutlierSpec, SimError> {
        let o = raw.get_ref();
        if o.max_ejection_percent.is_some_and(|p| p > 100) {
            return self.err(
                raw.span(),
                "outlier: max_ejection_percent is a percentage: 0..=100",
            );
        }
        if o.base_ejection.as_ref().is_some_and(|d| d.0 == 0) {
            return self.err(raw.span(), "outlier: base_ejection must be greater than 0");
        }
        Ok(OutlierSpec {
            consecutive_failures: o.consecutive_failures,
            base_ejection: o.base_ejection.as_ref().map(|d| d.0),
            max_ejection: o.max_ejection.as_ref().map(|d| d.0),
            max_ejection_percent: o.max_ejection_percent,
        })
    }

    fn dns(&self, raw: &Spanned<RawDns>) -> Result<Dns, SimError> {
        let d = raw.get_ref();
        if d.resolvers == 0 {
            return self.err(raw.span(), "dns: resolvers must be at least 1");
        }
        let shares = match &d.shares {
            None => vec![1.0 / d.resolvers as f64; d.resolvers as usize],
            Some(s) => {
                if s.len() != d.resolvers as usize {
                    return self.err(
                        raw.span(),
                        format!(
                            "dns: shares has {} numbers for {} resolvers; give one non-negative number per resolver",
                            s.len(),
                            d.resolvers
                        ),
                    );
                }
                if s.iter().any(|x| !x.is_finite() || *x < 0.0) {
                    return self.err(
                        raw.span(),
                        "dns: shares must be finite numbers of 0 or more",
                    );
                }
                // scaled by the largest first, so that huge shares cannot sum to infinity
                let max = s.iter().copied().fold(0.0, f64::max);
                if max == 0.0 {
                    return self.err(
                        raw.span(),
                        "dns: shares are all 0; at least one resolver needs clients",
                    );
                }
                let total: f64 = s.iter().map(|x| x / max).sum();
                s.iter().map(|x| x / max / total).collect()
            }
        };
        Ok(Dns {
            shares,
            ttl: d.ttl.0,
        })
    }
}
