//! Layer 1, the core: what every other layer counts with, importing nothing
//! from the rest of the crate. Errors and error kinds, the open-loop
//! schedule, delivery accounting (tally, the publishers' acks) and the
//! histogram codec's re-export.

pub(crate) mod acks;
pub(crate) mod error;
pub(crate) mod limits;
pub(crate) mod live_metrics;
pub mod merge;
pub mod progress;
pub(crate) mod ranges;
pub(crate) mod rooms;
pub(crate) mod schedule;
pub(crate) mod tally;
