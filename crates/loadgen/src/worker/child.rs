//! A worker process's side (`pushpoll load --worker`): it holds its share
//! of the subscribers and answers the parent's commands.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use super::protocol::{FromWorker, ToWorker, WorkerReport};
use super::{ANSWER_TIMEOUT, GRACE_POLL, JOIN_TIMEOUT, PROGRESS_EVERY};
use crate::config::opts::LoadOpts;
use crate::config::plan::Plan;
use crate::core::error::{ErrorCounts, Kind, LoadError};
use crate::core::merge::encode_histogram;
use crate::core::progress::{Live, Reporter};
use crate::core::schedule::Clock;
use crate::core::tally::{RangeSet, TallySummary};
use crate::net::count::{IoTotals, SubIo};
use crate::roles::ramp::{ramp, ready_ids};
use crate::roles::subscribe::Env;

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
    let sockets: Arc<OnceLock<Vec<Arc<SubIo>>>> = Arc::default();
    let progress = {
        let (live, out, sockets) = (live.clone(), out.clone(), sockets.clone());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(PROGRESS_EVERY);
            loop {
                ticker.tick().await;
                if out.send(progress_now(&live, sockets.get())).is_err() {
                    break;
                }
            }
        })
    };

    let (ios, handles) = ramp(&env, &stop, &mut Reporter::quiet(live.clone())).await;
    env.ramp_over.cancel();
    let _ = sockets.set(ios.clone());
    let ready = ready_ids(&ios, &env.plan);
    let connected = ready.len() as u64;
    let rooms = crate::core::rooms::connected_by_room(ready.into_iter(), env.plan.rooms);
    let _ = out.send(FromWorker::Ready { connected, rooms });

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
        let _ = out.send(progress_now(&live, Some(&ios)));
        let _ = out.send(FromWorker::Done(Box::new(r)));
        // Wait for the parent to close stdin (it has everything it needs).
        let _ = tokio::time::timeout(ANSWER_TIMEOUT, orphaned.cancelled()).await;
    }
    reader.abort();
    Ok(())
}

/// The live totals the parent sums: for its progress view, and for its
/// `/metrics` (socket counters once the ramp-up is over and `ios` is known).
fn progress_now(live: &Live, ios: Option<&Vec<Arc<SubIo>>>) -> FromWorker {
    FromWorker::Progress {
        ready: live.ready.load(Relaxed),
        delivered: live.delivered.load(Relaxed),
        errors: live.errors.load(Relaxed),
        io: ios.map(|ios| IoTotals::sum_counters(ios).into()),
        latency: live.latency.snapshot(),
        error_kinds: live.error_kinds.snapshot(),
    }
}

/// Waits for this worker's subscribers to have everything (at most
/// `grace_ms`), stops them and settles their tallies against `published`.
#[allow(clippy::too_many_arguments)]
async fn settle(
    env: &Arc<Env>,
    ios: &[Arc<SubIo>],
    handles: Vec<tokio::task::JoinHandle<crate::roles::subscribe::SubReport>>,
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
