//! The `pushpoll` binary's library: command-line glue over the workspace
//! crates.
//!
//! - [`cli`]: the command line (`serve`, `load`, `compare`) and dispatch.
//! - [`compare`]: the main job: one in-process server, the same workload over
//!   every transport, one side-by-side table.
//! - [`embedded`]: running `pushpoll-server` on its own runtime, so its CPU
//!   time can be told apart from the load generator's in one process.
//! - [`document`]: the JSON document every command writes (`--json`).
//! - [`progress`]: a progress bar on a terminal, plain lines elsewhere.
//! - [`slo`]: `--slo` targets and the verdict.
#![warn(missing_docs)]

pub mod cli;
pub mod compare;
pub mod document;
pub mod embedded;
pub mod progress;
pub mod slo;
