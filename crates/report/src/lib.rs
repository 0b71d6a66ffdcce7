//! Renderings of pushpoll load results.
//!
//! - [`table`]: a tiny aligned-column text table used by every rendering.
//! - [`compare`]: the side-by-side table of several transports (its rows are
//!   shared by the text, Markdown and HTML renderings) and the headline ratios.
//! - [`projection`]: measured bytes per subscriber-second scaled to 1k, 10k
//!   and 100k clients, beside Kaazing's computed figures.
//! - [`summary`]: the human summary of one `pushpoll load` run.
//! - [`fmt`]: number formatting shared by all of them.
//! - [`input`]: the results documents the report reads.
//! - [`latency`]: percentile curves decoded from a run's latency histogram.
//! - [`merge`]: several load agents' results combined exactly (`report --merge`).
//! - [`charts`]: the SVG charts, each with a reading computed from the data.
//! - [`correctness`]: lost, duplicated and reordered messages per run.
//! - [`rtt`]: RFC 6202's latency claims beside the runs measured through the
//!   delaying proxy, in transits of the added delay.
//! - [`variants`]: runs of one workload that differ by label (HTTP version,
//!   header profile, compression) side by side: is polling still wasteful?
//! - [`rfc6202`]: the RFC's latency model both [`rtt`] and its chart judge by.
//! - [`verdict`]: the few sentences and the one chart the report opens with.
//! - [`report`]: everything the report shows, computed once; [`write_report`]
//!   writes it as `report.md`, `report.html` and one `.svg` per chart.
#![warn(missing_docs)]

use std::path::PathBuf;

pub mod charts;
pub mod compare;
pub mod correctness;
pub mod fmt;
pub mod input;
pub mod latency;
pub mod merge;
pub mod projection;
pub mod report;
pub mod rfc6202;
pub mod rtt;
pub mod summary;
pub mod table;
pub mod variants;
pub mod verdict;

mod html;
mod markdown;
mod write;

pub use input::{load_documents, MachineFacts, ReportInput};
pub use pushpoll_results::RunResult;
pub use report::{build, Report};
pub use write::{write_report, ReportFiles};

/// Everything that can stop a report from being written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A results file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A results file is not a pushpoll results document.
    #[error("parsing {} as a pushpoll results document (written by `--json`): {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// The inputs hold no run at all.
    #[error("the inputs hold no runs: nothing to report (give the files `pushpoll compare --json` or `pushpoll load --json` wrote)")]
    NoRuns,
    /// A report file could not be written.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A chart could not be drawn.
    #[error("drawing the {chart} chart: {message}")]
    Chart {
        /// The chart's id.
        chart: &'static str,
        /// What the drawing library said.
        message: String,
    },
}
