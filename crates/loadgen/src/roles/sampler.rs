//! The timeline's sampler: once a second, on the Unix second, it reads the
//! live totals (connected subscribers, errors) and sums the subscribers'
//! socket counters, and puts the difference since the last reading into
//! the second that just ended. Subscribers thus pay nothing per byte or
//! request beyond their own counters. It also moves finished seconds of
//! deliveries out of the latency shards, so that one timeline holds them.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;

use crate::core::timeline::Timeline;
use crate::roles::subscribe::Env;

#[derive(Debug, Clone, Copy, Default)]
struct Reading {
    requests: u64,
    up: u64,
    down: u64,
    errors: u64,
}

fn read(env: &Env) -> Reading {
    let mut r = Reading {
        errors: env.live.errors.load(Relaxed),
        ..Reading::default()
    };
    for io in env.ios.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        r.requests += io.requests.load(Relaxed);
        r.up += io.up.load(Relaxed);
        r.down += io.down.load(Relaxed);
    }
    r
}

/// Adds what happened since `last` to the second holding `at_us` (Unix µs).
fn put(env: &Env, tl: &mut Timeline, last: &mut Reading, at_us: u64) {
    let now = read(env);
    let s = tl.at(at_us / 1_000_000);
    s.requests += now.requests.saturating_sub(last.requests);
    s.bytes_up += now.up.saturating_sub(last.up);
    s.bytes_down += now.down.saturating_sub(last.down);
    s.errors += now.errors.saturating_sub(last.errors);
    s.connected = env.live.connected.load(Relaxed);
    *last = now;
    // Deliveries of the seconds before this one: out of the shards, into
    // this timeline (a late batch for an older second is added next time).
    tl.merge(&env.shards.take_timeline_before(at_us / 1_000_000));
}

/// Samples until `stop`, then takes a last reading for the partial second
/// and returns the seconds.
pub(crate) fn spawn(env: Arc<Env>, stop: CancellationToken) -> JoinHandle<Timeline> {
    tokio::spawn(async move {
        let mut tl = Timeline::default();
        let mut last = Reading::default();
        loop {
            let now_us = env.clock.now_us();
            let next_us = (now_us / 1_000_000 + 1) * 1_000_000;
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = sleep_until(env.clock.instant_at(next_us)) => {}
            }
            // Just before the boundary's Unix second: the one that ended.
            put(&env, &mut tl, &mut last, next_us - 1);
        }
        put(&env, &mut tl, &mut last, env.clock.now_us());
        tl
    })
}
