//! The parent's side of a split run: the worker processes it started, the
//! commands it sends them and the reports it merges.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::protocol::{FromWorker, IoWire, ToWorker, WorkerReport};
use super::{ANSWER_TIMEOUT, JOIN_TIMEOUT};
use crate::config::opts::LoadOpts;
use crate::config::plan::Plan;
use crate::core::acks::Acks;
use crate::core::error::LoadError;
use crate::core::live_metrics::LatencySnapshot;
use crate::core::merge::{decode_histogram, new_histogram};
use crate::core::progress::{Hooks, Live, Phase, Reporter};
use crate::core::tally::{RangeSet, TallySummary};
use crate::net::count::IoTotals;

/// What the parent hears from a worker's stdout.
enum Event {
    Msg(FromWorker),
    /// Its stdout ended (it exited) or carried something unreadable.
    Gone(String),
}

/// Everything the workers measured, merged.
pub(crate) struct Merged {
    pub summary: TallySummary,
    pub errors: BTreeMap<String, u64>,
    pub histogram: Histogram<u64>,
    pub io: IoTotals,
    /// The workers' CPU seconds from the last [`Pool::io`] (the start of
    /// publishing) to their reports; null if any could not tell.
    pub cpu_s: Option<f64>,
}

/// The parent's side: the running workers.
pub(crate) struct Pool {
    children: Vec<Child>,
    pids: Vec<Option<u32>>,
    stdins: Vec<Option<ChildStdin>>,
    events: mpsc::UnboundedReceiver<(usize, Event)>,
    reports: Vec<Option<WorkerReport>>,
    stopped: bool,
    /// The workers' summed CPU seconds at the last [`Pool::io`].
    cpu_at_io: Option<f64>,
}

/// Subscriber shares: `total` split into `n` near-equal parts.
fn shares(total: usize, n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| total / n + usize::from(i < total % n))
        .collect()
}

/// The options of worker `first..first + share` of a run of `o`.
fn worker_opts(o: &LoadOpts, share: usize, first: usize, run_id: u32) -> LoadOpts {
    let fraction = share as f64 / o.subscribers as f64;
    let mut w = o.clone();
    w.subscribers = share;
    w.worker = true;
    w.json = None;
    w.label = None;
    // The parent reads the server's CPU around the whole run.
    w.server_metrics_url = None;
    // The parent serves the whole run's metrics; workers serve none.
    w.metrics_addr = None;
    w.run_id = Some(run_id);
    w.first_id = first;
    w.ramp = o.ramp.map(|r| r * fraction);
    w.connect_concurrency = ((o.connect_concurrency as f64 * fraction).ceil() as usize).max(1);
    // Round-robin over the whole run: subscriber `first` of the run is the
    // worker's subscriber 0.
    if !w.source_ips.is_empty() {
        let len = w.source_ips.len();
        w.source_ips.rotate_left(first % len);
    }
    w
}

impl Pool {
    /// Starts the workers of `plan` and hands each its share. Workers are
    /// this program again (`hooks.worker_exe`, default the running
    /// executable) run as `load --worker`.
    pub async fn spawn(
        o: &LoadOpts,
        plan: &Plan,
        run_id: u32,
        hooks: &Hooks,
        live: Arc<Live>,
        stop: &CancellationToken,
    ) -> Result<Pool, LoadError> {
        let exe: PathBuf = match &hooks.worker_exe {
            Some(p) => p.clone(),
            None => std::env::current_exe().map_err(|e| LoadError::Worker {
                index: 0,
                reason: format!("cannot find this program to start it again: {e}"),
            })?,
        };
        let n = plan.workers;
        let (tx, events) = mpsc::unbounded_channel();
        let mut pool = Pool {
            children: Vec::with_capacity(n),
            pids: Vec::with_capacity(n),
            stdins: Vec::with_capacity(n),
            events,
            reports: (0..n).map(|_| None).collect(),
            stopped: false,
            cpu_at_io: None,
        };
        let mut first = 0;
        for (index, share) in shares(o.subscribers, n).into_iter().enumerate() {
            let mut child = tokio::process::Command::new(&exe)
                .args(["load", "--worker", "--url", &o.url])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| LoadError::Worker {
                    index,
                    reason: format!("cannot start {}: {e}", exe.display()),
                })?;
            let stdout = child.stdout.take().expect("stdout is piped");
            tokio::spawn(read_events(
                index,
                stdout,
                tx.clone(),
                live.clone(),
                stop.clone(),
            ));
            pool.stdins.push(child.stdin.take());
            pool.pids.push(child.id());
            pool.children.push(child);
            let start = ToWorker::Start {
                opts: Box::new(worker_opts(o, share, first, run_id)),
                run_id,
            };
            pool.send(index, &start).await?;
            first += share;
        }
        tracing::info!(workers = n, "worker processes started");
        Ok(pool)
    }

    async fn send(&mut self, index: usize, cmd: &ToWorker) -> Result<(), LoadError> {
        let mut line = serde_json::to_string(cmd).expect("commands serialise");
        line.push('\n');
        let Some(stdin) = self.stdins[index].as_mut() else {
            return Ok(());
        };
        if let Err(e) = stdin.write_all(line.as_bytes()).await {
            return Err(self.gone(index, format!("writing to it failed: {e}")).await);
        }
        Ok(())
    }

    async fn send_all(&mut self, cmd: &ToWorker) -> Result<(), LoadError> {
        for i in 0..self.children.len() {
            self.send(i, cmd).await?;
        }
        Ok(())
    }

    /// The error for a worker that went away, with its exit status.
    async fn gone(&mut self, index: usize, what: String) -> LoadError {
        let status =
            match tokio::time::timeout(Duration::from_secs(2), self.children[index].wait()).await {
                Ok(Ok(s)) => format!("; it exited with {s}"),
                _ => String::new(),
            };
        let pid = self.pids[index].map_or(String::new(), |p| format!(" (pid {p})"));
        LoadError::Worker {
            index,
            reason: format!(
                "{what}{pid}{status} before reporting; its messages are on stderr above"
            ),
        }
    }

    /// The next event, or an error when none comes by `deadline`.
    async fn next(
        &mut self,
        deadline: Instant,
        waiting_for: &str,
    ) -> Result<(usize, FromWorker), LoadError> {
        let ev = self.recv(deadline, waiting_for).await?;
        self.settle(ev).await
    }

    /// The next raw event. Cancel-safe: it only waits on the channel, so a
    /// `select!` may drop it without losing an event; [`Pool::settle`] must
    /// then run *outside* the `select!`. (Settling a `Gone` waits for the
    /// worker's exit status; inside a `select!` with a ticker, that wait was
    /// dropped and the `Gone` with it, and the run waited out its deadline.)
    async fn recv(
        &mut self,
        deadline: Instant,
        waiting_for: &str,
    ) -> Result<(usize, Event), LoadError> {
        match tokio::time::timeout_at(deadline, self.events.recv()).await {
            Err(_) => Err(LoadError::Worker {
                index: 0,
                reason: format!("the workers did not {waiting_for} in time"),
            }),
            // Every reader task holds a sender until its worker is gone,
            // and each says so first.
            Ok(None) => Err(LoadError::Worker {
                index: 0,
                reason: "all workers are gone".into(),
            }),
            Ok(Some(ev)) => Ok(ev),
        }
    }

    /// A worker's message, or the error a gone or failed worker means.
    async fn settle(&mut self, (i, ev): (usize, Event)) -> Result<(usize, FromWorker), LoadError> {
        match ev {
            Event::Gone(what) => Err(self.gone(i, what).await),
            Event::Msg(FromWorker::Failed { error }) => Err(LoadError::Worker {
                index: i,
                reason: error,
            }),
            Event::Msg(m) => Ok((i, m)),
        }
    }

    /// Phase 1 across the workers: each ramps its share up; returns the
    /// subscribers connected in all, and per room. Ctrl-C ends every
    /// worker's ramp-up.
    pub async fn ramp(
        &mut self,
        stop: &CancellationToken,
        hard: &CancellationToken,
        reporter: &mut Reporter,
    ) -> Result<(u64, Vec<u64>), LoadError> {
        reporter.report(Phase::Connecting, true);
        let n = self.children.len();
        let mut ready: Vec<Option<u64>> = vec![None; n];
        let mut by_room = Vec::new();
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        // Workers end their ramp-ups by their own clocks; this only guards
        // against one that hangs.
        let mut deadline: Option<Instant> = None;
        while ready.iter().any(Option::is_none) {
            tokio::select! {
                _ = stop.cancelled(), if !self.stopped => self.stop().await?,
                _ = hard.cancelled(), if !self.stopped => self.stop().await?,
                _ = ticker.tick() => reporter.report(Phase::Connecting, false),
                ev = self.recv(deadline.unwrap_or_else(far_future), "finish their ramp-up") => {
                    match self.settle(ev?).await? {
                        (i, FromWorker::Ready { connected, rooms }) => {
                            ready[i] = Some(connected);
                            crate::core::rooms::add(&mut by_room, &rooms);
                        }
                        (i, other) => return Err(unexpected(i, &other)),
                    }
                }
            }
            if self.stopped && deadline.is_none() {
                deadline = Some(Instant::now() + ANSWER_TIMEOUT);
            }
        }
        Ok((ready.into_iter().flatten().sum(), by_room))
    }

    async fn stop(&mut self) -> Result<(), LoadError> {
        self.stopped = true;
        self.send_all(&ToWorker::Stop).await
    }

    /// The workers' socket counters now, summed.
    pub async fn io(&mut self) -> Result<IoTotals, LoadError> {
        self.send_all(&ToWorker::Snapshot).await?;
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let mut answered = vec![false; self.children.len()];
        let mut sum = IoTotals::default();
        let mut cpu = Some(0.0);
        while answered.iter().any(|a| !a) {
            match self.next(deadline, "report their counters").await? {
                (i, FromWorker::Io(t)) if !answered[i] => {
                    answered[i] = true;
                    cpu = cpu.zip(t.cpu_s).map(|(a, b)| a + b);
                    let t = IoTotals::from(t);
                    sum.up += t.up;
                    sum.down += t.down;
                    sum.requests += t.requests;
                    sum.empty_polls += t.empty_polls;
                }
                (i, other) => return Err(unexpected(i, &other)),
            }
        }
        self.cpu_at_io = cpu;
        Ok(sum)
    }

    /// Passes on what the publishers resolved so far (see [`ToWorker::Acks`]).
    pub async fn send_acks(&mut self, acks: &Acks) -> Result<(), LoadError> {
        self.send_all(&ToWorker::Acks(acks.snapshot())).await
    }

    /// Phases 4 and 5 across the workers: each waits (at most `grace`) for
    /// its subscribers to have every accepted message, then settles and
    /// reports. Returns the longest wait.
    pub async fn finish(
        &mut self,
        published: &[RangeSet],
        complete: bool,
        grace: Duration,
        hard: &CancellationToken,
        reporter: &mut Reporter,
    ) -> Result<Duration, LoadError> {
        let cmd = ToWorker::Finish {
            published: published.to_vec(),
            complete: complete && !hard.is_cancelled(),
            grace_ms: if hard.is_cancelled() {
                0
            } else {
                grace.as_millis() as u64
            },
        };
        self.send_all(&cmd).await?;
        let deadline = Instant::now() + grace + JOIN_TIMEOUT + ANSWER_TIMEOUT;
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        while self.reports.iter().any(Option::is_none) {
            tokio::select! {
                _ = ticker.tick() => reporter.report(Phase::Grace, false),
                ev = self.recv(deadline, "report") => match self.settle(ev?).await? {
                    (i, FromWorker::Done(r)) if self.reports[i].is_none() => self.reports[i] = Some(*r),
                    (i, other) => return Err(unexpected(i, &other)),
                }
            }
        }
        let waited = self
            .reports
            .iter()
            .flatten()
            .map(|r| r.waited_us)
            .max()
            .unwrap_or(0);
        Ok(Duration::from_micros(waited))
    }

    /// Every worker's report merged; the workers are waited for. A run that
    /// never published (stopped while ramping up) still collects the
    /// workers' errors and counters.
    pub async fn merged(mut self) -> Result<Merged, LoadError> {
        if self.reports.iter().any(Option::is_none) {
            let mut quiet = Reporter::quiet(Arc::new(Live::default()));
            let hard = CancellationToken::new();
            self.finish(&[], false, Duration::ZERO, &hard, &mut quiet)
                .await?;
        }
        // Closing stdin tells each worker the run is over.
        self.stdins.iter_mut().for_each(|s| *s = None);
        for (i, child) in self.children.iter_mut().enumerate() {
            match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
                Ok(Ok(s)) if !s.success() => {
                    tracing::warn!(worker = i, status = %s, "worker exited unsuccessfully after reporting")
                }
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(
                        worker = i,
                        "worker did not exit after reporting; killing it"
                    );
                    let _ = child.kill().await;
                }
            }
        }
        let mut m = Merged {
            summary: TallySummary::default(),
            errors: BTreeMap::new(),
            histogram: new_histogram(),
            io: IoTotals::default(),
            cpu_s: None,
        };
        let mut cpu_end = Some(0.0);
        for (i, r) in self.reports.into_iter().enumerate() {
            let r = r.expect("every worker reported");
            m.summary.add(r.summary);
            for (k, n) in r.errors {
                *m.errors.entry(k).or_default() += n;
            }
            let h = decode_histogram(&r.histogram).map_err(|reason| LoadError::Worker {
                index: i,
                reason: format!("its latency histogram is unreadable: {reason}"),
            })?;
            m.histogram.add(&h).map_err(|e| LoadError::Worker {
                index: i,
                reason: format!("its latency histogram does not merge: {e:?}"),
            })?;
            cpu_end = cpu_end.zip(r.io.cpu_s).map(|(a, b)| a + b);
            let io = IoTotals::from(r.io);
            m.io.up += io.up;
            m.io.down += io.down;
            m.io.requests += io.requests;
            m.io.empty_polls += io.empty_polls;
        }
        m.cpu_s = cpu_end
            .zip(self.cpu_at_io)
            .map(|(end, start)| (end - start).max(0.0));
        Ok(m)
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

fn unexpected(index: usize, m: &FromWorker) -> LoadError {
    LoadError::Worker {
        index,
        reason: format!("unexpected message {m:?}"),
    }
}

/// Reads one worker's stdout: progress goes into the parent's live totals,
/// everything else to the pool. A worker that goes away stops the run
/// (`stop`), so the parent reaches its next exchange with the workers at
/// once and reports the loss instead of publishing on.
async fn read_events(
    index: usize,
    stdout: tokio::process::ChildStdout,
    tx: mpsc::UnboundedSender<(usize, Event)>,
    live: Arc<Live>,
    stop: CancellationToken,
) {
    let mut lines = BufReader::new(stdout).lines();
    let (mut ready, mut delivered, mut errors) = (0u64, 0u64, 0u64);
    let mut last = RemoteLast::default();
    let gone = loop {
        match lines.next_line().await {
            Ok(Some(line)) => match serde_json::from_str::<FromWorker>(&line) {
                Ok(FromWorker::Progress {
                    ready: r,
                    delivered: d,
                    errors: e,
                    io,
                    latency,
                    error_kinds,
                }) => {
                    last.add_to(&live, io, latency, error_kinds);
                    live.ready.fetch_add(r.saturating_sub(ready), Relaxed);
                    live.delivered
                        .fetch_add(d.saturating_sub(delivered), Relaxed);
                    live.errors.fetch_add(e.saturating_sub(errors), Relaxed);
                    (ready, delivered, errors) = (r.max(ready), d.max(delivered), e.max(errors));
                }
                Ok(m) => {
                    if tx.send((index, Event::Msg(m))).is_err() {
                        return;
                    }
                }
                Err(e) => break format!("it wrote an unreadable line ({e}): {line:.200}"),
            },
            Ok(None) => break "its output ended".to_owned(),
            Err(e) => break format!("reading its output failed: {e}"),
        }
    };
    stop.cancel();
    let _ = tx.send((index, Event::Gone(gone)));
}

/// What one worker reported last for the parent's `/metrics`: its next
/// report adds only the difference to the parent's live sums.
#[derive(Default)]
struct RemoteLast {
    io: IoWire,
    latency: LatencySnapshot,
    error_kinds: BTreeMap<String, u64>,
}

impl RemoteLast {
    fn add_to(
        &mut self,
        live: &Live,
        io: Option<IoWire>,
        latency: LatencySnapshot,
        error_kinds: BTreeMap<String, u64>,
    ) {
        if let Some(io) = io {
            let r = &live.remote_io;
            r.up.fetch_add(io.up.saturating_sub(self.io.up), Relaxed);
            r.down
                .fetch_add(io.down.saturating_sub(self.io.down), Relaxed);
            r.requests
                .fetch_add(io.requests.saturating_sub(self.io.requests), Relaxed);
            self.io = io;
        }
        live.latency.add(&latency.minus(&self.latency));
        self.latency = latency;
        for (kind, n) in error_kinds {
            let before = self.error_kinds.get(&kind).copied().unwrap_or(0);
            if n > before {
                live.error_kinds.add(&kind, n - before);
            }
            self.error_kinds.insert(kind, n);
        }
    }
}

// The pool's tests reach its private parts (the event channel, shares).
#[cfg(test)]
#[path = "tests.rs"]
mod tests;
