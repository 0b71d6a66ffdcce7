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

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::count::{IoTotals, SubIo, SubState};
use crate::error::{ErrorCounts, Kind, LoadError};
use crate::merge::{decode_histogram, encode_histogram, new_histogram};
use crate::opts::{LoadOpts, Pattern};
use crate::plan::Plan;
use crate::run::{ramp, Reporter};
use crate::schedule::Clock;
use crate::subscribe::{Env, Live};
use crate::tally::{AckSnapshot, Acks, RangeSet, TallySummary};
use crate::{Hooks, Phase};

/// Most worker processes one run may start.
pub const MAX_WORKERS: usize = 64;
/// How often a worker reports its live totals.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// How often a worker checks whether its subscribers have everything.
const GRACE_POLL: Duration = Duration::from_millis(5);
/// How long stopped subscriber tasks get to hand back their reports.
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a worker may take to answer a command (beyond the grace period).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Worker processes a run needs (0: this process holds the subscribers).
pub(crate) fn count(o: &LoadOpts) -> Result<usize, LoadError> {
    let per = o.subscribers_per_worker;
    if per == 0 {
        return Err(LoadError::InvalidOption {
            option: "subscribers-per-worker",
            reason: "must be at least 1".into(),
        });
    }
    if o.worker || o.subscribers <= per {
        return Ok(0);
    }
    let n = o.subscribers.div_ceil(per);
    if n > MAX_WORKERS {
        return Err(LoadError::InvalidOption {
            option: "subscribers-per-worker",
            reason: format!(
                "{} subscribers at {per} per process need {n} worker processes; at most {MAX_WORKERS}: raise it (or run several machines, see deploy/)",
                o.subscribers
            ),
        });
    }
    if o.pattern == Pattern::Echo {
        return Err(LoadError::InvalidOption {
            option: "subscribers-per-worker",
            reason: format!(
                "echo runs are not split over worker processes; use at most {per} subscribers or raise it"
            ),
        });
    }
    Ok(n)
}

/// Parent → worker.
#[derive(Debug, Serialize, Deserialize)]
enum ToWorker {
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
struct IoWire {
    up: u64,
    down: u64,
    requests: u64,
    empty_polls: u64,
    /// The worker process's CPU time when the counters were read, seconds.
    #[serde(default)]
    cpu_s: Option<f64>,
}

impl From<IoTotals> for IoWire {
    fn from(t: IoTotals) -> Self {
        IoWire {
            up: t.up,
            down: t.down,
            requests: t.requests,
            empty_polls: t.empty_polls,
            cpu_s: crate::tcp_info::process_cpu_s(),
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
struct WorkerReport {
    /// From `Finish` until its subscribers had everything (or grace ran out), µs.
    waited_us: u64,
    summary: TallySummary,
    errors: BTreeMap<String, u64>,
    /// HdrHistogram V2 + DEFLATE, base64.
    histogram: String,
    io: IoWire,
}

/// Worker → parent.
#[derive(Debug, Serialize, Deserialize)]
enum FromWorker {
    Progress {
        ready: u64,
        delivered: u64,
        errors: u64,
    },
    Ready {
        connected: u64,
    },
    Io(IoWire),
    Done(Box<WorkerReport>),
    /// The worker could not start its share (bad options, unresolvable URL).
    Failed {
        error: String,
    },
}

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
    w.run_id = Some(run_id);
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
    /// subscribers connected in all. Ctrl-C ends every worker's ramp-up.
    pub async fn ramp(
        &mut self,
        stop: &CancellationToken,
        hard: &CancellationToken,
        reporter: &mut Reporter,
    ) -> Result<u64, LoadError> {
        reporter.report(Phase::Connecting, true);
        let n = self.children.len();
        let mut ready: Vec<Option<u64>> = vec![None; n];
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
                        (i, FromWorker::Ready { connected }) => ready[i] = Some(connected),
                        (i, other) => return Err(unexpected(i, &other)),
                    }
                }
            }
            if self.stopped && deadline.is_none() {
                deadline = Some(Instant::now() + ANSWER_TIMEOUT);
            }
        }
        Ok(ready.into_iter().flatten().sum())
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
    let gone = loop {
        match lines.next_line().await {
            Ok(Some(line)) => match serde_json::from_str::<FromWorker>(&line) {
                Ok(FromWorker::Progress {
                    ready: r,
                    delivered: d,
                    errors: e,
                }) => {
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

/// Runs this process as a worker (`pushpoll load --worker`): reads its share
/// of a run on stdin, holds those subscribers, and reports on stdout until
/// the parent says the run is over or goes away. Ctrl-C and SIGTERM are
/// ignored: the parent, which gets them too, ends the run in order.
pub async fn serve_worker() -> Result<(), LoadError> {
    ignore_interrupts();
    let (out, out_rx) = mpsc::unbounded_channel::<FromWorker>();
    let writer = tokio::spawn(write_lines(out_rx));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let result = match lines.next_line().await {
        Ok(Some(line)) => match serde_json::from_str::<ToWorker>(&line) {
            Ok(ToWorker::Start { opts, run_id }) => work(*opts, run_id, lines, &out).await,
            Ok(_) | Err(_) => Err(worker_error(
                "the first line on stdin is not a Start command",
            )),
        },
        _ => Err(worker_error(
            "stdin ended before a Start command (run `pushpoll load` without --worker)",
        )),
    };
    if let Err(e) = &result {
        let _ = out.send(FromWorker::Failed {
            error: e.to_string(),
        });
    }
    drop(out);
    let _ = writer.await;
    result
}

fn worker_error(reason: &str) -> LoadError {
    LoadError::InvalidOption {
        option: "worker",
        reason: reason.into(),
    }
}

fn ignore_interrupts() {
    tokio::spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            tracing::debug!("worker: Ctrl-C ignored; the parent ends the run");
        }
    });
    #[cfg(unix)]
    tokio::spawn(async {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            while term.recv().await.is_some() {}
        }
    });
}

async fn write_lines(mut rx: mpsc::UnboundedReceiver<FromWorker>) {
    let mut stdout = tokio::io::stdout();
    while let Some(m) = rx.recv().await {
        let mut line = serde_json::to_string(&m).expect("reports serialise");
        line.push('\n');
        if stdout.write_all(line.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
            return;
        }
    }
}

/// A worker's run: ramp up, answer snapshots, settle and report on `Finish`.
async fn work(
    opts: LoadOpts,
    run_id: u32,
    mut lines: tokio::io::Lines<BufReader<tokio::io::Stdin>>,
    out: &mpsc::UnboundedSender<FromWorker>,
) -> Result<(), LoadError> {
    let plan = Plan::new(&opts)?;
    let addr = plan.sub.resolve().await?;
    let live = Arc::new(Live::default());
    let stop = CancellationToken::new();
    let env = Arc::new(Env::new(
        plan,
        addr,
        run_id,
        Clock::new(),
        live.clone(),
        stop.clone(),
    ));

    // Commands arrive while the ramp-up runs; `Stop` and a closed stdin
    // (the parent is gone) end it.
    let orphaned = CancellationToken::new();
    let (cmd_tx, mut commands) = mpsc::unbounded_channel::<ToWorker>();
    let reader = {
        let (stop, orphaned) = (stop.clone(), orphaned.clone());
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<ToWorker>(&line) {
                    Ok(ToWorker::Stop) => stop.cancel(),
                    Ok(cmd) => {
                        if cmd_tx.send(cmd).is_err() {
                            break;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "worker: unreadable command ignored"),
                }
            }
            stop.cancel();
            orphaned.cancel();
        })
    };
    let progress = {
        let (live, out) = (live.clone(), out.clone());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(PROGRESS_EVERY);
            loop {
                ticker.tick().await;
                let p = FromWorker::Progress {
                    ready: live.ready.load(Relaxed),
                    delivered: live.delivered.load(Relaxed),
                    errors: live.errors.load(Relaxed),
                };
                if out.send(p).is_err() {
                    break;
                }
            }
        })
    };

    let (ios, handles) = ramp(&env, &stop, &mut Reporter::quiet(live.clone())).await;
    env.ramp_over.cancel();
    let connected = ios
        .iter()
        .filter(|io| !io.settle(SubState::Excluded) && io.state() == SubState::Ready)
        .count() as u64;
    let _ = out.send(FromWorker::Ready { connected });

    let report = loop {
        let cmd = tokio::select! {
            c = commands.recv() => c,
            _ = orphaned.cancelled() => None,
        };
        match cmd {
            Some(ToWorker::Snapshot) => {
                let _ = out.send(FromWorker::Io(IoTotals::sum(&ios).into()));
            }
            Some(ToWorker::Finish {
                published,
                complete,
                grace_ms,
            }) => {
                break Some(
                    settle(
                        &env, &ios, handles, connected, &published, complete, grace_ms, &orphaned,
                    )
                    .await,
                );
            }
            Some(ToWorker::Acks(snapshot)) => env.acks.apply(&snapshot),
            Some(ToWorker::Start { .. } | ToWorker::Stop) => {}
            None => {
                // The parent is gone: stop everything, report nothing.
                env.cancel.cancel();
                for h in &handles {
                    h.abort();
                }
                break None;
            }
        }
    };
    progress.abort();
    if let Some(r) = report {
        // The last live totals first, so the parent's progress view ends exact.
        let _ = out.send(FromWorker::Progress {
            ready: live.ready.load(Relaxed),
            delivered: live.delivered.load(Relaxed),
            errors: live.errors.load(Relaxed),
        });
        let _ = out.send(FromWorker::Done(Box::new(r)));
        // Wait for the parent to close stdin (it has everything it needs).
        let _ = tokio::time::timeout(ANSWER_TIMEOUT, orphaned.cancelled()).await;
    }
    reader.abort();
    Ok(())
}

/// Waits for this worker's subscribers to have everything (at most
/// `grace_ms`), stops them and settles their tallies against `published`.
#[allow(clippy::too_many_arguments)]
async fn settle(
    env: &Arc<Env>,
    ios: &[Arc<SubIo>],
    handles: Vec<tokio::task::JoinHandle<crate::subscribe::SubReport>>,
    connected: u64,
    published: &[RangeSet],
    complete: bool,
    grace_ms: u64,
    orphaned: &CancellationToken,
) -> WorkerReport {
    let t = Instant::now();
    let per_subscriber: u64 = published.iter().map(RangeSet::len).sum();
    let want = if complete {
        connected * per_subscriber
    } else {
        u64::MAX
    };
    let grace_end = t + Duration::from_millis(grace_ms);
    while env.live.delivered.load(Relaxed) < want {
        tokio::select! {
            biased;
            _ = orphaned.cancelled() => break,
            _ = sleep_until(grace_end) => break,
            _ = tokio::time::sleep(GRACE_POLL) => {}
        }
    }
    let waited = t.elapsed();
    env.accepting.store(false, Relaxed);
    env.cancel.cancel();
    let join_deadline = Instant::now() + JOIN_TIMEOUT;
    let mut summary = TallySummary::default();
    let mut errors = BTreeMap::new();
    let mut run_errors = ErrorCounts::default();
    for mut h in handles {
        match tokio::time::timeout_at(join_deadline, &mut h).await {
            Ok(Ok(rep)) => {
                summary.add(rep.tally.finish(published, &env.shards));
                rep.errors.merge_into(&mut errors);
            }
            Ok(Err(_)) => run_errors.add(Kind::Borrowed("internal")),
            Err(_) => {
                h.abort();
                run_errors.add(Kind::Borrowed("subscriber_stuck"));
            }
        }
    }
    run_errors.merge_into(&mut errors);
    WorkerReport {
        waited_us: waited.as_micros() as u64,
        summary,
        errors,
        histogram: encode_histogram(&env.shards.merged()),
        io: IoTotals::sum(ios).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn opts(args: &[&str]) -> LoadOpts {
        LoadOpts::try_parse_from(["load", "--url", "ws://127.0.0.1:1/ws"].iter().chain(args))
            .unwrap()
    }

    #[test]
    fn shares_add_up() {
        assert_eq!(shares(10, 3), vec![4, 3, 3]);
        assert_eq!(shares(19_000, 2).iter().sum::<usize>(), 19_000);
    }

    #[test]
    fn worker_count_and_limits() {
        assert_eq!(count(&opts(&["--subscribers", "100"])).unwrap(), 0);
        let o = opts(&["--subscribers", "19000", "--subscribers-per-worker", "9500"]);
        assert_eq!(count(&o).unwrap(), 2);
        let o = opts(&["--subscribers", "19001", "--subscribers-per-worker", "9500"]);
        assert_eq!(count(&o).unwrap(), 3);
        let e = count(&opts(&[
            "--subscribers",
            "1000",
            "--subscribers-per-worker",
            "10",
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("--subscribers-per-worker") && e.contains("at most 64"),
            "{e}"
        );
        let e = count(&opts(&["--subscribers-per-worker", "0"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 1"), "{e}");
        let e = count(&opts(&[
            "--subscribers",
            "20",
            "--subscribers-per-worker",
            "10",
            "--pattern",
            "echo",
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("echo"), "{e}");
    }

    /// A pool over one stand-in worker (`sleep`, which outlives the test's
    /// clock) whose reader has already said it is gone; the sender stays
    /// open, as read_events keeps it until after its Gone.
    #[cfg(unix)]
    fn pool_with_a_gone_worker() -> (Pool, mpsc::UnboundedSender<(usize, Event)>) {
        let child = tokio::process::Command::new("sleep")
            .arg("600")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let (tx, events) = mpsc::unbounded_channel();
        tx.send((0, Event::Gone("its output ended".into())))
            .unwrap();
        let pool = Pool {
            pids: vec![child.id()],
            children: vec![child],
            stdins: vec![None],
            events,
            reports: vec![None],
            stopped: false,
            cpu_at_io: None,
        };
        (pool, tx)
    }

    /// A worker's Gone reaches the error even while the progress ticker
    /// fires: settling it waits (here 2 s, the worker never exits) for an
    /// exit status, and a `select!` that dropped that wait for a tick used
    /// to drop the Gone too, so the run waited out its 35 s deadline and
    /// reported "did not report in time" without naming the worker.
    #[cfg(unix)]
    #[tokio::test(start_paused = true)]
    async fn a_gone_worker_survives_the_progress_ticker() {
        let live = Arc::new(Live::default());
        let hard = CancellationToken::new();
        let (mut pool, _tx) = pool_with_a_gone_worker();
        let e = pool
            .finish(
                &[],
                true,
                Duration::from_secs(1),
                &hard,
                &mut Reporter::quiet(live.clone()),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("its output ended") && e.contains("(pid "), "{e}");

        let (mut pool, _tx) = pool_with_a_gone_worker();
        let stop = CancellationToken::new();
        let e = pool
            .ramp(&stop, &hard, &mut Reporter::quiet(live))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("its output ended") && e.contains("(pid "), "{e}");
    }

    #[test]
    fn worker_options_carry_the_share() {
        let o = opts(&[
            "--subscribers",
            "10",
            "--ramp",
            "100",
            "--source-ips",
            "127.0.0.2,127.0.0.3,127.0.0.4",
            "--json",
            "x.json",
        ]);
        let w = worker_opts(&o, 4, 4, 0xabc);
        assert_eq!(w.subscribers, 4);
        assert_eq!(w.ramp, Some(40.0));
        assert!(w.worker && w.json.is_none());
        assert_eq!(w.run_id, Some(0xabc));
        // Subscriber 4 of the run binds to 127.0.0.3 (4 mod 3 = 1).
        assert_eq!(w.source_ips[0].to_string(), "127.0.0.3");
        // The share survives the trip through JSON.
        let back: LoadOpts = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        assert_eq!(back.subscribers, 4);
        assert_eq!(back.source_ips, w.source_ips);
    }
}
