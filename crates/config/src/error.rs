//! Located configuration errors: `FILE:LINE:COL: message` and an optional hint.
//!
//! Validation never stops at the first problem: every check pushes into a [`Ctx`] and
//! the caller gets all of them at once, in file order, so one `switchyard check` run
//! shows everything to fix.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line; 0 when the problem is the file itself (unreadable).
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong, in operators' words.
    pub message: String,
    /// How to fix it, when we can tell.
    pub hint: Option<String>,
}

/// Every problem found in one file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Errors(pub Vec<Error>);

/// Validation state: the source, for turning byte spans into lines and columns, the
/// config file's directory, for resolving relative paths, and the errors so far.
pub(crate) struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
    line_starts: Vec<usize>,
    pub base_dir: PathBuf,
    errors: Vec<(usize, Error)>,
}

// === impl Error ===

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

// === impl Errors ===

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl Errors {
    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (never true for an `Err`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems.
    pub fn iter(&self) -> std::slice::Iter<'_, Error> {
        self.0.iter()
    }
}

impl IntoIterator for Errors {
    type Item = Error;
    type IntoIter = std::vec::IntoIter<Error>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

// === impl Ctx ===

impl<'a> Ctx<'a> {
    pub fn new(file: &'a str, src: &'a str, base_dir: &Path) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Ctx {
            file,
            src,
            line_starts,
            base_dir: base_dir.to_path_buf(),
            errors: Vec::new(),
        }
    }

    /// 1-based line and column (in characters) of byte offset `at`.
    pub fn line_col(&self, at: usize) -> (usize, usize) {
        let at = at.min(self.src.len());
        let line = self.line_starts.partition_point(|&s| s <= at).max(1);
        let start = self.line_starts[line - 1];
        let col = self
            .src
            .get(start..at)
            .map_or(at - start, |s| s.chars().count())
            + 1;
        (line, col)
    }

    /// `FILE:LINE:COL` of a span, for "first defined at" messages.
    pub fn location(&self, span: impl Borrow<Range<usize>>) -> String {
        let (line, col) = self.line_col(span.borrow().start);
        format!("{}:{line}:{col}", self.file)
    }

    /// Record a problem at `span`.
    pub fn error(&mut self, span: impl Borrow<Range<usize>>, message: impl Into<String>) {
        self.push(span.borrow(), message.into(), None);
    }

    /// Record a problem at `span`, with a hint.
    pub fn error_hint(
        &mut self,
        span: impl Borrow<Range<usize>>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(span.borrow(), message.into(), Some(hint.into()));
    }

    fn push(&mut self, span: &Range<usize>, message: String, hint: Option<String>) {
        let (line, col) = self.line_col(span.start);
        let error = Error {
            file: self.file.to_string(),
            line,
            col,
            message,
            hint,
        };
        self.errors.push((span.start, error));
    }

    /// Whether anything was recorded.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Resolve a path from the file against the config file's directory.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The errors, in file order (stable for equal positions).
    pub fn into_errors(mut self) -> Errors {
        self.errors.sort_by_key(|(at, _)| *at);
        Errors(self.errors.into_iter().map(|(_, e)| e).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_become_one_based_lines_and_character_columns() {
        let src = "a = 1\nnäme = \"x\"\n";
        let cx = Ctx::new("f.toml", src, Path::new("."));
        assert_eq!(cx.line_col(0), (1, 1));
        assert_eq!(cx.line_col(6), (2, 1));
        let at = src.find("\"x\"").unwrap();
        assert_eq!(cx.line_col(at), (2, 8));
    }

    #[test]
    fn display_puts_the_hint_on_its_own_line() {
        let e = Error {
            file: "lb.toml".into(),
            line: 3,
            col: 13,
            message: "unknown algorithm \"fastest\"".into(),
            hint: Some("did you mean \"random\"?".into()),
        };
        assert_eq!(
            e.to_string(),
            "lb.toml:3:13: unknown algorithm \"fastest\"\n  hint: did you mean \"random\"?"
        );
    }
}
