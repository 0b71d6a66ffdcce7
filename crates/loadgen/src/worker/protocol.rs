//! What the parent and a worker say to each other, one JSON line each.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::opts::LoadOpts;
use crate::core::acks::AckSnapshot;
use crate::core::live_metrics::LatencySnapshot;
use crate::core::tally::{RangeSet, TallySummary};
use crate::net::count::IoTotals;

/// Parent → worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// The worker's share of the run (its subscriber count, ramp rate and
    /// source addresses already cut to size) and the run's id.
    Start { opts: Box<LoadOpts>, run_id: u32 },
    /// Answer with the subscribers' socket counters now.
    Snapshot,
    /// End the ramp-up now (Ctrl-C in the parent).
    Stop,
    /// What the publishers resolved so far: subscribers record latency
    /// only for accepted messages, and hold the rest pending meanwhile.
    Acks(Vec<AckSnapshot>),
    /// Publishing is over: wait (at most `grace_ms`) until every connected
    /// subscriber has every accepted message (only when `complete`: no
    /// publish failed), stop the subscribers and report.
    Finish {
        published: Vec<RangeSet>,
        complete: bool,
        grace_ms: u64,
    },
}

/// Socket counters on the wire.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct IoWire {
    pub(crate) up: u64,
    pub(crate) down: u64,
    pub(crate) requests: u64,
    pub(crate) empty_polls: u64,
    /// The worker process's CPU time when the counters were read, seconds.
    #[serde(default)]
    pub(crate) cpu_s: Option<f64>,
}

impl From<IoTotals> for IoWire {
    fn from(t: IoTotals) -> Self {
        IoWire {
            up: t.up,
            down: t.down,
            requests: t.requests,
            empty_polls: t.empty_polls,
            cpu_s: crate::net::tcp_info::process_cpu_s(),
        }
    }
}

impl From<IoWire> for IoTotals {
    // Counters beyond these four (the wire breakdown) are not carried
    // between processes: runs with workers report none.
    #[allow(clippy::needless_update)]
    fn from(t: IoWire) -> Self {
        IoTotals {
            up: t.up,
            down: t.down,
            requests: t.requests,
            empty_polls: t.empty_polls,
            ..IoTotals::default()
        }
    }
}

/// What a worker measured, sent once at the end.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WorkerReport {
    /// From `Finish` until its subscribers had everything (or grace ran out), µs.
    pub(crate) waited_us: u64,
    pub(crate) summary: TallySummary,
    pub(crate) errors: BTreeMap<String, u64>,
    /// HdrHistogram V2 + DEFLATE, base64.
    pub(crate) histogram: String,
    pub(crate) io: IoWire,
}

/// Worker → parent.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    Progress {
        ready: u64,
        delivered: u64,
        errors: u64,
        /// The parent's `/metrics` (`--metrics-addr`) shows these summed
        /// over the workers: socket counters (once the ramp-up is over),
        /// latency buckets and errors by kind, all cumulative.
        #[serde(default)]
        io: Option<IoWire>,
        #[serde(default)]
        latency: LatencySnapshot,
        #[serde(default)]
        error_kinds: BTreeMap<String, u64>,
    },
    Ready {
        connected: u64,
        /// Connected subscribers per room (`--rooms`; one entry without).
        #[serde(default)]
        rooms: Vec<u64>,
    },
    Io(IoWire),
    Done(Box<WorkerReport>),
    /// The worker could not start its share (bad options, unresolvable URL).
    Failed {
        error: String,
    },
}
