//! Phase 1 of a run, the ramp-up: subscribers connect, paced and bounded,
//! until each is ready or gave up. A worker process runs the same ramp for
//! its share, so it lives below both the run and the workers.

use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::core::progress::{Phase, Reporter, PROGRESS_EVERY};
use crate::core::schedule;
use crate::net::count::SubIo;
use crate::roles::subscribe::{self, Env, Sub, SubReport};

/// Phase 1: spawn the subscribers and wait until each is ready or gave up.
pub(crate) async fn ramp(
    env: &Arc<Env>,
    stop: &CancellationToken,
    reporter: &mut Reporter,
) -> (Vec<Arc<SubIo>>, Vec<JoinHandle<SubReport>>) {
    let plan = &env.plan;
    let n = plan.subscribers;
    let slots = Arc::new(Semaphore::new(plan.connect_concurrency));
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let start = Instant::now();
    let deadline = start + plan.ramp_timeout;
    let mut ios = Vec::with_capacity(n);
    let mut handles = Vec::with_capacity(n);
    reporter.report(Phase::Connecting, true);
    for i in 0..n {
        if let Some(rate) = plan.ramp {
            let at = start + schedule::offset(i as u64, rate);
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = sleep_until(deadline) => break,
                _ = sleep_until(at) => {}
            }
        }
        let permit = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = sleep_until(deadline) => break,
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let io = Arc::new(SubIo::with_source(crate::net::source_ip::pick(
            &plan.source_ips,
            i,
        )));
        let sub = Sub::new(i, env.clone(), io.clone(), permit, tx.clone());
        handles.push(tokio::spawn(subscribe::run(sub)));
        ios.push(io);
        reporter.report(Phase::Connecting, false);
    }
    drop(tx);
    // HTTP/2 subscribers' bytes are counted per shared connection: its
    // counters join the sums (never ready, they count no subscriber).
    if let Some(h2) = &env.h2 {
        ios.extend(h2.ios().cloned());
    }
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    let mut settled = 0;
    while settled < handles.len() {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = sleep_until(deadline) => break,
            r = rx.recv() => match r {
                Some(()) => settled += 1,
                None => break,
            },
            _ = ticker.tick() => reporter.report(Phase::Connecting, false),
        }
    }
    (ios, handles)
}

/// Ends the ramp-up for every subscriber (whoever is not ready now is
/// excluded for good) and returns the run-wide `{id}`s of those that are
/// ready: they take part, and their rooms expect messages.
pub(crate) fn ready_ids(ios: &[Arc<SubIo>], plan: &crate::config::plan::Plan) -> Vec<usize> {
    ios.iter()
        .enumerate()
        .filter(|(_, io)| {
            !io.settle(crate::net::count::SubState::Excluded)
                && io.state() == crate::net::count::SubState::Ready
        })
        .map(|(i, _)| plan.sub_vars(i).id)
        .collect()
}
