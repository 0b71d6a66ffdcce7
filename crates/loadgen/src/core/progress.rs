//! Where a run is, for whoever watches it: the phases, the live totals
//! every task adds to, and the reporter that calls the caller's progress
//! hook at most once a second.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::core::live_metrics::{ErrorKinds, LatencyBuckets, RemoteIo};

/// How often progress is reported.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Reads a server's cumulative CPU time (`None` when unknown).
pub type CpuReader = Arc<dyn Fn() -> Option<Duration> + Send + Sync>;
/// Receives progress reports.
pub type ProgressSink = Arc<dyn Fn(&Progress) + Send + Sync>;
/// Told the address `--metrics-addr` was bound to (port 0 picks one).
pub type AddrSink = Arc<dyn Fn(std::net::SocketAddr) + Send + Sync>;

/// Optional extras from an embedding caller.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Reads the server's cumulative CPU time (when the server runs
    /// in-process); read when publishing starts and when the grace period
    /// ends. Takes precedence over `--server-metrics-url`.
    pub server_cpu: Option<CpuReader>,
    /// Whether that server runs in this process (`compare`'s embedded one):
    /// its CPU is then taken out of the process's, which is the generator's
    /// CPU. A server in another process (`compare --url --server-pid`)
    /// leaves the generator's CPU whole.
    pub server_in_process: bool,
    /// Called at each phase change and about once a second during a phase.
    /// Called from the run's task: keep it quick.
    pub progress: Option<ProgressSink>,
    /// The program a split run (`--subscribers-per-worker`) starts as its
    /// worker processes, as `PROGRAM load --worker`; default: the running
    /// executable, which must then be `pushpoll` (or understand that).
    pub worker_exe: Option<std::path::PathBuf>,
    /// Called once with the address the metrics endpoint (`--metrics-addr`)
    /// listens on, before the run starts.
    pub metrics_bound: Option<AddrSink>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("server_cpu", &self.server_cpu.is_some())
            .field("server_in_process", &self.server_in_process)
            .field("progress", &self.progress.is_some())
            .field("worker_exe", &self.worker_exe)
            .field("metrics_bound", &self.metrics_bound.is_some())
            .finish()
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Subscribers are connecting.
    Connecting,
    /// The idle window: connected, nothing published.
    Idle,
    /// Publishers are sending.
    Publishing,
    /// Publishing is over; waiting for the last deliveries.
    Grace,
    /// Measuring is over; the result is being put together.
    Done,
}

/// A snapshot of a run in progress, for [`Hooks::progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Current phase.
    pub phase: Phase,
    /// Time since the run started.
    pub elapsed: Duration,
    /// Subscribers that became ready.
    pub subscribers_ready: u64,
    /// Messages the server accepted so far.
    pub published: u64,
    /// Distinct (message, subscriber) arrivals so far.
    pub delivered: u64,
    /// Errors of every kind so far.
    pub errors: u64,
}

/// Totals read while the run is going (progress, the grace period's early end).
#[derive(Debug, Default)]
pub(crate) struct Live {
    /// First arrivals of (message, subscriber) pairs.
    pub delivered: AtomicU64,
    /// Subscribers that became ready.
    pub ready: AtomicU64,
    /// Publishes the server accepted.
    pub published: AtomicU64,
    /// Errors of every kind.
    pub errors: AtomicU64,
    /// Messages echo subscribers sent or gave up on (`--pattern echo`).
    pub echo_attempted: AtomicU64,
    /// Latencies of accepted deliveries by bucket (`--metrics-addr`).
    pub latency: Arc<LatencyBuckets>,
    /// Errors by kind (`--metrics-addr`).
    pub error_kinds: ErrorKinds,
    /// Worker processes' socket counters (`--metrics-addr`).
    pub remote_io: RemoteIo,
}

impl Live {
    /// Counts one error of `kind` in the live totals.
    pub(crate) fn error(&self, kind: &str) {
        self.errors.fetch_add(1, Relaxed);
        self.error_kinds.add(kind, 1);
    }
}

/// Calls the progress hook, at most once per [`PROGRESS_EVERY`] unless forced.
pub(crate) struct Reporter {
    hook: Option<ProgressSink>,
    live: Arc<Live>,
    start: Instant,
    last: Option<Instant>,
}

impl Reporter {
    /// A reporter calling `hook` (none: reports nothing).
    pub(crate) fn new(hook: Option<ProgressSink>, live: Arc<Live>) -> Self {
        Reporter {
            hook,
            live,
            start: Instant::now(),
            last: None,
        }
    }

    /// A reporter that reports nothing (worker processes report on stdout).
    pub(crate) fn quiet(live: Arc<Live>) -> Self {
        Reporter {
            hook: None,
            live,
            start: Instant::now(),
            last: None,
        }
    }

    pub(crate) fn report(&mut self, phase: Phase, force: bool) {
        let Some(hook) = &self.hook else { return };
        let now = Instant::now();
        if !force && self.last.is_some_and(|l| now - l < PROGRESS_EVERY) {
            return;
        }
        self.last = Some(now);
        hook(&Progress {
            phase,
            elapsed: now - self.start,
            subscribers_ready: self.live.ready.load(Relaxed),
            published: self.live.published.load(Relaxed),
            delivered: self.live.delivered.load(Relaxed),
            errors: self.live.errors.load(Relaxed),
        });
    }
}
