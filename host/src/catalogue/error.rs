//! Validation errors, each pointing at a file, a line, a column and a field.

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// One problem in a catalogue file.
///
/// Displayed as `FILE:LINE:COLUMN: FIELD: PROBLEM`, for example
/// `catalogues/ningbo-2023.toml:41:9: items[2] (old-age-allowance).benefit.tiers[1].fen: -100 is negative; money is whole fen (分) ≥ 0`.
/// Line and column are 1-based; both are 0 when the problem concerns the
/// whole file (it cannot be read, say).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub struct CatalogueError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0: the whole file).
    pub line: usize,
    /// 1-based column, counted in characters (0: the whole file).
    pub column: usize,
    /// The field path, e.g. `items[2] (old-age-allowance).benefit.tiers[1].fen`.
    pub field: String,
    /// What is wrong, and what is allowed.
    pub problem: String,
}

impl fmt::Display for CatalogueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// Every problem found (at least one), in file and position order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(transparent)]
pub struct CatalogueErrors(pub Vec<CatalogueError>);

impl CatalogueErrors {
    /// The errors.
    pub fn errors(&self) -> &[CatalogueError] {
        &self.0
    }
}

impl fmt::Display for CatalogueErrors {
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

/// Turns a byte offset into a 1-based (line, column), the column counted in
/// characters so that Chinese text lines up with what an editor shows.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}
