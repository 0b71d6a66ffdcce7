//! Layer 1, the core: what every other layer counts with, importing nothing
//! from the rest of the crate. Errors and error kinds, the open-loop
//! schedule, delivery accounting (tally, the publishers' acks) and the
//! histogram codec's re-export.

pub(crate) mod acks;
pub(crate) mod error;
pub mod merge;
pub(crate) mod schedule;
pub(crate) mod tally;
