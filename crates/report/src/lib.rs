//! Renderings of pushpoll load results.
//!
//! - [`table`]: a tiny aligned-column text table used by every rendering.
//! - [`compare`]: the side-by-side table of several transports and the
//!   headline ratios.
//! - [`projection`]: measured bytes per subscriber-second scaled to 1k, 10k
//!   and 100k clients, beside Kaazing's computed figures.
//! - [`summary`]: the human summary of one `pushpoll load` run.
//! - [`fmt`]: number formatting shared by all of them.
#![warn(missing_docs)]

pub mod compare;
pub mod fmt;
pub mod projection;
pub mod summary;
pub mod table;

pub use pushpoll_loadgen::RunResult;
