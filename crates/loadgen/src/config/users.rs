//! `--users FILE.csv`: one row of per-user values (a name, a token, a room)
//! per connection, for servers that authenticate every user apart.
//!
//! The file has a header row naming the columns; connection `{id}` uses
//! data row `{id}` (subscribers first, then publishers), so the same file
//! gives the same user the same connection whether or not a run is split
//! over worker processes. The whole file is read before the run: a token
//! missing for one connection is an error then, not a failed handshake
//! half-way through.

use std::path::{Path, PathBuf};

use crate::core::error::LoadError;

/// Largest `--users` file read (bytes): enough for millions of short rows,
/// and a bound on what a wrong path (a log file, a disk image) can cost.
pub const MAX_USERS_BYTES: u64 = 512 << 20;

/// The rows of a `--users` file.
#[derive(Debug, Clone)]
pub(crate) struct Users {
    path: PathBuf,
    columns: Vec<String>,
    /// Row-major cells, `columns.len()` per row.
    cells: Vec<Box<str>>,
}

fn bad(reason: String) -> LoadError {
    LoadError::InvalidOption {
        option: "users",
        reason,
    }
}

impl Users {
    /// Reads and parses the file.
    pub fn load(path: &Path) -> Result<Users, LoadError> {
        let len = std::fs::metadata(path)
            .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?
            .len();
        if len > MAX_USERS_BYTES {
            return Err(bad(format!(
                "{} is {len} bytes; at most {MAX_USERS_BYTES} are read",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(format!("cannot read {} as UTF-8 text: {e}", path.display())))?;
        Users::parse(path, &text)
    }

    /// Parses CSV text (RFC 4180: quoted fields may hold commas, quotes and
    /// line breaks) with a header row.
    pub fn parse(path: impl Into<PathBuf>, text: &str) -> Result<Users, LoadError> {
        let path = path.into();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(text.as_bytes());
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| bad(format!("{}: {e}", path.display())))?
            .iter()
            .map(|c| c.trim().to_owned())
            .collect();
        if columns.iter().all(String::is_empty) {
            return Err(bad(format!(
                "{} has no header row (the first line names the columns, e.g. name,token)",
                path.display()
            )));
        }
        for (i, c) in columns.iter().enumerate() {
            if columns[..i].contains(c) {
                return Err(bad(format!("{} names column {c:?} twice", path.display())));
            }
        }
        let mut cells = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| bad(format!("{}: {e}", path.display())))?;
            cells.extend(record.iter().map(Box::from));
        }
        Ok(Users {
            path,
            columns,
            cells,
        })
    }

    /// The file it came from, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header row.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Data rows.
    pub fn rows(&self) -> usize {
        self.cells.len() / self.columns.len().max(1)
    }

    /// Row `row`'s value in column `col` ("" past the end: rows are
    /// checked against the connections before the run).
    pub fn get(&self, row: usize, col: usize) -> &str {
        self.cells
            .get(row * self.columns.len() + col)
            .map_or("", |c| c)
    }

    /// Checks there is a row for every connection.
    pub fn check_rows(&self, connections: usize) -> Result<(), LoadError> {
        if self.rows() < connections {
            return Err(bad(format!(
                "{} has {} data rows, but the run has {connections} connections (subscribers, then publishers: connection {{id}} uses row {{id}})",
                self.path.display(),
                self.rows()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_row_checks() {
        let u = Users::parse("u.csv", "name, token\nann,\"a,\"\"b\"\nbob,t2\n").unwrap();
        assert_eq!(u.columns(), ["name", "token"]);
        assert_eq!(u.rows(), 2);
        assert_eq!(u.get(0, 1), "a,\"b");
        assert_eq!(u.get(1, 0), "bob");
        assert!(u.check_rows(2).is_ok());
        let e = u.check_rows(3).unwrap_err().to_string();
        assert!(
            e.starts_with("--users: u.csv has 2 data rows, but the run has 3 connections"),
            "{e}"
        );
    }

    #[test]
    fn malformed_files_are_named() {
        let e = Users::parse("u.csv", "a,b\n1\n").unwrap_err().to_string();
        assert!(e.starts_with("--users: u.csv:"), "{e}");
        let e = Users::parse("u.csv", "a,a\n1,2\n").unwrap_err().to_string();
        assert!(e.contains("names column \"a\" twice"), "{e}");
        let e = Users::parse("u.csv", "").unwrap_err().to_string();
        assert!(e.contains("no header row"), "{e}");
        let e = Users::load(Path::new("/nonexistent/u.csv"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--users: cannot read /nonexistent/u.csv"),
            "{e}"
        );
    }
}
