//! A progress bar on stderr for long runs, drawn only when stderr is a terminal
//! (`std::io::IsTerminal`), so logs and pipes never see it.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Draws `label [#####.....] 45%`, redrawing at most ten times a second.
pub struct Progress {
    enabled: bool,
    label: String,
    started: Instant,
    last_draw: Option<Instant>,
    drawn: bool,
}

// === impl Progress ===

impl Progress {
    /// A bar that draws only if `wanted` and stderr is a terminal.
    pub fn new(wanted: bool) -> Self {
        Self {
            enabled: wanted && std::io::stderr().is_terminal(),
            label: String::new(),
            started: Instant::now(),
            last_draw: None,
            drawn: false,
        }
    }

    /// Starts a new phase (one run).
    pub fn phase(&mut self, label: String) {
        self.label = label;
        self.started = Instant::now();
        self.last_draw = None;
    }

    /// Reports the fraction done; draws once the phase has taken half a second.
    pub fn update(&mut self, fraction: f64) {
        if !self.enabled || self.started.elapsed() < Duration::from_millis(500) {
            return;
        }
        if self
            .last_draw
            .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last_draw = Some(Instant::now());
        let filled = (fraction.clamp(0.0, 1.0) * 30.0) as usize;
        let bar = format!("{}{}", "#".repeat(filled), ".".repeat(30 - filled));
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{} [{bar}] {:>3.0}%", self.label, fraction * 100.0);
        let _ = err.flush();
        self.drawn = true;
    }

    /// Clears the bar.
    pub fn finish(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{:width$}\r", "", width = self.label.len() + 40);
            let _ = err.flush();
            self.drawn = false;
        }
    }
}
