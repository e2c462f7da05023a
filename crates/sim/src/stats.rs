//! What one run measures, as it happens: outcomes, latency histograms (whole run and per
//! chart window), each server's share and load, and the numbers Little's law relates.
//!
//! Everything is a fixed-size accumulator — counters, time integrals and log-linear
//! histograms — so memory does not grow with the simulated duration.

use crate::histogram::Histogram;
use crate::Nanos;

/// The time frame of a run: the measured interval and the chart windows.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// Measurement starts here (requests arriving earlier are not counted).
    pub warmup: Nanos,
    /// Arrivals stop here; the charts cover `[0, duration)`.
    pub duration: Nanos,
    pub windows: usize,
    /// `duration / windows`, in nanoseconds, and its inverse (kept: the hot path
    /// multiplies instead of dividing).
    window_len: f64,
    per_window: f64,
}

/// A time-weighted count (requests at a server, requests in the system).
#[derive(Debug, Clone)]
pub struct Level {
    pub current: u64,
    last: Nanos,
    /// Integral of `current` over the measured interval, in request-nanoseconds.
    integral: f64,
    /// Highest value seen during the measured interval.
    pub peak: u64,
    /// Integral over each chart window.
    windows: Vec<f64>,
}

/// How the final attempt of a request ended when it did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server's queue was full.
    Dropped,
    /// Timeout, refused or reset connection, no server available.
    Error,
}

/// Everything one run (one algorithm) measures.
#[derive(Debug, Clone)]
pub struct RunStats {
    pub frame: Frame,
    pub completed: u64,
    pub dropped: u64,
    pub errors: u64,
    pub latency: Histogram,
    pub window_latency: Vec<Histogram>,
    pub window_errors: Vec<u64>,
    /// Attempts sent to each server (counted requests only).
    pub picks: Vec<u64>,
    pub server_load: Vec<Level>,
    /// Requests arrived and not yet finished (for Little's law).
    pub in_system: Level,
    /// Counted arrivals, and the sum of their times in system however they ended.
    pub arrivals: u64,
    pub sojourn_sum: f64,
}

// === impl Frame ===

impl Frame {
    pub fn new(warmup: Nanos, duration: Nanos, windows: usize) -> Self {
        let window_len = duration as f64 / windows as f64;
        Self {
            warmup,
            duration,
            windows,
            window_len,
            per_window: 1.0 / window_len,
        }
    }

    pub fn window_len(&self) -> f64 {
        self.window_len
    }

    /// The chart window of a time (times after the end fall in the last window).
    pub fn window_of(&self, t: Nanos) -> usize {
        ((t as f64 * self.per_window) as usize).min(self.windows - 1)
    }

    /// Length of the measured interval in seconds.
    pub fn measured_secs(&self) -> f64 {
        (self.duration - self.warmup) as f64 / 1e9
    }
}

// === impl Level ===

impl Level {
    fn new(windows: usize) -> Self {
        Self {
            current: 0,
            last: 0,
            integral: 0.0,
            peak: 0,
            windows: vec![0.0; windows],
        }
    }

    /// Adds `delta` at time `now` (times never go back).
    pub fn change(&mut self, frame: &Frame, now: Nanos, delta: i64) {
        self.advance(frame, now);
        self.current = self.current.saturating_add_signed(delta);
        if now >= frame.warmup && now < frame.duration {
            self.peak = self.peak.max(self.current);
        }
    }

    /// Accounts for `current` over `[last, now)`.
    pub fn advance(&mut self, frame: &Frame, now: Nanos) {
        let (from, to) = (self.last, now.min(frame.duration));
        self.last = now;
        if self.current == 0 || from >= to {
            return;
        }
        let n = self.current as f64;
        let measured_from = from.max(frame.warmup);
        if to > measured_from {
            self.integral += n * (to - measured_from) as f64;
            self.peak = self.peak.max(self.current);
        }
        let mut t = from as f64;
        let end = to as f64;
        let mut w = frame.window_of(from);
        loop {
            // Usually the whole interval lies in one window: one addition.
            let window_end = (w + 1) as f64 * frame.window_len;
            if end <= window_end || w + 1 >= self.windows.len() {
                self.windows[w] += n * (end - t);
                return;
            }
            self.windows[w] += n * (window_end - t).max(0.0);
            t = window_end;
            w += 1;
        }
    }

    /// Time-average over the measured interval.
    pub fn mean(&self, frame: &Frame) -> f64 {
        self.integral / (frame.duration - frame.warmup) as f64
    }

    /// Time-average over each chart window.
    pub fn window_means(&self, frame: &Frame) -> Vec<f64> {
        let len = frame.window_len();
        self.windows.iter().map(|x| x / len).collect()
    }
}

// === impl RunStats ===

impl RunStats {
    pub fn new(frame: Frame, servers: usize) -> Self {
        Self {
            frame,
            completed: 0,
            dropped: 0,
            errors: 0,
            latency: Histogram::new(7),
            window_latency: vec![Histogram::new(4); frame.windows],
            window_errors: vec![0; frame.windows],
            picks: vec![0; servers],
            server_load: vec![Level::new(frame.windows); servers],
            in_system: Level::new(frame.windows),
            arrivals: 0,
            sojourn_sum: 0.0,
        }
    }

    /// Whether a request arriving at `t` is measured.
    pub fn counts(&self, arrival: Nanos) -> bool {
        arrival >= self.frame.warmup
    }

    pub fn arrived(&mut self, now: Nanos) {
        self.in_system.change(&self.frame, now, 1);
        if self.counts(now) {
            self.arrivals += 1;
        }
    }

    pub fn completed(&mut self, arrival: Nanos, now: Nanos) {
        self.in_system.change(&self.frame, now, -1);
        let latency = now - arrival;
        if now < self.frame.duration {
            self.window_latency[self.frame.window_of(now)].record(latency);
        }
        if self.counts(arrival) {
            self.completed += 1;
            self.latency.record(latency);
            self.sojourn_sum += latency as f64;
        }
    }

    pub fn failed(&mut self, arrival: Nanos, now: Nanos, failure: Failure) {
        self.in_system.change(&self.frame, now, -1);
        if now < self.frame.duration {
            self.window_errors[self.frame.window_of(now)] += 1;
        }
        if self.counts(arrival) {
            match failure {
                Failure::Dropped => self.dropped += 1,
                Failure::Error => self.errors += 1,
            }
            self.sojourn_sum += (now - arrival) as f64;
        }
    }

    /// Closes the time integrals at the end of the run.
    pub fn finish(&mut self, now: Nanos) {
        let frame = self.frame;
        self.in_system.advance(&frame, now);
        for level in &mut self.server_load {
            level.advance(&frame, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_integrate_over_the_measured_interval_and_windows() {
        let frame = Frame::new(10, 100, 4);
        let mut l = Level::new(4);
        l.change(&frame, 0, 2); // 2 over [0, 50)
        l.change(&frame, 50, -1); // 1 over [50, 100)
        l.advance(&frame, 200);
        // measured [10, 100): 2*40 + 1*50 = 130
        assert!((l.mean(&frame) - 130.0 / 90.0).abs() < 1e-9);
        assert_eq!(l.window_means(&frame), vec![2.0, 2.0, 1.0, 1.0]);
        assert_eq!(l.peak, 2);
    }
}
