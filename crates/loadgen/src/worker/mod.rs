//! Worker processes: a run with more subscribers than one process can hold
//! (`--subscribers-per-worker`, default 10,000; one process may open only
//! `ulimit -n` sockets) is split over worker processes of this same program.
//!
//! How the split keeps every figure exact:
//! - **One run, one clock.** The parent picks the run id and sends it to every
//!   worker; markers carry their *scheduled* time in µs since the Unix epoch,
//!   so a worker on the same machine measures latency against the same clock
//!   the parent's publishers scheduled with.
//! - **Publishers run once, in the parent**; workers only subscribe. The
//!   parent knows exactly which publishes the server accepted and, when
//!   publishing is over, sends those sets to every worker, which settles its
//!   subscribers' tallies against them with the same code as a single
//!   process (delivered, unexpected, duplicated, reordered per subscriber).
//!   `lost = connected × accepted − delivered` is then computed over the sums.
//! - **Latency histograms** travel as HdrHistogram V2 + DEFLATE (base64) and
//!   are added up (`Histogram::add`), so merged percentiles are those of one
//!   histogram over every sample.
//!
//! The parent and a worker speak JSON lines: the parent writes commands on
//! the worker's stdin (`Start`, `Snapshot`, `Stop`, `Finish`), the worker
//! answers on its stdout (`Ready`, `Io`, `Done`, and a `Progress` line every
//! half second, which the parent adds into its live totals for the progress
//! view). Workers ignore Ctrl-C, which the terminal sends to the whole
//! process group: the parent decides (it stops publishing, asks each worker
//! to finish, and still reports everything measured). A worker whose stdin
//! closes (the parent died) stops at once. A worker that dies, or does not
//! answer in time, fails the run with an error naming it.

mod child;
mod pool;
mod protocol;

pub use child::serve_worker;
pub(crate) use pool::Pool;

use std::time::Duration;

/// How often a worker reports its live totals.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// How often a worker checks whether its subscribers have everything.
pub(crate) const GRACE_POLL: Duration = Duration::from_millis(5);
/// How long stopped subscriber tasks get to hand back their reports.
pub(crate) const JOIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a worker may take to answer a command (beyond the grace period).
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
