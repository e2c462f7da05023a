//! What can go wrong before or during a simulation, in the scenario author's words:
//! every message names the file and, where there is one, the line and column.

use std::io;
use std::path::PathBuf;

/// A scenario that cannot be read, parsed or run, or a report that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario (or a trace it names) cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// The scenario is not valid: bad TOML, an unknown key, a bad value or reference.
    #[error("{file}:{line}:{column}: {message}")]
    Scenario {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A line of an arrival trace is not a time, or goes back in time.
    #[error("{}:{line}: {message}", path.display())]
    Trace {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// The output directory or a file in it cannot be written.
    #[error("{}: cannot write: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

// === impl SimError ===

impl SimError {
    /// A scenario error at byte `offset` of `text` (line and column count from 1).
    pub(crate) fn at(file: &str, text: &str, offset: usize, message: impl Into<String>) -> Self {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        SimError::Scenario {
            file: file.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_columns_from_one() {
        let text = "a = 1\nbb = 2\n";
        let err = SimError::at("s.toml", text, 9, "bad");
        assert_eq!(err.to_string(), "s.toml:2:4: bad");
        assert_eq!(
            SimError::at("s.toml", text, 0, "x").to_string(),
            "s.toml:1:1: x"
        );
    }
}
