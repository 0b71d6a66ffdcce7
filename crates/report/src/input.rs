//! What the report reads: the JSON results documents `pushpoll load --json`
//! and `pushpoll compare --json` write
//! (`crates/results/schema/result.schema.json`).
//!
//! The document type itself is `pushpoll_results::Document`; this is the
//! reader's view of it, tolerant on purpose: unknown fields are ignored and
//! everything but `runs` may be missing, so documents from older or newer
//! pushpoll versions (or written by hand) still render.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{ReportError, RunResult};

/// One results document, as the report needs it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ReportInput {
    /// `load` or `compare`.
    #[serde(default)]
    pub command: String,
    /// The command line that produced it.
    #[serde(default)]
    pub argv: Vec<String>,
    /// pushpoll's version.
    #[serde(default)]
    pub pushpoll_version: Option<String>,
    /// Unix time the command started, seconds.
    #[serde(default)]
    pub started_unix_s: Option<u64>,
    /// The machine it ran on.
    #[serde(default)]
    pub machine: Option<MachineFacts>,
    /// One entry per transport run.
    pub runs: Vec<RunResult>,
    /// The file it was read from (set by [`load_documents`], not part of the
    /// JSON).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// Facts about the machine a document was measured on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct MachineFacts {
    /// Logical CPUs available to the process.
    #[serde(default)]
    pub cpus: Option<u64>,
    /// Total memory, bytes.
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    /// Kernel release.
    #[serde(default)]
    pub kernel: Option<String>,
    /// Operating system and architecture, e.g. `linux-x86_64`.
    #[serde(default)]
    pub os: Option<String>,
    /// CPU model name.
    #[serde(default)]
    pub cpu_model: Option<String>,
}

impl ReportInput {
    /// Parses one document from JSON text.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Reads and parses every document in `paths`, in order, remembering where
/// each came from.
pub fn load_documents<P: AsRef<Path>>(
    paths: impl IntoIterator<Item = P>,
) -> Result<Vec<ReportInput>, ReportError> {
    paths
        .into_iter()
        .map(|p| {
            let path = p.as_ref().to_path_buf();
            let text = std::fs::read_to_string(&path).map_err(|source| ReportError::Read {
                path: path.clone(),
                source,
            })?;
            let mut input = ReportInput::from_json(&text).map_err(|source| ReportError::Parse {
                path: path.clone(),
                source,
            })?;
            input.source = Some(path);
            Ok(input)
        })
        .collect()
}
