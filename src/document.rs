//! The results document every command writes (`--json`): the type lives in
//! `pushpoll-results` (every consumer reads it); writing and reading the
//! file, with the context a user needs when that fails, live here.

use std::path::Path;

use anyhow::Context as _;
pub use pushpoll_results::document::{Document, Machine, FORMAT};

/// Writes pretty JSON to `path`, creating parent folders.
pub fn write(doc: &Document, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(doc)?;
    std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))
}

/// Reads a document written by [`write`].
pub fn read(path: &Path) -> anyhow::Result<Document> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Seconds since the Unix epoch.
pub fn unix_now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The document as the report renderer's input (the same JSON, read back
/// through the report's own loader types).
pub fn to_report_input(doc: &Document) -> anyhow::Result<pushpoll_report::ReportInput> {
    let value = serde_json::to_value(doc)?;
    serde_json::from_value(value).context("turning the results into report input")
}
