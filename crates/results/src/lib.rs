//! pushpoll's load results as plain data: what a run measured, the file
//! every command writes, and the latency histogram both carry. Every
//! consumer reads these types (the load generator builds them, the report
//! renders and merges them, the binary writes them), so they live below all
//! of them and depend on nothing that runs.
//!
//! - [`result`]: one transport's run ([`RunResult`]) and its parts
//!   ([`LatencySummary`], [`IdleCost`], [`WireOverhead`], [`TcpOverhead`]).
//! - [`document`]: the results document `--json` writes ([`Document`]:
//!   format, command, argv, machine, runs).
//! - [`timeline`]: the run second by second ([`TimelineEntry`]) and its
//!   CSV form.
//! - [`histogram`]: the latency histogram as it travels in results
//!   (HdrHistogram V2 + DEFLATE, base64), the bounds every run records
//!   with, and the `latency_us` summary of one.
//! - [`SCHEMA`]: the JSON Schema of a results document
//!   (`crates/results/schema/result.schema.json`).
//!
//! Field names are a contract with users' scripts: add fields, never rename.
#![warn(missing_docs)]

pub mod document;
pub mod histogram;
pub mod result;
pub mod timeline;

pub use document::{Document, Machine};
pub use histogram::HistogramError;
pub use result::{IdleCost, LatencySummary, RunResult, SenderCost, TcpOverhead, WireOverhead};
pub use timeline::{TimelineEntry, TimelineLatency};

/// The JSON Schema (draft 2020-12) of a results document, shipped in the
/// crate so a consumer can validate files without the repository; the
/// tests validate real output against it.
pub const SCHEMA: &str = include_str!("../schema/result.schema.json");
